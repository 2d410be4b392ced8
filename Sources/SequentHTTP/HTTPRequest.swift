import Foundation

/// A complete HTTP request as the parser produced it (body fully received).
public struct HTTPRequest: Sendable, Equatable {
    /// The method, uppercased (`GET`, `POST`, …).
    public var method: String
    /// The request-target exactly as received (`/v1/jobs?state=running`).
    public var target: String
    /// The percent-decoded path without the query (`/v1/jobs`). `%2F` decodes to `/` like any other escape.
    public var path: String
    /// Query parameters, percent- and plus-decoded; for a repeated key the last value wins.
    public var query: [String: String]
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    public var headers: HTTPHeaders
    /// Fields received after a chunked body, if any.
    public var trailers: HTTPHeaders
    /// The body, unless the route spools bodies to disk (`HTTPBodyPolicy.spoolDirectory`): then it is empty and
    /// the body is in `bodyFile`.
    public var body: [UInt8]
    /// The file holding the body of a request whose route spools bodies to disk; nil otherwise. The server deletes
    /// it once the handler has returned (or its streamed response has ended), so read it during the handler.
    public var bodyFile: URL?
    /// The peer's address as `host:port` (empty for requests built in tests).
    public var remoteAddress: String

    /// Builds a request from its parts, decoding `target` into `path` and `query` the way the parser does.
    /// Throws an `HTTPParseError` (status 400) for a target that is not a valid origin-form or absolute-form
    /// request-target, so tests and the parser agree on what a valid request is.
    public init(method: String, target: String, version: String = "HTTP/1.1", headers: HTTPHeaders = [:],
                body: [UInt8] = [], bodyFile: URL? = nil, remoteAddress: String = "") throws(HTTPParseError) {
        let decoded = try RequestTarget.decode(Array(target.utf8))
        self.init(method: method.uppercased(), target: target, path: decoded.path, query: decoded.query,
                  version: version, headers: headers, trailers: [:], body: body, remoteAddress: remoteAddress)
        self.bodyFile = bodyFile
    }

    init(method: String, target: String, path: String, query: [String: String], version: String,
         headers: HTTPHeaders, trailers: HTTPHeaders, body: [UInt8], remoteAddress: String) {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.trailers = trailers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The first value of the header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers[name]
    }

    /// Whether the client wants the connection kept open after the response: HTTP/1.1 unless it sent
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var wantsKeepAlive: Bool {
        if version == "HTTP/1.0" { return headers.containsToken("keep-alive", in: "Connection") }
        return !headers.containsToken("close", in: "Connection")
    }
}

/// Decoding of the request-target into a path and query (RFC 9112 §3.2, RFC 3986 percent-encoding).
enum RequestTarget {
    struct Decoded {
        var path: String
        var query: [String: String]
    }

    /// Accepts origin-form (`/p?q`), absolute-form (`http://host/p?q`) and asterisk-form (`*`).
    static func decode(_ bytes: [UInt8]) throws(HTTPParseError) -> Decoded {
        guard !bytes.isEmpty else { throw HTTPParseError(status: 400, "empty request-target") }
        if bytes == [UInt8(ascii: "*")] { return Decoded(path: "*", query: [:]) }
        for b in bytes where b <= 0x20 || b >= 0x7F || b == UInt8(ascii: "#") {
            throw HTTPParseError(status: 400, "invalid character in request-target")
        }
        var start = 0
        if bytes.first != UInt8(ascii: "/") {
            // absolute-form: scheme "://" authority path-abempty [ "?" query ]
            guard let schemeEnd = firstIndex(of: Array("://".utf8), in: bytes),
                  bytes[..<schemeEnd].allSatisfy(isSchemeByte), schemeEnd > 0
            else { throw HTTPParseError(status: 400, "request-target must start with '/'") }
            let authorityStart = schemeEnd + 3
            start = bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
                ?? bytes.count
            guard start > authorityStart else { throw HTTPParseError(status: 400, "absolute-form target without host") }
        }
        let questionMark = bytes[start...].firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        var path = "/"
        if questionMark > start {
            guard let p = percentDecode(bytes[start..<questionMark], plusIsSpace: false) else {
                throw HTTPParseError(status: 400, "invalid percent-encoding in path (a malformed escape, %00, or not UTF-8)")
            }
            path = p
        }
        var query: [String: String] = [:]
        if questionMark < bytes.count {
            for item in bytes[(questionMark + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
                let eq = item.firstIndex(of: UInt8(ascii: "=")) ?? item.endIndex
                guard let key = percentDecode(item[..<eq], plusIsSpace: true),
                      let value = percentDecode(eq < item.endIndex ? item[(eq + 1)...] : [], plusIsSpace: true)
                else { throw HTTPParseError(status: 400, "invalid percent-encoding in query (a malformed escape, %00, or not UTF-8)") }
                query[key] = value
            }
        }
        return Decoded(path: path, query: query)
    }

    /// Decodes `%XX` escapes (and `+` as space in queries). Nil for a malformed escape, a decoded NUL (never
    /// legitimate, and dangerous to pass to C APIs) or bytes that are not UTF-8.
    static func percentDecode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.endIndex, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) else {
                    return nil
                }
                let decoded = hi << 4 | lo
                if decoded == 0 { return nil }
                out.append(decoded)
                i += 3
            } else {
                out.append(plusIsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i += 1
            }
        }
        return validUTF8String(out)
    }

    /// The bytes as a String, or nil when they are not valid UTF-8 (`String(decoding:)` would silently repair).
    static func validUTF8String(_ bytes: [UInt8]) -> String? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return String(decoding: bytes, as: UTF8.self)
            case .error: return nil
            }
        }
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isSchemeByte(_ b: UInt8) -> Bool {
        isAlphaNumeric(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    static func isAlphaNumeric(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A)
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }
}
