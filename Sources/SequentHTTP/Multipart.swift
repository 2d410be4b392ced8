// multipart/form-data (RFC 7578, framing from RFC 2046 §5.1.1), as sent by `curl -F` and browsers' FormData.
// The whole body is already in memory (the request parser bounds it), so parsing is one pass over an array: a
// memchr-driven search for each delimiter (with a Horspool skip), then a bounded look at each part's header block.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One part of a `multipart/form-data` body: a form field or an uploaded file.
public struct MultipartPart: Sendable, Equatable {
    /// The `name` parameter of the part's `Content-Disposition` (the form field's name), or nil when it has none.
    public var name: String?
    /// The uploaded file's name: the RFC 5987 `filename*` parameter when present, else `filename`; nil for a plain
    /// field. Taken as sent — it may contain `/`, `\` or `..`, so never use it as a path unchecked. Browsers send
    /// `filename=""` (and an empty body) for a file input left empty.
    public var filename: String?
    /// The part's `Content-Type` header (`image/jpeg`), or nil when it has none (RFC 7578 then means `text/plain`).
    public var contentType: String?
    /// Every header of the part, in order.
    public var headers: HTTPHeaders
    /// The part's content: the bytes between its header block and the next delimiter, exactly as sent.
    public var body: [UInt8]

    public init(name: String? = nil, filename: String? = nil, contentType: String? = nil,
                headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }
}

/// Why a `multipart/form-data` body or its `Content-Type` was refused; `message` is meant for the client (a 400).
public struct MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Parsing of `multipart/form-data` request bodies (RFC 7578).
///
/// ```swift
/// let boundary = try Multipart.boundary(fromContentType: request.header("Content-Type") ?? "")
/// let parts = try Multipart.parse(request.body, boundary: boundary, maxParts: 16, maxPartBytes: 10 << 20)
/// for image in parts where image.name == "image" && image.filename != nil { … }
/// ```
public enum Multipart {
    /// The largest header block of one part, its empty line included; larger → `MultipartError`.
    public static let maxPartHeaderBytes = 16 * 1024
    /// The most header fields one part may have; more → `MultipartError`.
    public static let maxPartHeaderCount = 32
    /// The longest boundary RFC 2046 allows.
    public static let maxBoundaryLength = 70

    /// The `boundary` parameter of a `multipart/form-data` Content-Type such as
    /// `multipart/form-data; boundary="----WebKitFormBoundaryX"; charset=utf-8`.
    ///
    /// The media type and parameter names are matched case-insensitively and parameters may come in any order;
    /// the boundary may be a token or a quoted string (with `\"` and `\\` escapes). Throws for another media type,
    /// a missing, repeated, empty or over-long (> 70 characters) boundary, one with characters other than
    /// printable ASCII or one ending in a space, and for malformed parameter syntax.
    public static func boundary(fromContentType contentType: String) throws -> String {
        try parseBoundary(fromContentType: contentType)
    }

    /// Splits a `multipart/form-data` body into its parts, in order.
    ///
    /// - The preamble before the first delimiter and the epilogue after the closing one are ignored.
    /// - A delimiter is `--boundary` at the start of a line (the body's first bytes, or after CRLF), followed by
    ///   optional spaces or tabs and a line end; anything else — `--boundary` mid-line or `--boundaryX` — is content.
    ///   The closing delimiter `--boundary--` is required, so a truncated upload is an error, not a short file.
    /// - Part headers end at an empty line; lines end in CRLF, but a bare LF is accepted there. A part's body is
    ///   every byte from there to the CRLF before the next delimiter, binary-safe.
    /// - Each part needs exactly one `Content-Disposition: form-data` header; `name`, `filename` and `filename*`
    ///   are taken from it (quoted or not; in quoted strings `\"` and `\\` are escapes and any other backslash is
    ///   kept, so Windows paths survive).
    ///
    /// Runs in time linear in the body size.
    /// - Parameters:
    ///   - boundary: from `boundary(fromContentType:)`.
    ///   - maxParts: more parts than this → `MultipartError`.
    ///   - maxPartBytes: a part whose body is larger → `MultipartError` naming the part.
    /// - Throws: `MultipartError`.
    public static func parse(_ body: [UInt8], boundary: String, maxParts: Int = 64,
                             maxPartBytes: Int = .max) throws -> [MultipartPart] {
        try parse(body, boundary: boundary, maxParts: maxParts, maxPartBytes: maxPartBytes,
                  maxHeaderBytes: maxPartHeaderBytes, maxHeaderCount: maxPartHeaderCount)
    }

