import Testing
@testable import SequentHTTP

@Suite struct RouterTests {
    /// A router whose handlers answer "<name> <sorted params>".
    static func makeRouter(errorResponder: @escaping @Sendable (Int, String) -> HTTPResponse = HTTPResponse.plainError)
        -> Router {
        let router = Router(defaultBodyLimit: 1000, errorResponder: errorResponder)
        func add(_ method: String, _ pattern: String, _ name: String, bodyLimit: Int? = nil) {
            router.add(method, pattern, bodyLimit: bodyLimit) { request, params in
                let rendered = params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                return .text("\(name) \(request.method) \(rendered)")
            }
        }
        add("GET", "/", "root")
        add("GET", "/v1/jobs", "list")
        add("POST", "/v1/jobs", "submit", bodyLimit: 64)
        add("GET", "/v1/jobs/{id}", "job")
        add("GET", "/v1/jobs/stats", "stats")
        add("GET", "/v1/jobs/{id}/epochs", "epochs")
        add("POST", "/v1/jobs/{id}/cancel", "cancel")
        add("GET", "/v1/models/{id}", "model")
        add("POST", "/v1/models/{id}/predict", "predict", bodyLimit: 10_000)
        add("POST", "/v1/models/{id}:predict", "tfpredict", bodyLimit: 20_000)
        add("GET", "/files/v{version}.json", "versioned")
        add("DELETE", "/v1/datasets/{name}", "delete")
        return router
    }

    static func body(_ router: Router, _ method: String, _ target: String) throws -> (Int, String) {
        let response = router.handle(try HTTPRequest(method: method, target: target))
        return (response.status, String(decoding: response.body, as: UTF8.self))
    }

    @Test func parametersAreExtracted() throws {
        let router = Self.makeRouter()
        #expect(try Self.body(router, "GET", "/v1/jobs/j_42/epochs") == (200, "epochs GET id=j_42"))
        #expect(try Self.body(router, "POST", "/v1/jobs/j%201/cancel") == (200, "cancel POST id=j 1"))
        #expect(try Self.body(router, "GET", "/files/v2.json") == (200, "versioned GET version=2"))
        #expect(try Self.body(router, "GET", "/") == (200, "root GET "))
    }

    @Test func suffixPatternIsDistinctFromSubpath() throws {
        let router = Self.makeRouter()
        #expect(try Self.body(router, "POST", "/v1/models/abc:predict") == (200, "tfpredict POST id=abc"))
        #expect(try Self.body(router, "POST", "/v1/models/abc/predict") == (200, "predict POST id=abc"))
        // Colons inside the id are fine; only the final ":predict" is the suffix.
        #expect(try Self.body(router, "POST", "/v1/models/a:b:predict") == (200, "tfpredict POST id=a:b"))
        // The parameter may not be empty.
        #expect(try Self.body(router, "POST", "/v1/models/:predict").0 == 405)
        // The path is the TF Serving resource, whatever the method: GET there is not a model lookup.
        let get = router.handle(try HTTPRequest(method: "GET", target: "/v1/models/abc:predict"))
        #expect(get.status == 405)
        #expect(get.headers["Allow"] == "OPTIONS, POST")
        #expect(try Self.body(router, "GET", "/v1/models/abc") == (200, "model GET id=abc"))
    }

    @Test func optionsOnAKnownPathIs204WithAllow() throws {
        let router = Self.makeRouter()
        let jobs = router.handle(try HTTPRequest(method: "OPTIONS", target: "/v1/jobs"))
        #expect(jobs.status == 204)
        #expect(jobs.body.isEmpty)
        #expect(jobs.headers["Allow"] == "GET, HEAD, OPTIONS, POST")
        let tf = router.handle(try HTTPRequest(method: "OPTIONS", target: "/v1/models/m:predict"))
        #expect(tf.status == 204 && tf.headers["Allow"] == "OPTIONS, POST")
        #expect(try Self.body(router, "OPTIONS", "/nope").0 == 404)
        // A route of its own for OPTIONS wins.
        router.add("OPTIONS", "/v1/jobs") { _, _ in .text("custom") }
        #expect(try Self.body(router, "OPTIONS", "/v1/jobs") == (200, "custom"))
    }

