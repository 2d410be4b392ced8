import Foundation

/// Size limits for incoming requests. Every buffer the parser keeps is bounded by one of these, so no input can
/// make it allocate without bound.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request-line, CRLF included (and any empty lines before it); longer → 414.
    public var maxRequestLineBytes: Int
    /// Largest header section, every line's CRLF and the final empty line included; larger → 431. Trailers of a
    /// chunked body count against the same budget.
    public var maxHeaderBytes: Int
    /// Most header fields (trailers included); more → 431.
    public var maxHeaderCount: Int
    /// Body limit used when no per-request limit is given (see `HTTPRequestParser.init`); larger → 413.
    public var maxBodyBytes: Int
    /// Longest chunk-size line of a chunked body, extensions and CRLF included; longer → 400.
    public var maxChunkLineBytes: Int

    public init(maxRequestLineBytes: Int = 8 * 1024, maxHeaderBytes: Int = 32 * 1024, maxHeaderCount: Int = 100,
                maxBodyBytes: Int = 1 << 20, maxChunkLineBytes: Int = 1024) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}

/// How one request's body is received, decided after its headers (usually by the route it is for).
public struct HTTPBodyPolicy: Sendable, Equatable {
    /// The largest body accepted; a larger one is refused with 413 as soon as its size is known (at once for a
    /// `Content-Length`, at the chunk that passes it for a chunked body).
    public var limit: Int
    /// When set, the body is not collected in `HTTPRequest.body`: the server writes it to a new file in this
    /// directory as it arrives and hands the file to the handler as `HTTPRequest.bodyFile`. For uploads too
    /// large to hold in memory; the directory is created when missing.
    public var spoolDirectory: URL?

    /// A body of at most `limit` bytes, kept in memory unless `spoolDirectory` is given.
    public init(limit: Int, spoolDirectory: URL? = nil) {
        self.limit = limit
        self.spoolDirectory = spoolDirectory
    }
}

/// Why a request was refused, with the status code to answer. The connection is closed after answering, because
/// once framing is in doubt nothing after the error can be trusted to start a new request.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status) \(message)" }
}

/// An incremental HTTP/1.x request parser with no I/O: feed it bytes as they arrive, in pieces of any size, and
/// it returns what those bytes completed. Requests pipelined in one piece come out as several events.
///
/// The body limit is asked for once per request, after its headers (`bodyLimit(method, path)`), so a route that
/// takes uploads can allow more than one that takes none, and an oversized `Content-Length` is refused with 413
/// before any of the body is read.
///
/// A body whose `HTTPBodyPolicy` names a spool directory is not collected: it comes out as `.spoolBody`, then
/// `.bodyPart`s as the bytes arrive, then the `.request` (with an empty `body`), so the server can write it to a
/// file and a large upload never sits in memory. The parser itself still does no I/O.
public struct HTTPRequestParser {
    /// What a call to `feed` produced.
    public enum Event: Sendable, Equatable {
        /// The headers of an HTTP/1.1 request with `Expect: 100-continue` and a body were accepted: the server
        /// should now send `100 Continue` so the client sends the body.
        case continueExpected
        /// The headers of a request whose body is to be spooled into `directory` were accepted. Its body follows
        /// as `.bodyPart`s (none for an empty body), then the request itself as `.request`, with an empty `body`.
        case spoolBody(directory: URL)
        /// The next piece of a spooled body, in order. A view into the parser's buffer: use it before the next
        /// `feed` (holding on to it makes that `feed` copy the buffer).
        case bodyPart(ArraySlice<UInt8>)
        /// A complete request.
        case request(HTTPRequest)
        /// The input is not an acceptable request. Always the last event; later input is ignored.
        case failure(HTTPParseError)
    }

    private enum State {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case failed
    }

    public let limits: HTTPLimits
    /// Copied into every request, so handlers can log who sent it.
    public let remoteAddress: String
    private let bodyPolicy: @Sendable (String, String) -> HTTPBodyPolicy