    // MARK: - Implementation

    static func parseBoundary(fromContentType contentType: String) throws(MultipartError) -> String {
        let (mediaType, parameters) = try parseParameters(contentType, what: "Content-Type")
        guard mediaType.equalsIgnoringASCIICase("multipart/form-data") else {
            throw MultipartError("Content-Type \(mediaType) is not multipart/form-data")
        }
        guard let boundary = parameters["boundary"] else {
            throw MultipartError("Content-Type multipart/form-data has no boundary parameter")
        }
        _ = try validatedBoundary(boundary)
        return boundary
    }

    /// `parse` with the header limits as parameters, so tests can reach them with small inputs.
    static func parse(_ body: [UInt8], boundary: String, maxParts: Int, maxPartBytes: Int, maxHeaderBytes: Int,
                      maxHeaderCount: Int) throws(MultipartError) -> [MultipartPart] {
        let dashBoundary = Array("--".utf8) + (try validatedBoundary(boundary))
        let finder = DelimiterFinder(dashBoundary: dashBoundary)

        let first: DelimiterKind
        if body.starts(with: dashBoundary), case .delimiter(let kind) = body.withUnsafeBufferPointer({
            DelimiterFinder.classify($0, after: dashBoundary.count, atEnd: true)
        }) {
            first = kind
        } else if let (_, kind) = finder.next(in: body, from: 0) {
            first = kind
        } else {
            throw MultipartError("multipart body does not contain the boundary --\(boundary)")
        }
        guard case .open(var contentStart) = first else { return [] }

        var parts: [MultipartPart] = []
        while true {
            let number = parts.count + 1
            guard number <= maxParts else { throw MultipartError("multipart body has more than \(maxParts) parts") }
            guard let (end, kind) = finder.next(in: body, from: contentStart) else {
                throw MultipartError("multipart body has no closing boundary --\(boundary)--")
            }
            parts.append(try parsePart(body, contentStart..<end, number: number, maxPartBytes: maxPartBytes,
                                       maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount))
            guard case .open(let next) = kind else { return parts }
            contentStart = next
        }
    }

