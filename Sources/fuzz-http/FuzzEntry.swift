// libFuzzer target for HTTPRequestParser. Build and run with scripts/fuzz-http.sh.
//
// Invariants checked on every input, besides "does not crash":
//   - feeding the input in two pieces (split where the first byte says) or byte by byte gives exactly the events
//     of feeding it whole, so incremental parsing cannot change what a request means;
//   - no request body exceeds the body limit, and nothing follows a failure;
//   - bodies of `/spool` (a spooling route) come out as parts between `.spoolBody` and `.request`, within the limit,
//     and the request itself then has an empty body. (Parts are joined before comparing feeds: how a body is
//     split into parts depends on how it arrived.)
// Inputs whose first byte is odd (`-` is) are also parsed as multipart/form-data bodies, with the fixed boundary
// "b" and with the boundary taken from the input's first line (`--X` gives X), and that line is also fed to
// Multipart.boundary(fromContentType:). Checked there:
//   - the part-count and part-size limits hold, and a parse within the limits equals the unlimited parse;
//   - names and file names hold no control characters but tab;
//   - parts written out again with a fresh boundary parse back to the same names, file names, types and bodies;
//   - a boundary accepted from a Content-Type is valid and survives being quoted into a Content-Type again.
#if FUZZING
import Foundation
import SequentHTTP

/// Small limits so the fuzzer reaches every limit check quickly; PUT takes no body, so 413 is reachable.
private let limits = HTTPLimits(maxRequestLineBytes: 256, maxHeaderBytes: 512, maxHeaderCount: 8, maxBodyBytes: 64,
                                maxChunkLineBytes: 32)

private func bodyLimit(method: String, path: String) -> Int {
    method == "PUT" ? 0 : (path == "/big" ? 128 : 64)
}

private let spoolDirectory = URL(fileURLWithPath: "/spool")

private func bodyPolicy(method: String, path: String) -> HTTPBodyPolicy {
    HTTPBodyPolicy(limit: bodyLimit(method: method, path: path), spoolDirectory: path == "/spool" ? spoolDirectory : nil)
}

private func parse(_ pieces: [ArraySlice<UInt8>]) -> [HTTPRequestParser.Event] {
    var parser = HTTPRequestParser(limits: limits, bodyPolicy: bodyPolicy)
    var events: [HTTPRequestParser.Event] = []
    for piece in pieces {
        // Parts are views of the parser's buffer, valid until the next feed: copy them, as a server writes them.
        for event in parser.feed(piece) {
            if case .bodyPart(let part) = event, case .bodyPart(let sofar)? = events.last {
                events[events.count - 1] = .bodyPart(sofar + part)
            } else if case .bodyPart(let part) = event {
                events.append(.bodyPart(ArraySlice(Array(part))))
            } else {
                events.append(event)
            }
        }
    }
    return events
}

private func check(_ events: [HTTPRequestParser.Event]) {
    var spooling = false
    var spooled = 0
    for (i, event) in events.enumerated() {
        switch event {
        case .request(let request):
            precondition(request.body.count <= bodyLimit(method: request.method, path: request.path),
                         "body larger than its limit")
            precondition(!spooling || request.body.isEmpty, "spooled request with a body")
            precondition(spooled <= bodyLimit(method: request.method, path: request.path), "spooled beyond the limit")
            precondition(spooling == (request.path == "/spool" && (request.headers.contains("Content-Length")
                || request.headers.contains("Transfer-Encoding"))), "spooling on the wrong request")
            spooling = false
            spooled = 0
        case .spoolBody(let directory):
            precondition(!spooling && directory == spoolDirectory, "unexpected spoolBody")
            spooling = true
        case .bodyPart(let part):
            precondition(spooling && !part.isEmpty, "body part outside a spooled request")
            spooled += part.count
        case .failure(let error):
            precondition(i == events.count - 1, "event after a failure")
            precondition([400, 413, 414, 417, 431, 501, 505].contains(error.status), "unexpected status \(error)")
        case .continueExpected:
            break
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let whole = parse([bytes[...]])
    check(whole)
    if let first = bytes.first {
        let split = Int(first) * bytes.count / 256
        precondition(parse([bytes[..<split], bytes[split...]]) == whole, "split feeding changed the events")
    }
    if bytes.count <= 512 {
        precondition(parse(bytes.indices.map { bytes[$0...$0] }) == whole, "byte-at-a-time feeding changed the events")
    }
    if let first = bytes.first, first & 1 == 1 { fuzzMultipart(bytes) }
    return 0
}

// MARK: - Multipart

/// Small limits so the fuzzer reaches them.
private let maxParts = 4
private let maxPartBytes = 40

private func fuzzMultipart(_ bytes: [UInt8]) {
    let firstLine = bytes.prefix { $0 != 13 && $0 != 10 }
    checkContentType(String(decoding: firstLine, as: UTF8.self))
    checkMultipart(bytes, boundary: "b")
    if firstLine.starts(with: [45, 45]) {
        let boundary = firstLine.dropFirst(2).prefix { $0 != 32 && $0 != 9 }
        checkMultipart(bytes, boundary: String(decoding: boundary, as: UTF8.self))
    }
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    (scalar.value < 0x20 && scalar != "\t") || scalar.value == 0x7F
}

private func checkContentType(_ contentType: String) {
    guard let boundary = try? Multipart.boundary(fromContentType: contentType) else { return }
    let utf8 = Array(boundary.utf8)
    precondition(!utf8.isEmpty && utf8.count <= 70 && utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } && utf8.last != 32,
                 "invalid boundary accepted")
    let quoted = "\"" + boundary.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"") + "\""
    precondition((try? Multipart.boundary(fromContentType: "Multipart/Form-Data; BOUNDARY=\(quoted)")) == boundary,
                 "re-quoted boundary changed")
}