    @Test func literalSegmentsBeatParameters() throws {
        let router = Self.makeRouter()
        #expect(try Self.body(router, "GET", "/v1/jobs/stats") == (200, "stats GET "))
        #expect(try Self.body(router, "GET", "/v1/jobs/other") == (200, "job GET id=other"))
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let router = Self.makeRouter()
        #expect(try Self.body(router, "GET", "/nope").0 == 404)
        #expect(try Self.body(router, "GET", "/v1/jobs/").0 == 404)  // trailing slash is another path
        #expect(try Self.body(router, "GET", "/v1/jobs/a/b/c").0 == 404)
        let response = router.handle(try HTTPRequest(method: "DELETE", target: "/v1/jobs"))
        #expect(response.status == 405)
        #expect(response.headers["Allow"] == "GET, HEAD, OPTIONS, POST")
        let cancel = router.handle(try HTTPRequest(method: "GET", target: "/v1/jobs/x/cancel"))
        #expect(cancel.status == 405)
        #expect(cancel.headers["allow"] == "OPTIONS, POST")
    }

    @Test func headIsServedByGet() throws {
        let router = Self.makeRouter()
        #expect(try Self.body(router, "HEAD", "/v1/jobs/j_1") == (200, "job HEAD id=j_1"))
        router.add("HEAD", "/v1/jobs/{id}") { _, _ in .empty(status: 200) }
        #expect(try Self.body(router, "HEAD", "/v1/jobs/j_1") == (200, ""))
        guard case .found(let route, let params) = router.match(method: "head", path: "/v1/models/m") else {
            Issue.record("HEAD did not match the GET route")
            return
        }
        #expect(route.method == "GET" && route.pattern == "/v1/models/{id}" && params == ["id": "m"])
    }

    @Test func routesAreListedInOrder() {
        let routes = Self.makeRouter().routes
        #expect(routes.count == 12)
        #expect(routes[0] == Router.Route(method: "GET", pattern: "/", bodyLimit: nil))
        #expect(routes.map(\.description).contains("POST /v1/models/{id}:predict"))
    }

    @Test func bodyLimitComesFromTheRoute() {
        let router = Self.makeRouter()
        #expect(router.bodyLimit(method: "POST", path: "/v1/jobs") == 64)
        #expect(router.bodyLimit(method: "POST", path: "/v1/models/x:predict") == 20_000)
        #expect(router.bodyLimit(method: "POST", path: "/v1/models/x/predict") == 10_000)
        #expect(router.bodyLimit(method: "GET", path: "/v1/jobs") == 1000)
        #expect(router.bodyLimit(method: "POST", path: "/unknown") == 1000)
    }

    @Test func errorsUseTheErrorResponder() throws {
        let router = Self.makeRouter { status, message in
            .json(bytes: Array("{\"error\":{\"code\":\(status),\"message\":\"\(message)\"}}".utf8), status: status)
        }
        let notFound = router.handle(try HTTPRequest(method: "GET", target: "/missing"))
        #expect(notFound.status == 404)
        #expect(notFound.headers["Content-Type"] == "application/json")
        #expect(String(decoding: notFound.body, as: UTF8.self)
            == "{\"error\":{\"code\":404,\"message\":\"no route for /missing\"}}")
        let notAllowed = router.handle(try HTTPRequest(method: "PUT", target: "/v1/jobs"))
        #expect(notAllowed.status == 405 && notAllowed.headers["Content-Type"] == "application/json")
    }
}