    /// The boundary's bytes, or an error for one no RFC 2046 sender produces (bchars are a subset of printable
    /// ASCII; accepting all of it is lenient, but controls or non-ASCII would make line detection ambiguous).
    static func validatedBoundary(_ boundary: String) throws(MultipartError) -> [UInt8] {
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty else { throw MultipartError("multipart boundary is empty") }
        guard bytes.count <= maxBoundaryLength else {
            throw MultipartError("multipart boundary is \(bytes.count) bytes long, the limit is \(maxBoundaryLength)")
        }
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw MultipartError("multipart boundary contains a character that is not printable ASCII")
        }
        guard bytes.last != 0x20 else { throw MultipartError("multipart boundary ends in a space") }
        return bytes
    }

    enum DelimiterKind: Equatable {
        /// A delimiter line; the next part's content starts at the index.
        case open(Int)
        /// The closing delimiter `--boundary--`.
        case close
    }

    /// Finds delimiters (`CRLF--boundary` + transport padding + line end) in a body, or in a window of one that
    /// is read piece by piece (`Multipart.parse(contentsOf:…)`).
    ///
    /// memchr jumps to the next CR (rare in real uploads, so nearly all the work is its vectorised scan); at each
    /// one the window's last byte is checked first, and on a mismatch the search skips ahead by the
    /// Boyer-Moore-Horspool shift for that byte, so even a body of nothing but CRs costs one step per
    /// boundary length. Only then is the rest compared. Linear: the boundary holds no CR, so candidate
    /// windows that match a long prefix cannot overlap.
    struct DelimiterFinder {
        /// `\r\n--boundary`.
        let delimiter: [UInt8]
        /// How far a window whose last byte is `b` (and does not match) can move: `shift[b]`.
        private let shift: [Int]

        /// What a search of part of the body found.
        enum Search: Equatable {
            /// A delimiter: the index of its CRLF and what it is.
            case found(Int, DelimiterKind)
            /// No delimiter starts at or before `bytes.count - delimiter.count`.
            case notFound
            /// `\r\n--boundary` matches at the index, but whether it is a delimiter depends on bytes past the end
            /// of what was searched (only when that is not the end of the body).
            case undecided(Int)
        }

        init(dashBoundary: [UInt8]) {
            let delimiter = [13, 10] + dashBoundary
            var shift = [Int](repeating: delimiter.count, count: 256)
            for (i, b) in delimiter.dropLast().enumerated() { shift[Int(b)] = delimiter.count - 1 - i }
            self.delimiter = delimiter
            self.shift = shift
        }

        /// The next delimiter at or after `start` in `body`, which is the whole body: the index of its CRLF and
        /// what it is.
        func next(in body: [UInt8], from start: Int) -> (Int, DelimiterKind)? {
            body.withUnsafeBufferPointer { hay in
                if case .found(let at, let kind) = search(hay, from: start, atEnd: true) { return (at, kind) }
                return nil
            }
        }

        /// Searches `hay` from `start`. `atEnd` says `hay` ends where the body ends; when it does not, a
        /// delimiter whose classification needs bytes beyond `hay` is reported as `.undecided`.
        func search(_ hay: UnsafeBufferPointer<UInt8>, from start: Int, atEnd: Bool) -> Search {
            delimiter.withUnsafeBufferPointer { needle -> Search in
                shift.withUnsafeBufferPointer { shift -> Search in
                    let m = needle.count
                    guard let base = hay.baseAddress, let needleBase = needle.baseAddress, start >= 0,
                          hay.count >= m else { return .notFound }
                    let raw = UnsafeRawPointer(base)
                    let lastStart = hay.count - m  // the last index a window can start at
                    let lastByte = needle[m - 1]
                    var p = start
                    while p <= lastStart {
                        guard let hit = memchr(raw + p, 13, lastStart - p + 1) else { return .notFound }
                        let at = raw.distance(to: UnsafeRawPointer(hit))
                        let tail = hay[at + m - 1]
                        if tail != lastByte {
                            p = at + shift[Int(tail)]
                            continue
                        }
                        if memcmp(raw + at + 1, needleBase + 1, m - 2) == 0 {
                            switch Self.classify(hay, after: at + m, atEnd: atEnd) {
                            case .delimiter(let kind): return .found(at, kind)
                            case .undecided: return .undecided(at)
                            case .content: break
                            }
                        }
                        p = at + 1
                    }
                    return .notFound
                }
            }
        }

        enum Classification: Equatable {
            case delimiter(DelimiterKind)
            /// `--boundary` followed by something else: part of the content.
            case content
            /// The bytes that decide it lie past the end of the buffer.
            case undecided
        }

        /// What follows a `--boundary` that ends just before `index`.
        static func classify(_ body: UnsafeBufferPointer<UInt8>, after index: Int, atEnd: Bool) -> Classification {
            let n = body.count
            var i = index
            if !atEnd && (i >= n || body[i] == UInt8(ascii: "-") && i + 1 >= n) { return .undecided }
            let closing = i + 1 < n && body[i] == UInt8(ascii: "-") && body[i + 1] == UInt8(ascii: "-")
            if closing { i += 2 }
            while i < n, body[i] == 0x20 || body[i] == 0x09 { i += 1 }  // transport padding
            if !atEnd && (i == n || body[i] == 13 && i + 1 == n) { return .undecided }
            if closing {
                // The epilogue follows; a trailing CR without LF at the very end is tolerated.
                let ends = i == n || body[i] == 10 || body[i] == 13 && (i + 1 == n || body[i + 1] == 10)
                return ends ? .delimiter(.close) : .content
            }
            if i < n, body[i] == 10 { return .delimiter(.open(i + 1)) }
            if i + 1 < n, body[i] == 13, body[i + 1] == 10 { return .delimiter(.open(i + 2)) }
            return .content
        }
    }

    private static func parsePart(_ body: [UInt8], _ range: Range<Int>, number: Int, maxPartBytes: Int,
                                  maxHeaderBytes: Int, maxHeaderCount: Int) throws(MultipartError) -> MultipartPart {
        let head = try parsePartHead(body, range, number: number, maxHeaderBytes: maxHeaderBytes,
                                     maxHeaderCount: maxHeaderCount)
        let size = range.upperBound - head.bodyStart
        guard size <= maxPartBytes else {
            let label = head.name.map { "part \(String(reflecting: $0))" } ?? "part \(number)"
            throw MultipartError("\(label) is \(size) bytes, the limit is \(maxPartBytes)")
        }
        return MultipartPart(name: head.name, filename: head.filename, contentType: head.contentType,
                             headers: head.headers, body: Array(body[head.bodyStart..<range.upperBound]))
    }

    /// A part's header block, parsed.
    struct PartHead {
        var headers: HTTPHeaders
        var name: String?
        var filename: String?
        var contentType: String?
        /// Where the part's content starts.
        var bodyStart: Int
    }

    /// Parses the header block at the start of `range` (the bytes between two delimiters). Reads only
    /// `body[range.lowerBound ..< range.lowerBound + min(range.count, maxHeaderBytes)]`, so a caller reading a
    /// large body piecewise can pass just that much.
    static func parsePartHead(_ body: [UInt8], _ range: Range<Int>, number: Int, maxHeaderBytes: Int,
                              maxHeaderCount: Int) throws(MultipartError) -> PartHead {
        var headers = HTTPHeaders()
        var bodyStart = range.lowerBound
        // Empty content (a delimiter right after the previous one) is a part without headers or body.
        if !range.isEmpty {
            var lineStart = range.lowerBound
            var fieldCount = 0
            let searchEnd = range.lowerBound + min(range.count, max(0, maxHeaderBytes))
            while true {
                guard let lf = body[lineStart..<max(lineStart, searchEnd)].firstIndex(of: 10) else {
                    if searchEnd < range.upperBound {
                        throw MultipartError("part \(number) headers are larger than \(maxHeaderBytes) bytes")
                    }
                    throw MultipartError("part \(number) headers are not followed by an empty line")
                }
                let lineEnd = lf > lineStart && body[lf - 1] == 13 ? lf - 1 : lf
                if lineEnd == lineStart {
                    bodyStart = lf + 1
                    break
                }
                fieldCount += 1
                guard fieldCount <= maxHeaderCount else {
                    throw MultipartError("part \(number) has more than \(maxHeaderCount) header fields")
                }
                headers.add(try parseHeaderLine(body[lineStart..<lineEnd], part: number))
                lineStart = lf + 1
            }
        }

        let dispositions = headers.values(for: "Content-Disposition")
        guard let disposition = dispositions.first else {
            throw MultipartError("part \(number) has no Content-Disposition header")
        }
        guard dispositions.count == 1 else {
            throw MultipartError("part \(number) has more than one Content-Disposition header")
        }
        let what = "part \(number) Content-Disposition"
        let (dispositionType, parameters) = try parseParameters(disposition, what: what)
        guard dispositionType.equalsIgnoringASCIICase("form-data") else {
            throw MultipartError("\(what) is \(dispositionType), not form-data")
        }
        var filename = parameters["filename"]
        if let extended = parameters["filename*"] {
            guard let decoded = decodeExtendedValue(extended) else {
                throw MultipartError("\(what) has a malformed filename* parameter")
            }
            filename = decoded
        }
        let contentTypes = headers.values(for: "Content-Type")
        guard contentTypes.count <= 1 else {
            throw MultipartError("part \(number) has more than one Content-Type header")
        }

        return PartHead(headers: headers, name: parameters["name"], filename: filename,
                        contentType: contentTypes.first, bodyStart: bodyStart)
    }

    /// `name ":" OWS value OWS`, with the same rules as the request parser's header fields.
    private static func parseHeaderLine(_ line: ArraySlice<UInt8>, part: Int) throws(MultipartError)
        -> HTTPHeaders.Field {
        if line.first == 0x20 || line.first == 0x09 {
            throw MultipartError("part \(part) has a folded header line")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw MultipartError("part \(part) has a header line without ':'")
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(HTTPRequestParser.isTokenByte) else {
            throw MultipartError("part \(part) has an invalid header name")
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == 0x20 || b == 0x09 { value.removeFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value.removeLast() }
        let nameString = String(decoding: name, as: UTF8.self)
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw MultipartError("part \(part) header \(nameString) contains a control character")
        }
        // Browsers send non-ASCII file names as raw UTF-8 inside the quotes; anything else is repaired, not refused.
        return HTTPHeaders.Field(name: nameString, value: String(decoding: value, as: UTF8.self))
    }

    /// A header value of the form `value *( OWS ";" OWS name "=" ( token / quoted-string ) )`, as used by
    /// Content-Type and Content-Disposition. Returns the leading value (trimmed) and the parameters by lowercased
    /// name. An unquoted value runs to the next `;` (trimmed), which tolerates senders that forget to quote.
    static func parseParameters(_ text: String, what: String) throws(MultipartError)
        -> (value: String, parameters: [String: String]) {
        let s = Array(text.utf8)
        let semicolon = UInt8(ascii: ";"), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var bytes = bytes
            while let b = bytes.first, isWhitespace(b) { bytes.removeFirst() }
            while let b = bytes.last, isWhitespace(b) { bytes.removeLast() }
            return bytes
        }

        var i = s.firstIndex(of: semicolon) ?? s.count
        let value = trimmed(s[..<i])
        guard !value.isEmpty else { throw MultipartError("\(what) has no value before its parameters") }
        var parameters: [String: String] = [:]
        while i < s.count {  // s[i] is ';'
            i += 1
            while i < s.count, isWhitespace(s[i]) { i += 1 }
            if i == s.count { break }
            if s[i] == semicolon { continue }
            let nameStart = i
            while i < s.count, HTTPRequestParser.isTokenByte(s[i]) { i += 1 }
            let name = String(decoding: s[nameStart..<i], as: UTF8.self).lowercased()
            while i < s.count, isWhitespace(s[i]) { i += 1 }
            guard !name.isEmpty, i < s.count, s[i] == UInt8(ascii: "=") else {
                throw MultipartError("\(what) has a malformed parameter")
            }
            i += 1
            while i < s.count, isWhitespace(s[i]) { i += 1 }
            var parameterValue: [UInt8] = []
            if i < s.count, s[i] == quote {
                i += 1
                var closed = false
                while i < s.count {
                    let b = s[i]
                    if b == quote {
                        closed = true
                        i += 1
                        break
                    }
                    if b == backslash, i + 1 < s.count, s[i + 1] == quote || s[i + 1] == backslash {
                        parameterValue.append(s[i + 1])
                        i += 2
                    } else {
                        parameterValue.append(b)
                        i += 1
                    }
                }
                guard closed else { throw MultipartError("\(what) has an unterminated quoted string") }
                while i < s.count, isWhitespace(s[i]) { i += 1 }
                guard i == s.count || s[i] == semicolon else {
                    throw MultipartError("\(what) has text after the quoted \(name) parameter")
                }
            } else {
                let start = i
                while i < s.count, s[i] != semicolon { i += 1 }
                parameterValue = Array(trimmed(s[start..<i]))
                guard !parameterValue.isEmpty else { throw MultipartError("\(what) parameter \(name) has no value") }
            }
            // Two different values for one name is how parsers that pick different ones get fooled: refuse.
            guard parameters[name] == nil else { throw MultipartError("\(what) has more than one \(name) parameter") }
            parameters[name] = String(decoding: parameterValue, as: UTF8.self)
        }
        return (String(decoding: value, as: UTF8.self), parameters)
    }

    /// An RFC 5987 ext-value, `charset "'" [ language ] "'" value-chars` with `%XX` escapes, in UTF-8 or
    /// ISO-8859-1. Nil when malformed, not valid in its charset, or decoding to a control character.
    static func decodeExtendedValue(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        let apostrophe = UInt8(ascii: "'")
        guard let first = bytes.firstIndex(of: apostrophe),
              let second = bytes[(first + 1)...].firstIndex(of: apostrophe) else { return nil }
        let charset = String(decoding: bytes[..<first], as: UTF8.self).lowercased()
        var decoded: [UInt8] = []
        var i = second + 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = RequestTarget.hexValue(bytes[i + 1]),
                      let lo = RequestTarget.hexValue(bytes[i + 2]) else { return nil }
                decoded.append(hi << 4 | lo)
                i += 3
            } else {
                // Only ASCII may appear unescaped; raw UTF-8 is tolerated when that is the charset anyway.
                guard bytes[i] < 0x80 || charset == "utf-8" else { return nil }
                decoded.append(bytes[i])
                i += 1
            }
        }
        guard !decoded.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        switch charset {
        case "utf-8": return RequestTarget.validUTF8String(decoded)
        case "iso-8859-1": return String(String.UnicodeScalarView(decoded.map { Unicode.Scalar($0) }))
        default: return nil
        }
    }
}
