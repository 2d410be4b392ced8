import Foundation
import Testing
@testable import SequentHTTP

/// The parser is tested with no socket at all: bytes in, events out (the swift-nio HTTPDecoder test style).
@Suite struct HTTPRequestParserTests {
    static func parse(_ text: String, limits: HTTPLimits = HTTPLimits(),
                      bodyLimit: (@Sendable (String, String) -> Int)? = nil) -> [HTTPRequestParser.Event] {
        var parser = HTTPRequestParser(limits: limits, remoteAddress: "1.2.3.4:5", bodyLimit: bodyLimit)
        return parser.feed(Array(text.utf8))
    }

    static func requests(_ events: [HTTPRequestParser.Event]) -> [HTTPRequest] {
        events.compactMap { if case .request(let r) = $0 { r } else { nil } }
    }

    /// The status of the failure the input ends in, or nil.
    static func failureStatus(_ text: String, limits: HTTPLimits = HTTPLimits(),
                              bodyLimit: (@Sendable (String, String) -> Int)? = nil) -> Int? {
        if case .failure(let error) = parse(text, limits: limits, bodyLimit: bodyLimit).last { error.status } else { nil }
    }

    @Test func simpleGet() throws {
        let events = Self.parse("GET /v1/jobs?state=running HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n")
        let request = try #require(Self.requests(events).first)
        #expect(events.count == 1)
        #expect(request.method == "GET")
        #expect(request.target == "/v1/jobs?state=running")
        #expect(request.path == "/v1/jobs")
        #expect(request.query == ["state": "running"])
        #expect(request.version == "HTTP/1.1")
        #expect(request.header("host") == "localhost")
        #expect(request.headers["ACCEPT"] == "*/*")
        #expect(request.body.isEmpty)
        #expect(request.remoteAddress == "1.2.3.4:5")
        #expect(request.wantsKeepAlive)
    }

    @Test func methodIsUppercasedAndHeaderValuesTrimmed() throws {
        let request = try #require(Self.requests(Self.parse("get / HTTP/1.0\r\nX-A: \t  v  w \t\r\n\r\n")).first)
        #expect(request.method == "GET")
        #expect(request.headers["x-a"] == "v  w")
        #expect(!request.wantsKeepAlive)
    }

    @Test func pipelinedRequestsInOneFeed() {
        let text = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            + "HEAD /c HTTP/1.1\r\nConnection: close\r\n\r\n"
        let requests = Self.requests(Self.parse(text))
        #expect(requests.map(\.method) == ["GET", "POST", "HEAD"])
        #expect(requests.map(\.path) == ["/a", "/b", "/c"])
        #expect(requests[1].body == Array("hello".utf8))
        #expect(!requests[2].wantsKeepAlive)
    }

    @Test func byteAtATimeGivesTheSameEvents() {
        let text = "\r\nPOST /upload?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
            + "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nChecksum: 1\r\n\r\n"
            + "GET / HTTP/1.1\r\n\r\n"
        let whole = Self.parse(text)
        var parser = HTTPRequestParser(remoteAddress: "1.2.3.4:5")
        var pieces: [HTTPRequestParser.Event] = []
        var idleAt: [Int] = []
        for (i, byte) in text.utf8.enumerated() {
            pieces += parser.feed([byte])
            if parser.isIdle { idleAt.append(i) }
        }
        #expect(pieces == whole)
        #expect(whole.first == .continueExpected)
        #expect(Self.requests(whole).map(\.body.count) == [19, 0])
        // Idle only after a leading empty line and after each complete request.
        #expect(idleAt == [1, text.utf8.count - 19, text.utf8.count - 1])
    }