    private var state = State.requestLine
    /// Unconsumed input starts at `index`; the search for the next LF resumes at `scanIndex`, so feeding a long
    /// line one byte at a time stays linear.
    private var buffer: [UInt8] = []
    private var index = 0
    private var scanIndex = 0

    // The request being assembled.
    private var leadingBytes = 0
    private var method = ""
    private var target = ""
    private var version = ""
    private var decodedTarget = RequestTarget.Decoded(path: "/", query: [:])
    private var headers = HTTPHeaders()
    private var trailers = HTTPHeaders()
    private var headerBytes = 0
    private var headerCount = 0
    private var body: [UInt8] = []
    private var currentBodyLimit = 0
    /// Body bytes of the current request so far (collected or spooled), for the limit on chunked bodies.
    private var bodyCount = 0
    private var spoolsBody = false

    /// - Parameters:
    ///   - limits: size limits; `limits.maxBodyBytes` applies when `bodyLimit` is nil.
    ///   - remoteAddress: copied into every request.
    ///   - bodyLimit: the largest body accepted for `(method, path)`, asked once per request after its headers.
    public init(limits: HTTPLimits = HTTPLimits(), remoteAddress: String = "",
                bodyLimit: (@Sendable (String, String) -> Int)? = nil) {
        let defaultLimit = limits.maxBodyBytes
        self.init(limits: limits, remoteAddress: remoteAddress) { method, path in
            HTTPBodyPolicy(limit: bodyLimit?(method, path) ?? defaultLimit)
        }
    }

    /// - Parameters:
    ///   - limits: size limits; `limits.maxBodyBytes` is not used, `bodyPolicy` gives every request's limit.
    ///   - remoteAddress: copied into every request.
    ///   - bodyPolicy: the limit and destination of the body for `(method, path)`, asked once per request after
    ///     its headers.
    public init(limits: HTTPLimits = HTTPLimits(), remoteAddress: String = "",
                bodyPolicy: @escaping @Sendable (String, String) -> HTTPBodyPolicy) {
        self.limits = limits
        self.remoteAddress = remoteAddress
        self.bodyPolicy = bodyPolicy
    }

    /// True between requests: nothing of a next request has arrived yet. The server uses the idle timeout then,
    /// and the read timeout otherwise.
    public var isIdle: Bool {
        if case .requestLine = state { return index == buffer.count }
        return false
    }

    /// True while the request-line or header section of a request is arriving (some of it has, not all), which is
    /// when the server applies its header deadline against slow-header (slowloris) clients.
    public var isReadingHeaders: Bool {
        switch state {
        case .requestLine: return index < buffer.count
        case .headers: return true
        default: return false
        }
    }

    /// Gives back the input buffer's memory between requests, so an idle keep-alive connection holds none.
    public mutating func releaseBufferIfIdle() {
        guard isIdle, buffer.capacity > 0 else { return }
        buffer = []
        index = 0
        scanIndex = 0
    }

    /// True once a `.failure` was returned.
    public var hasFailed: Bool {
        if case .failed = state { return true }
        return false
    }