@Suite struct ServerSentEventsTests {
    @Test func eventFormatting() {
        let event = ServerSentEvents.event("epoch", data: "{\"epoch\": 1}", id: "7")
        #expect(String(decoding: event, as: UTF8.self) == "id: 7\nevent: epoch\ndata: {\"epoch\": 1}\n\n")
        let multi = ServerSentEvents.event(data: "a\nb\r\nc\rd\n", retry: 1000)
        #expect(String(decoding: multi, as: UTF8.self) == "retry: 1000\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n")
        let injected = ServerSentEvents.event("a\nevent: b", data: "x")
        #expect(String(decoding: injected, as: UTF8.self) == "event: a event: b\ndata: x\n\n")
        #expect(String(decoding: ServerSentEvents.heartbeat, as: UTF8.self) == ": keep-alive\n\n")
    }

    @Test func responseHeadersAndTestWriter() {
        let response = ServerSentEvents.response { writer in
            for i in 1...3 { writer.write(ServerSentEvents.event("tick", data: "\(i)")) }
        }
        #expect(response.isStream)
        #expect(response.headers["content-type"] == "text/event-stream")
        #expect(response.headers["Cache-Control"] == "no-cache")
        let collected = Collector()
        let writer = ResponseStreamWriter { collected.append($0) }
        response.producer?(writer)
        #expect(collected.text == "event: tick\ndata: 1\n\nevent: tick\ndata: 2\n\nevent: tick\ndata: 3\n\n")
        #expect(writer.bytesWritten == collected.text.utf8.count)
        #expect(writer.isOpen)
        let closed = Collector()
        writer.onClose { _ = closed.append([1]) }
        writer.close()
        #expect(!writer.isOpen && !writer.write("late") && closed.text == "\u{1}")
    }
}

@Suite struct ResponseHeadTests {
    static func head(_ response: HTTPResponse, bodyLength: Int?, chunked: Bool = false, keepAlive: Bool = true,
                     version: String = "HTTP/1.1") -> String {
        String(decoding: ResponseHead.encode(response, bodyLength: bodyLength, chunked: chunked, keepAlive: keepAlive,
                                             requestVersion: version), as: UTF8.self)
    }

    @Test func framingAndHousekeepingHeaders() {
        var response = HTTPResponse.json(bytes: Array("{}".utf8), status: 201)
        response.headers["Content-Length"] = "999"
        response.headers["Location"] = "/v1/jobs/j_1"
        let text = Self.head(response, bodyLength: 2)
        #expect(text.hasPrefix("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /v1/jobs/j_1\r\n"))
        #expect(text.contains("Content-Length: 2\r\n") && !text.contains("999"))
        #expect(text.contains("\r\nDate: ") && text.contains(" GMT\r\n"))
        #expect(text.contains("Server: sequent\r\n"))
        #expect(!text.contains("Connection"))
        #expect(text.hasSuffix("\r\n\r\n"))
        #expect(Self.head(response, bodyLength: 2, keepAlive: false).contains("Connection: close\r\n"))
        #expect(Self.head(response, bodyLength: 2, version: "HTTP/1.0").contains("Connection: keep-alive\r\n"))
    }

    @Test func noContentHasNoLengthAndStreamsAreChunked() {
        let noContent = Self.head(.empty(), bodyLength: 0)
        #expect(noContent.hasPrefix("HTTP/1.1 204 No Content\r\n") && !noContent.contains("Content-Length"))
        let stream = Self.head(.stream { _ in }, bodyLength: nil, chunked: true)
        #expect(stream.contains("Transfer-Encoding: chunked\r\n") && !stream.contains("Content-Length"))
    }

    @Test func headerLineBreaksCannotSplitTheResponse() {
        var response = HTTPResponse.text("x")
        response.headers.add(name: "X-Evil", value: "a\r\nSet-Cookie: b")
        response.headers.add(name: "Bad Name", value: "c")
        let text = Self.head(response, bodyLength: 1)
        #expect(text.contains("X-Evil: a Set-Cookie: b\r\n"))
        #expect(!text.contains("Bad Name"))
    }

    @Test func reasonPhrasesAndDate() {
        #expect(HTTPResponse.reasonPhrase(for: 413) == "Content Too Large")
        #expect(HTTPResponse.reasonPhrase(for: 431) == "Request Header Fields Too Large")
        #expect(HTTPResponse.reasonPhrase(for: 599) == "Server Error")
        #expect(HTTPDate.string(from: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