private func checkMultipart(_ bytes: [UInt8], boundary: String) {
    let limited = try? Multipart.parse(bytes, boundary: boundary, maxParts: maxParts, maxPartBytes: maxPartBytes)
    let unlimited = try? Multipart.parse(bytes, boundary: boundary, maxParts: .max)
    guard let limited else { return }
    precondition(limited == unlimited, "limits changed a parse that is within them")
    precondition(limited.count <= maxParts, "more parts than the limit")
    precondition(limited.allSatisfy { $0.body.count <= maxPartBytes }, "part larger than the limit")
    precondition(limited.reduce(0) { $0 + $1.body.count } <= bytes.count, "parts larger than the input")
    for part in limited {
        for text in [part.name, part.filename].compactMap({ $0 }) {
            precondition(!text.unicodeScalars.contains(where: isControl), "control character in a name")
        }
    }
    // Round trip with a boundary no body contains (for inputs small enough that the escaped names cannot
    // outgrow the part header limit).
    guard bytes.count <= 4096 else { return }
    var fresh = "rt"
    while limited.contains(where: { containsDelimiter($0.body, boundary: fresh) }) { fresh += "x" }
    let again = try? Multipart.parse(serialize(limited, boundary: fresh), boundary: fresh, maxParts: .max)
    precondition(again?.map(\.name) == limited.map(\.name) && again?.map(\.filename) == limited.map(\.filename)
                 && again?.map(\.contentType) == limited.map(\.contentType) && again?.map(\.body) == limited.map(\.body),
                 "re-serialised parts parsed differently")
}

/// Whether `CRLF--boundary` occurs in the body or at its start (after the CRLF ending the part's headers).
private func containsDelimiter(_ body: [UInt8], boundary: String) -> Bool {
    let needle: [UInt8] = [13, 10, 45, 45] + Array(boundary.utf8)
    let framed: [UInt8] = [13, 10] + body
    guard framed.count >= needle.count else { return false }
    return (0...(framed.count - needle.count)).contains { framed[$0] == 13 && framed[$0...].starts(with: needle) }
}

private func serialize(_ parts: [MultipartPart], boundary: String) -> [UInt8] {
    func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\"") + "\""
    }
    var out: [UInt8] = []
    for part in parts {
        var head = "--\(boundary)\r\nContent-Disposition: form-data"
        if let name = part.name { head += "; name=\(quoted(name))" }
        if let filename = part.filename { head += "; filename=\(quoted(filename))" }
        head += "\r\n"
        if let contentType = part.contentType { head += "Content-Type: \(contentType)\r\n" }
        out += Array((head + "\r\n").utf8) + part.body + [13, 10]
    }
    return out + Array("--\(boundary)--\r\n".utf8)
}

private extension String {
    /// Replaces a scalar (not a Character: `"` followed by a combining mark is one Character but still a quote).
    func replacingOccurrences(_ target: Unicode.Scalar, _ replacement: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar == target { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}

// SwiftPM links Linux executables with `--defsym main=<target>_main` (the target name with `-` turned into `_`);
// with -parse-as-library nothing defines that symbol, so provide it and hand over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
) -> CInt

@_cdecl("fuzz_http_main")
public func fuzzHTTPMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc, v = argv
    return LLVMFuzzerRunDriver(&c, &v, fuzzOne)
}
#else
// Plain `swift build` / `swift test`: no libFuzzer is linked and the compiler-generated (empty) main is used.
#endif