    /// Parses `bytes` together with whatever earlier calls left incomplete.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [Event] {
        feed(contentsOf: bytes)
    }

    /// Parses bytes straight from a read buffer (the server's), without an intermediate array.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        feed(contentsOf: bytes)
    }

    private mutating func feed(contentsOf bytes: some Collection<UInt8>) -> [Event] {
        if case .failed = state { return [] }
        if index > 0 {
            buffer.removeFirst(index)
            scanIndex -= index
            index = 0
        }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        do {
            while try step(&events) {}
        } catch {
            events.append(.failure(error))
            state = .failed
            buffer = []
            body = []
            bodyCount = 0
            spoolsBody = false
            index = 0
            scanIndex = 0
        }
        return events
    }

    /// Parses `bytes` together with whatever earlier calls left incomplete.
    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        feed(bytes[...])
    }

    /// Advances by one line or one piece of body; false when more input is needed.
    private mutating func step(_ events: inout [Event]) throws(HTTPParseError) -> Bool {
        switch state {
        case .requestLine:
            let tooLong = HTTPParseError(status: 414, "request-line longer than \(limits.maxRequestLineBytes) bytes")
            guard let line = try nextLine(budget: limits.maxRequestLineBytes - leadingBytes, tooLong: tooLong) else {
                return false
            }
            if line.isEmpty {
                // RFC 9112 §2.2: ignore empty lines before a request-line (old clients send CRLF after a POST body).
                leadingBytes += 2
                return true
            }
            try parseRequestLine(buffer[line])
            state = .headers

        case .headers, .trailers:
            let tooLarge = HTTPParseError(status: 431, "header section larger than \(limits.maxHeaderBytes) bytes")
            let before = index
            guard let line = try nextLine(budget: limits.maxHeaderBytes - headerBytes, tooLong: tooLarge) else {
                return false
            }
            headerBytes += index - before
            if case .headers = state {
                if line.isEmpty { try headersComplete(&events) } else { headers.add(try parseField(buffer[line])) }
            } else {
                if line.isEmpty { complete(&events) } else { trailers.add(try parseField(buffer[line])) }
            }

        case .body(let remaining):
            let taken = takeBody(remaining, &events)
            guard taken > 0 else { return false }
            if taken == remaining { complete(&events) } else { state = .body(remaining: remaining - taken) }

        case .chunkSize:
            let tooLong = HTTPParseError(status: 400, "chunk-size line longer than \(limits.maxChunkLineBytes) bytes")
            guard let line = try nextLine(budget: limits.maxChunkLineBytes, tooLong: tooLong) else { return false }
            let size = try parseChunkSize(buffer[line])
            if size == 0 {
                state = .trailers
            } else {
                guard size <= currentBodyLimit - bodyCount else {
                    throw HTTPParseError(status: 413, "body larger than \(currentBodyLimit) bytes")
                }
                state = .chunkData(remaining: size)
            }

        case .chunkData(let remaining):
            let taken = takeBody(remaining, &events)
            guard taken > 0 else { return false }
            state = taken == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - taken)

        case .chunkDataEnd:
            guard buffer.count - index >= 2 else { return false }
            guard buffer[index] == 13, buffer[index + 1] == 10 else {
                throw HTTPParseError(status: 400, "chunk data not followed by CRLF")
            }
            index += 2
            scanIndex = index
            state = .chunkSize

        case .failed:
            return false
        }
        return true
    }

    /// The next CRLF-terminated line (without its CRLF) as a range of `buffer`, consumed; nil when incomplete.
    /// `budget` is how many bytes the line may take including its terminator. An incomplete line is already
    /// refused once it cannot fit, so a client cannot make the buffer grow past the limit by never ending it.
    private mutating func nextLine(budget: Int, tooLong: HTTPParseError) throws(HTTPParseError) -> Range<Int>? {
        guard let lf = buffer[scanIndex...].firstIndex(of: 10) else {
            scanIndex = buffer.count
            if buffer.count - index + 1 > budget { throw tooLong }
            return nil
        }
        if lf - index + 1 > budget { throw tooLong }
        // RFC 9112 §2.2 allows accepting a bare LF; we refuse it, because front-ends that disagree on line ends
        // are how request smuggling works.
        guard lf > index, buffer[lf - 1] == 13 else { throw HTTPParseError(status: 400, "line ends in a bare LF") }
        let line = index..<(lf - 1)
        index = lf + 1
        scanIndex = index
        return line
    }

    /// Takes up to `remaining` buffered bytes of body (into `body`, or out as a `.bodyPart`); returns how many.
    private mutating func takeBody(_ remaining: Int, _ events: inout [Event]) -> Int {
        let taken = min(remaining, buffer.count - index)
        if taken > 0 {
            if spoolsBody {
                events.append(.bodyPart(buffer[index..<(index + taken)]))
            } else {
                body.append(contentsOf: buffer[index..<(index + taken)])
            }
            bodyCount += taken
            index += taken
            scanIndex = index
        }
        return taken
    }

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        let parts = line.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].contains(32) else {
            throw HTTPParseError(status: 400, "malformed request-line")
        }
        guard parts[0].allSatisfy(Self.isTokenByte) else { throw HTTPParseError(status: 400, "invalid method") }
        let versionBytes = parts[2]
        if versionBytes.elementsEqual("HTTP/1.1".utf8) {
            version = "HTTP/1.1"
        } else if versionBytes.elementsEqual("HTTP/1.0".utf8) {
            version = "HTTP/1.0"
        } else if Self.isWellFormedVersion(versionBytes) {
            throw HTTPParseError(status: 505, "HTTP version not supported")
        } else {
            throw HTTPParseError(status: 400, "malformed HTTP version")
        }
        let targetBytes = Array(parts[1])
        decodedTarget = try RequestTarget.decode(targetBytes)
        method = String(decoding: parts[0], as: UTF8.self).uppercased()
        target = String(decoding: targetBytes, as: UTF8.self)
    }

    /// `HTTP/` followed by a version number (`2`, `2.0`, `0.9`): a real protocol we do not speak (505) rather than
    /// garbage (400).
    private static func isWellFormedVersion(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.starts(with: "HTTP/".utf8) else { return false }
        let number = bytes.dropFirst(5)
        let pieces = number.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return (1...2).contains(pieces.count) && pieces.allSatisfy { piece in
            (1...3).contains(piece.count) && piece.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
    }

    private mutating func parseField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPHeaders.Field {
        if line.first == 32 || line.first == 9 {
            throw HTTPParseError(status: 400, "obsolete line folding in header section")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPParseError(status: 400, "header line without ':'")
        }
        let name = line[..<colon]
        guard !name.isEmpty, name.allSatisfy(Self.isTokenByte) else {
            throw HTTPParseError(status: 400, "invalid header name")
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == 32 || b == 9 { value.removeFirst() }
        while let b = value.last, b == 32 || b == 9 { value.removeLast() }
        // Field values are visible characters, spaces, tabs and obs-text; CR, NUL and other controls are refused
        // rather than repaired, so no later component sees a header split in two.
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 9 }) else {
            throw HTTPParseError(status: 400, "invalid character in header value")
        }
        headerCount += 1
        guard headerCount <= limits.maxHeaderCount else {
            throw HTTPParseError(status: 431, "more than \(limits.maxHeaderCount) header fields")
        }
        return HTTPHeaders.Field(name: String(decoding: name, as: UTF8.self),
                                 value: String(decoding: value, as: UTF8.self))
    }

    /// Decides how the body is framed (RFC 9112 §6.3) and whether it fits, before any of it is read.
    private mutating func headersComplete(_ events: inout [Event]) throws(HTTPParseError) {
        let transferEncodings = headers.values(for: "Transfer-Encoding")
        let contentLengths = headers.values(for: "Content-Length")
        var chunked = false
        var length = 0
        if !transferEncodings.isEmpty {
            // Both headers, or Transfer-Encoding in HTTP/1.0, is the classic request-smuggling setup: refuse.
            guard contentLengths.isEmpty else {
                throw HTTPParseError(status: 400, "both Content-Length and Transfer-Encoding")
            }
            guard version == "HTTP/1.1" else { throw HTTPParseError(status: 400, "Transfer-Encoding in HTTP/1.0") }
            let codings = transferEncodings.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingHTTPWhitespace() }.filter { !$0.isEmpty }
            guard let last = codings.last, last.equalsIgnoringASCIICase("chunked") else {
                throw HTTPParseError(status: 400, "chunked is not the final transfer coding")
            }
            guard codings.count == 1 else {
                if codings.dropLast().contains(where: { $0.equalsIgnoringASCIICase("chunked") }) {
                    throw HTTPParseError(status: 400, "chunked applied twice")
                }
                throw HTTPParseError(status: 501, "transfer coding not implemented")
            }
            chunked = true
        } else if !contentLengths.isEmpty {
            // Repeated identical values ("5, 5" or two fields) are allowed by RFC 9110 §8.6; different ones are not.
            var value: Int?
            for element in contentLengths.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
                let digits = element.trimmingHTTPWhitespace()
                guard let parsed = Self.parseDecimal(digits) else {
                    throw HTTPParseError(status: 400, "invalid Content-Length")
                }
                if let value, value != parsed { throw HTTPParseError(status: 400, "conflicting Content-Length values") }
                value = parsed
            }
            length = value ?? 0
        }
        // Neither header: the body is empty (RFC 9112 §6.3, rule 7), whatever the method — `curl -X POST …/cancel`
        // sends exactly that. Refusing with 411 would break such clients and buy nothing: without framing there is
        // nothing to smuggle, and the next bytes on the connection are the next request.

        var expectsContinue = false
        let expectations = headers.values(for: "Expect")
        if !expectations.isEmpty, version == "HTTP/1.1" {  // RFC 9110 §10.1.1: ignore it in HTTP/1.0
            guard expectations.allSatisfy({ $0.equalsIgnoringASCIICase("100-continue") }) else {
                throw HTTPParseError(status: 417, "unsupported expectation")
            }
            expectsContinue = true
        }

        let policy = bodyPolicy(method, decodedTarget.path)
        currentBodyLimit = max(0, policy.limit)
        if !chunked {
            guard length <= currentBodyLimit else {
                throw HTTPParseError(status: 413, "body larger than \(currentBodyLimit) bytes")
            }
        }
        // Only a request that has a body (even an empty one) is spooled: a GET to the route gets a plain request.
        if let directory = policy.spoolDirectory, chunked || !contentLengths.isEmpty {
            spoolsBody = true
            events.append(.spoolBody(directory: directory))
        }
        if chunked {
            state = .chunkSize
        } else {
            if length == 0 {
                complete(&events)
                return
            }
            // A Content-Length within the limit may be trusted for the allocation: the limit bounds it.
            if !spoolsBody { body.reserveCapacity(length) }
            state = .body(remaining: length)
        }
        if expectsContinue { events.append(.continueExpected) }
    }

    /// `1*HEXDIG [ BWS ";" chunk-ext ]`; an absurd size saturates and then fails the body limit with 413.
    private func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var size = 0
        var i = line.startIndex
        while i < line.endIndex, let digit = RequestTarget.hexValue(line[i]) {
            size = size > (Int.max >> 4) ? Int.max : size << 4 | Int(digit)
            i += 1
        }
        guard i > line.startIndex else { throw HTTPParseError(status: 400, "invalid chunk size") }
        var rest = line[i...]
        while let b = rest.first, b == 32 || b == 9 { rest.removeFirst() }
        guard rest.isEmpty || rest.first == UInt8(ascii: ";") else {
            throw HTTPParseError(status: 400, "invalid chunk size")
        }
        guard rest.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 9 }) else {
            throw HTTPParseError(status: 400, "invalid character in chunk extension")
        }
        return size
    }

    private mutating func complete(_ events: inout [Event]) {
        let request = HTTPRequest(method: method, target: target, path: decodedTarget.path,
                                  query: decodedTarget.query, version: version, headers: headers,
                                  trailers: trailers, body: body, remoteAddress: remoteAddress)
        events.append(.request(request))
        state = .requestLine
        leadingBytes = 0
        headers = HTTPHeaders()
        trailers = HTTPHeaders()
        headerBytes = 0
        headerCount = 0
        body = []
        bodyCount = 0
        spoolsBody = false
    }

    /// `1*DIGIT`, saturating at `Int.max` (so a huge Content-Length becomes a 413, not a 400).
    private static func parseDecimal(_ s: Substring) -> Int? {
        guard !s.isEmpty else { return nil }
        var value = 0
        for b in s.utf8 {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(b - 0x30))
            value = o1 || o2 ? Int.max : sum
        }
        return value
    }

    /// tchar from RFC 9110 §5.6.2.
    static func isTokenByte(_ b: UInt8) -> Bool {
        if RequestTarget.isAlphaNumeric(b) { return true }
        switch b {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