    @Test func contentLengthBodyAcrossFeeds() {
        var parser = HTTPRequestParser()
        #expect(parser.feed(Array("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123".utf8)).isEmpty)
        #expect(!parser.isIdle)
        let events = parser.feed(Array("456789GET".utf8))
        #expect(Self.requests(events).first?.body == Array("0123456789".utf8))
        #expect(!parser.isIdle)  // "GET" of the next request is buffered
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "4\r\nWiki\r\n5 ; name=\"val\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let request = try #require(Self.requests(Self.parse(text)).first)
        #expect(String(decoding: request.body, as: UTF8.self) == "Wikipedia in\r\n\r\nchunks.")
        #expect(request.trailers["x-trailer"] == "yes")
        #expect(request.headers["X-Trailer"] == nil)
    }

    @Test func chunkedTransferEncodingIsCaseInsensitive() {
        let text = "POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
        #expect(Self.requests(Self.parse(text)).first?.body == [UInt8(ascii: "a")])
    }

    @Test(arguments: [
        // request-line
        ("GET /\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\n\r\n", 400),
        ("GET\t/ HTTP/1.1\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTX/1.1\r\n\r\n", 400),
        ("GET / http/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("GET / HTTP/3\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\n\r\n", 505),
        ("GET relative HTTP/1.1\r\n\r\n", 400),
        ("GET /a#frag HTTP/1.1\r\n\r\n", 400),
        ("GET /a%zz HTTP/1.1\r\n\r\n", 400),
        ("GET /a%2 HTTP/1.1\r\n\r\n", 400),
        ("GET /a%00b HTTP/1.1\r\n\r\n", 400),
        ("GET /%C3%28 HTTP/1.1\r\n\r\n", 400),
        ("GET /?a=%G1 HTTP/1.1\r\n\r\n", 400),
        ("GET /?%=1 HTTP/1.1\r\n\r\n", 400),
        // line ends
        ("GET / HTTP/1.1\nHost: a\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
        // header fields
        ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX-A: a\r\n\tfolded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX-A: a\u{7F}b\r\n\r\n", 400),
        // framing
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\n", 417),
        // chunked body
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 5\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a\u{1}\r\nabc\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n", 400),
    ])
    func malformedRequestsGetTheirStatus(text: String, status: Int) {
        #expect(Self.failureStatus(text) == status, "\(text.debugDescription)")
    }

    @Test func failureIsFinal() {
        var parser = HTTPRequestParser()
        let events = parser.feed(Array("GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8))
        #expect(events == [.failure(HTTPParseError(status: 505, "HTTP version not supported"))])
        #expect(parser.hasFailed)
        #expect(parser.feed(Array("GET / HTTP/1.1\r\n\r\n".utf8)).isEmpty)
    }

    /// RFC 9112 §6.3: a request with neither Content-Length nor Transfer-Encoding has an empty body, so a
    /// body-less POST, PUT, PATCH or DELETE is a complete request, and what follows it is the next request.
    @Test(arguments: ["POST", "PUT", "PATCH", "DELETE"])
    func requestWithoutFramingHasAnEmptyBody(method: String) throws {
        let text = "\(method) /v1/jobs/j_1/cancel HTTP/1.1\r\nHost: a\r\n\r\n" + "GET /next HTTP/1.1\r\n\r\n"
        let events = Self.parse(text)
        let requests = Self.requests(events)
        #expect(events.count == 2, "\(events)")
        #expect(requests.map(\.method) == [method, "GET"])
        #expect(requests.first?.path == "/v1/jobs/j_1/cancel")
        #expect(requests.first?.body.isEmpty == true)
        #expect(requests.last?.path == "/next")
    }

    @Test func requestWithoutFramingIsCompleteByteAtATime() {
        var parser = HTTPRequestParser()
        var events: [HTTPRequestParser.Event] = []
        for b in Array("POST /x HTTP/1.0\r\n\r\n".utf8) { events += parser.feed([b]) }
        #expect(Self.requests(events).map(\.path) == ["/x"])
        #expect(Self.requests(events).first?.body.isEmpty == true)
    }

    @Test func identicalContentLengthsAreAccepted() {
        let text = "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok"
        #expect(Self.requests(Self.parse(text)).first?.body == Array("ok".utf8))
    }

    @Test func getWithoutLengthHasEmptyBody() {
        #expect(Self.requests(Self.parse("DELETE /x HTTP/1.1\r\n\r\n")).first?.body == [])
    }

    @Test func requestLineLimitGives414EvenWithoutLineEnd() {
        let limits = HTTPLimits(maxRequestLineBytes: 64)
        #expect(Self.failureStatus("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\n\r\n", limits: limits) == 414)
        // A line that never ends is refused as soon as it cannot fit, not buffered forever.
        var parser = HTTPRequestParser(limits: limits)
        #expect(parser.feed(Array("GET /".utf8)).isEmpty)
        let events = parser.feed(Array(repeating: UInt8(ascii: "a"), count: 60))
        #expect(events.count == 1)
        if case .failure(let e) = events.first { #expect(e.status == 414) } else { Issue.record("no failure") }
        // Exactly at the limit (CRLF included) is fine.
        let exact = "GET /" + String(repeating: "a", count: 48) + " HTTP/1.1\r\n"
        #expect(exact.utf8.count == 64)
        #expect(Self.requests(Self.parse(exact + "\r\n", limits: limits)).count == 1)
        #expect(Self.failureStatus("GET /a" + exact.dropFirst(5) + "\r\n", limits: limits) == 414)
    }

    @Test func headerSizeAndCountLimitsGive431() {
        let limits = HTTPLimits(maxHeaderBytes: 100, maxHeaderCount: 3)
        let big = "GET / HTTP/1.1\r\nX-Big: \(String(repeating: "v", count: 100))\r\n\r\n"
        #expect(Self.failureStatus(big, limits: limits) == 431)
        let many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"
        #expect(Self.failureStatus(many, limits: limits) == 431)
        let three = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(Self.requests(Self.parse(three, limits: limits)).count == 1)
        // An endless header value is refused once it passes the limit.
        var parser = HTTPRequestParser(limits: limits)
        _ = parser.feed(Array("GET / HTTP/1.1\r\nX: ".utf8))
        var events: [HTTPRequestParser.Event] = []
        for _ in 0..<20 where events.isEmpty { events = parser.feed(Array(repeating: 0x61, count: 10)) }
        #expect(events == [.failure(HTTPParseError(status: 431, "header section larger than 100 bytes"))])
        // Trailers count against the header budget.
        let trailers = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT1: 1\r\nT2: 2\r\nT3: 3\r\n\r\n"
        #expect(Self.failureStatus(trailers, limits: limits) == 431)
    }

    @Test func bodyLimitIsAskedPerRequestAfterHeaders() {
        let limit: @Sendable (String, String) -> Int = { method, path in path == "/uploads/big file" ? 100 : 4 }
        #expect(Self.failureStatus("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n", bodyLimit: limit) == 413)
        let ok = "POST /uploads/big%20file HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        #expect(Self.requests(Self.parse(ok, bodyLimit: limit)).count == 1)
        // Chunked bodies are refused once the chunks announced pass the limit, before their data arrives.
        var parser = HTTPRequestParser(bodyLimit: limit)
        let events = parser.feed(Array("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n".utf8))
        #expect(events == [.failure(HTTPParseError(status: 413, "body larger than 4 bytes"))])
        // Absurd sizes saturate to 413 rather than overflowing.
        #expect(Self.failureStatus("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n") == 413)
        let hugeChunk = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n"
        #expect(Self.failureStatus(hugeChunk) == 413)
        // The default limit applies when there is no closure.
        let limits = HTTPLimits(maxBodyBytes: 2)
        #expect(Self.failureStatus("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", limits: limits) == 413)
    }

    // MARK: - Spooled bodies

    static let spoolDirectory = URL(fileURLWithPath: "/spool")

    /// Spools bodies of `/up` (limit 10); keeps the others in memory.
    static func spoolingParser() -> HTTPRequestParser {
        HTTPRequestParser(bodyPolicy: { _, path in
            HTTPBodyPolicy(limit: 10, spoolDirectory: path == "/up" ? spoolDirectory : nil)
        })
    }

    /// The body parts of the events, joined, and the events with each run of parts replaced by one.
    static func joinParts(_ events: [HTTPRequestParser.Event]) -> [HTTPRequestParser.Event] {
        var out: [HTTPRequestParser.Event] = []
        for event in events {
            if case .bodyPart(let more) = event, case .bodyPart(let sofar)? = out.last {
                out[out.count - 1] = .bodyPart(sofar + more)
            } else if case .bodyPart(let part) = event {
                out.append(.bodyPart(ArraySlice(Array(part))))
            } else {
                out.append(event)
            }
        }
        return out
    }

    @Test func spooledBodyComesOutInPartsThenTheRequestWithoutBody() throws {
        let text = "POST /up HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /up HTTP/1.1\r\n\r\n"
        var parser = Self.spoolingParser()
        let events = parser.feed(Array(text.utf8))
        #expect(events.count == 4)
        #expect(events[0] == .spoolBody(directory: Self.spoolDirectory))
        #expect(events[1] == .bodyPart(ArraySlice("hello".utf8)))
        let post = try #require(Self.requests(events).first)
        #expect(post.body.isEmpty && post.bodyFile == nil && post.method == "POST")
        // A request without a body is not spooled, even on a spooling route.
        #expect(Self.requests(events).last?.method == "GET")
        // Fed byte by byte: the same events once the parts are joined.
        var byByte = Self.spoolingParser()
        let pieces = Array(text.utf8).flatMap { byByte.feed([$0]) }
        #expect(Self.joinParts(pieces) == events)
        // Other routes keep their bodies in memory.
        var other = Self.spoolingParser()
        let plain = other.feed(Array("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi".utf8))
        #expect(plain.count == 1 && Self.requests(plain).first?.body == Array("hi".utf8))
    }

    @Test func spooledChunkedBodyAndItsLimit() {
        var parser = Self.spoolingParser()
        let head = parser.feed(Array("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n".utf8))
        // The spool is set up before the client is told to send the body.
        #expect(head == [.spoolBody(directory: Self.spoolDirectory), .continueExpected])
        let body = parser.feed(Array("4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n".utf8))
        #expect(Self.joinParts(body).first == .bodyPart(ArraySlice("abcdef".utf8)))
        #expect(Self.requests(body).count == 1)
        // The limit counts spooled bytes: the chunk that passes 10 is refused before its data arrives.
        var over = Self.spoolingParser()
        let refused = over.feed(Array("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n3\r\n".utf8))
        #expect(refused.last == .failure(HTTPParseError(status: 413, "body larger than 10 bytes")))
        #expect(Self.joinParts(refused).dropLast().last == .bodyPart(ArraySlice("12345678".utf8)))
        // A Content-Length over the limit is refused before anything is spooled.
        var declared = Self.spoolingParser()
        #expect(declared.feed(Array("POST /up HTTP/1.1\r\nContent-Length: 11\r\n\r\n".utf8))
            == [.failure(HTTPParseError(status: 413, "body larger than 10 bytes"))])
        // An empty body still gets its (empty) spool, so the handler always finds a file.
        var empty = Self.spoolingParser()
        let events = empty.feed(Array("POST /up HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(events.count == 2 && events[0] == .spoolBody(directory: Self.spoolDirectory))
    }

    @Test func expectContinueIsReportedAfterHeaders() {
        var parser = HTTPRequestParser()
        let head = parser.feed(Array("POST /up HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-Continue\r\n\r\n".utf8))
        #expect(head == [.continueExpected])
        let rest = parser.feed(Array("body".utf8))
        #expect(Self.requests(rest).first?.body == Array("body".utf8))
    }

    @Test func expectContinueIsNotReportedWhenRefusedOrPointless() {
        let limit: @Sendable (String, String) -> Int = { _, _ in 10 }
        let tooBig = Self.parse("POST / HTTP/1.1\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n", bodyLimit: limit)
        #expect(tooBig == [.failure(HTTPParseError(status: 413, "body larger than 10 bytes"))])
        // No body to wait for, and HTTP/1.0 clients do not know 100 Continue.
        #expect(Self.parse("POST / HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n").count == 1)
        let old = Self.parse("POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx")
        #expect(old.count == 1 && Self.requests(old).count == 1)
    }

    @Test func queryDecoding() throws {
        let request = try #require(Self.requests(Self.parse(
            "GET /search?q=hello%20world&x=a+b&x=c&flag&empty=&=novalue&&enc%3Dkey=%2B1 HTTP/1.1\r\n\r\n")).first)
        #expect(request.query == ["q": "hello world", "x": "c", "flag": "", "empty": "", "": "novalue", "enc=key": "+1"])
    }

    @Test func pathIsPercentDecoded() throws {
        let request = try #require(Self.requests(Self.parse("GET /files/a%20b/%C3%A9+x HTTP/1.1\r\n\r\n")).first)
        #expect(request.path == "/files/a b/é+x")
        #expect(request.target == "/files/a%20b/%C3%A9+x")
    }

    @Test func otherTargetForms() throws {
        let absolute = try #require(Self.requests(Self.parse("GET http://example.com:8080/a/b?c=1 HTTP/1.1\r\n\r\n")).first)
        #expect(absolute.path == "/a/b")
        #expect(absolute.query == ["c": "1"])
        let bare = try #require(Self.requests(Self.parse("GET http://example.com HTTP/1.1\r\n\r\n")).first)
        #expect(bare.path == "/")
        let star = try #require(Self.requests(Self.parse("OPTIONS * HTTP/1.1\r\n\r\n")).first)
        #expect(star.path == "*")
    }

    @Test func requestInitDecodesLikeTheParser() throws {
        let request = try HTTPRequest(method: "post", target: "/v1/models/a%20b:predict?top_k=3")
        #expect(request.method == "POST")
        #expect(request.path == "/v1/models/a b:predict")
        #expect(request.query == ["top_k": "3"])
        #expect(throws: HTTPParseError.self) { try HTTPRequest(method: "GET", target: "/%zz") }
    }

    @Test func leadingEmptyLinesCountAgainstTheRequestLineLimit() {
        let limits = HTTPLimits(maxRequestLineBytes: 32)
        #expect(Self.requests(Self.parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n", limits: limits)).count == 1)
        #expect(Self.failureStatus(String(repeating: "\r\n", count: 20), limits: limits) == 414)
    }
}

@Suite struct HTTPHeadersTests {
    @Test func lookupIsCaseInsensitiveAndOrderIsKept() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "Set-Cookie": "a=1"]
        headers.add(name: "set-cookie", value: "b=2")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers.values(for: "SET-COOKIE") == ["a=1", "b=2"])
        #expect(headers.count == 3)
        headers["Set-Cookie"] = "c=3"
        #expect(headers.values(for: "set-cookie") == ["c=3"])
        #expect(headers.map(\.name) == ["Content-Type", "Set-Cookie"])
        headers["content-type"] = nil
        #expect(!headers.contains("Content-Type"))
    }

    @Test func tokens() {
        let headers: HTTPHeaders = ["Connection": "keep-alive, Upgrade", "connection": "Close"]
        #expect(headers.containsToken("close", in: "Connection"))
        #expect(headers.containsToken("upgrade", in: "connection"))
        #expect(!headers.containsToken("keep", in: "Connection"))
    }
}
