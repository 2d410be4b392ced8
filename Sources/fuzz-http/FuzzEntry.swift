// libFuzzer target for HTTPRequestParser. Build and run with scripts/fuzz-http.sh.
//
// Invariants checked on every input, besides "does not crash":
//   - feeding the input in two pieces (split where the first byte says) or byte by byte gives exactly the events
//     of feeding it whole, so incremental parsing cannot change what a request means;
//   - no request body exceeds the body limit, and nothing follows a failure.
#if FUZZING
import SequentHTTP

/// Small limits so the fuzzer reaches every limit check quickly; PUT takes no body, so 413 is reachable.
private let limits = HTTPLimits(maxRequestLineBytes: 256, maxHeaderBytes: 512, maxHeaderCount: 8, maxBodyBytes: 64,
                                maxChunkLineBytes: 32)

private func bodyLimit(method: String, path: String) -> Int {
    method == "PUT" ? 0 : (path == "/big" ? 128 : 64)
}

private func parse(_ pieces: [ArraySlice<UInt8>]) -> [HTTPRequestParser.Event] {
    var parser = HTTPRequestParser(limits: limits, bodyLimit: bodyLimit)
    var events: [HTTPRequestParser.Event] = []
    for piece in pieces { events += parser.feed(piece) }
    return events
}

private func check(_ events: [HTTPRequestParser.Event]) {
    for (i, event) in events.enumerated() {
        switch event {
        case .request(let request):
            precondition(request.body.count <= bodyLimit(method: request.method, path: request.path),
                         "body larger than its limit")
        case .failure(let error):
            precondition(i == events.count - 1, "event after a failure")
            precondition([400, 411, 413, 414, 417, 431, 501, 505].contains(error.status), "unexpected status \(error)")
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
    return 0
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
