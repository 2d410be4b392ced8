import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import SequentHTTP

/// End-to-end tests: a real server on 127.0.0.1 and a real client (raw sockets with timeouts, and URLSession).
@Suite struct HTTPServerTests {
    /// Answers "<method> <path> <body length> <body>".
    static let echo: @Sendable (HTTPRequest) -> HTTPResponse = { request in
        .text("\(request.method) \(request.path) \(request.body.count) \(String(decoding: request.body, as: UTF8.self))")
    }

    @Test func keepAliveServesTwoRequestsOnOneConnection() throws {
        try withServer(handler: { .text($0.remoteAddress) }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = try client.readResponse()
            try client.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            let second = try client.readResponse()
            #expect(first.status == 200 && second.status == 200)
            #expect(first.text.hasPrefix("127.0.0.1:"))
            #expect(first.text == second.text)  // same client port: the same connection
            #expect(first.headers["Connection"] == nil)
            #expect(first.headers["Server"] == "sequent")
            #expect(first.headers["Date"]?.hasSuffix(" GMT") == true)
            #expect(first.headers["Content-Length"] == "\(first.body.count)")
            #expect(server.connectionCount == 1)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer(handler: Self.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /3 HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "GET /1 0 ")
            #expect(try client.readResponse().text == "POST /2 2 hi")
            #expect(try client.readResponse().text == "GET /3 0 ")
        }
    }

    @Test func connectionCloseAndHTTP10CloseAfterTheResponse() throws {
        try withServer(handler: Self.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200 && response.headers["Connection"] == "close")
            #expect(try client.isClosedByServer())

            let old = try RawClient(port: server.port)
            try old.send("GET /old HTTP/1.0\r\n\r\n")
            #expect(try old.readResponse().headers["Connection"] == "close")
            #expect(try old.isClosedByServer())

            let oldKeepAlive = try RawClient(port: server.port)
            try oldKeepAlive.send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try oldKeepAlive.readResponse().headers["Connection"] == "keep-alive")
            try oldKeepAlive.send("GET /2 HTTP/1.0\r\n\r\n")
            #expect(try oldKeepAlive.readResponse().text == "GET /2 0 ")
        }
    }

    @Test func chunkedUpload() throws {
        try withServer(handler: Self.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            try client.send("5\r\nhello\r\n")
            try client.send("1;note=x\r\n \r\n6\r\nworld!\r\n")
            try client.send("0\r\nX-Sum: 1\r\n\r\n")
            #expect(try client.readResponse().text == "POST /up 12 hello world!")
        }
    }

    @Test func expectContinueFlow() throws {
        try withServer(handler: Self.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("POST /up HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readHead()
            #expect(interim.status == 100)
            try client.send("hello")
            let response = try client.readResponse()
            #expect(response.status == 200 && response.text == "POST /up 5 hello")
        }
    }

    @Test func oversizedBodyIs413WithoutReadingIt() throws {
        try withServer({ $0.bodyLimit = { _, path in path == "/big" ? 1 << 20 : 10 } }, handler: Self.echo) { server in
            let expecting = try RawClient(port: server.port)
            try expecting.send("POST /up HTTP/1.1\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
            let refused = try expecting.readResponse()
            #expect(refused.status == 413)  // and no 100 Continue before it
            #expect(refused.headers["Connection"] == "close")
            #expect(try expecting.isClosedByServer())

            let plain = try RawClient(port: server.port)
            try plain.send("PUT /up HTTP/1.1\r\nContent-Length: 11\r\n\r\n")
            #expect(try plain.readResponse().status == 413)

            // The limit is per path: the same size is fine elsewhere.
            let big = try RawClient(port: server.port)
            let body = String(repeating: "x", count: 200_000)
            try big.send("POST /big HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            #expect(try big.readResponse().text == "POST /big 200000 " + body)
        }
    }

    // MARK: - Bodies spooled to disk

    /// A fresh directory for spool files; removed by the caller.
    static func spoolDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sequent-spool-\(UUID().uuidString)")
    }

    /// Answers "<in-memory body length> <spooled file's length> <file contents>" and records the file's path.
    final class SpoolEcho: @unchecked Sendable {
        // @unchecked: `paths` is only touched under `lock`.
        private let lock = NSLock()
        private var seen: [String] = []
        var paths: [String] { lock.withLock { seen } }

        func handle(_ request: HTTPRequest) -> HTTPResponse {
            guard let file = request.bodyFile, let data = FileManager.default.contents(atPath: file.path) else {
                return .text("no file", status: 500)
            }
            lock.withLock { seen.append(file.path) }
            return .text("\(request.body.count) \(data.count) \(String(decoding: data, as: UTF8.self))")
        }
    }

    static func spoolingServer(_ directory: URL, limit: Int = 1 << 20) -> (inout HTTPServer.Configuration) -> Void {
        { configuration in
            configuration.bodyPolicy = { _, path in
                HTTPBodyPolicy(limit: limit, spoolDirectory: path == "/spool" ? directory : nil)
            }
        }
    }

    @Test func spooledBodiesReachTheHandlerAsAFileThatIsDeletedAfterwards() throws {
        let directory = Self.spoolDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let echo = SpoolEcho()
        try withServer(Self.spoolingServer(directory), handler: echo.handle) { server in
            let client = try RawClient(port: server.port)
            // Content-Length, sent in pieces so the file is written as they arrive.
            try client.send("POST /spool HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello")
            Thread.sleep(forTimeInterval: 0.05)
            try client.send(" world")
            #expect(try client.readResponse().text == "0 11 hello world")
            // Chunked, on the same connection.
            try client.send("POST /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
            try client.send("4\r\ndefg\r\n0\r\n\r\n")
            #expect(try client.readResponse().text == "0 7 abcdefg")
            // Empty bodies get an empty file.
            try client.send("POST /spool HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            #expect(try client.readResponse().text == "0 0 ")
            // A large body, with 100-continue.
            let big = [UInt8]((0..<300_000).map { UInt8(0x20 + $0 % 95) })  // printable, so the echo is UTF-8
            try client.send("POST /spool HTTP/1.1\r\nContent-Length: \(big.count)\r\nExpect: 100-continue\r\n\r\n")
            #expect(try client.readHead().status == 100)
            try client.send(big)
            let answer = try client.readResponse()
            #expect(answer.text.hasPrefix("0 300000  !\""))
            let same = answer.body.dropFirst(9).elementsEqual(big)  // (not #expect(==): its diff of 300 kB is slow)
            #expect(same)
            // Other routes are untouched.
            try client.send("POST /other HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
            #expect(try client.readResponse().status == 500)
        }
        #expect(echo.paths.count == 4)
        #expect(echo.paths.allSatisfy { $0.hasPrefix(directory.path + "/.spool-") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func spooledBodiesOverTheLimitAre413AndLeaveNoFile() throws {
        let directory = Self.spoolDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let echo = SpoolEcho()
        try withServer(Self.spoolingServer(directory, limit: 100), handler: echo.handle) { server in
            let declared = try RawClient(port: server.port)
            try declared.send("POST /spool HTTP/1.1\r\nContent-Length: 101\r\n\r\n")
            #expect(try declared.readResponse().status == 413)
            // Chunked: refused at the chunk that passes the limit, with part of the body already on disk.
            let chunked = try RawClient(port: server.port)
            try chunked.send("POST /spool HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n"
                             + String(repeating: "x", count: 80) + "\r\n")
            Thread.sleep(forTimeInterval: 0.05)
            try chunked.send("50\r\n")
            let refused = try chunked.readResponse()
            #expect(refused.status == 413 && refused.text.contains("100 bytes"))
            #expect(try chunked.isClosedByServer())
            // A client that leaves in the middle of a body leaves nothing behind either.
            do {
                let quitter = try RawClient(port: server.port)
                try quitter.send("POST /spool HTTP/1.1\r\nContent-Length: 50\r\n\r\nonly some")
                Thread.sleep(forTimeInterval: 0.1)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).count == 1)
            }  // closed here
            let deadline = Date().addingTimeInterval(2)
            while server.connectionCount > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        }
        #expect(echo.paths.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func headHasHeadersButNoBody() throws {
        try withServer(handler: { _ in .text("hello world") }) { server in
            let client = try RawClient(port: server.port)
            try client.send("HEAD / HTTP/1.1\r\n\r\n")
            let head = try client.readResponse(forHead: true)
            #expect(head.status == 200 && head.headers["Content-Length"] == "11")
            // Had a body been sent, it would now be read as the next status line.
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "hello world")
        }
    }

    @Test func connectionsPastTheLimitGet503() throws {
        try withServer({ $0.maxConnections = 1; $0.retryAfter = 2 }, handler: Self.echo) { server in
            let first = try RawClient(port: server.port)
            try first.send("GET /1 HTTP/1.1\r\n\r\n")
            #expect(try first.readResponse().status == 200)

            let second = try RawClient(port: server.port)
            try second.send("GET /2 HTTP/1.1\r\n\r\n")
            let busy = try second.readResponse()
            #expect(busy.status == 503)
            #expect(busy.headers["Retry-After"] == "2")
            #expect(busy.headers["Connection"] == "close")
            #expect(try second.isClosedByServer())

            try first.send("GET /3 HTTP/1.1\r\n\r\n")
            #expect(try first.readResponse().status == 200)
        }
    }

    @Test func stalledRequestGets408AndIdleConnectionIsClosed() throws {
        try withServer({ $0.readTimeout = 0.3; $0.idleTimeout = 0.3 }, handler: Self.echo) { server in
            let stalled = try RawClient(port: server.port)
            try stalled.send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
            var response: ClientResponse?
            let waited = try measure { response = try stalled.readResponse() }
            #expect(response?.status == 408)
            #expect(response?.headers["Connection"] == "close")
            #expect(waited >= 0.25 && waited < 2.5)
            #expect(try stalled.isClosedByServer())

            let idle = try RawClient(port: server.port)
            try idle.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try idle.readResponse().status == 200)
            var closed = false
            let idled = try measure { closed = try idle.isClosedByServer() }
            #expect(closed && idled >= 0.25 && idled < 2.5)
        }
    }

    @Test func malformedRequestGetsErrorFromTheErrorResponderAndClose() throws {
        let configure: (inout HTTPServer.Configuration) -> Void = {
            $0.errorResponder = { status, message in .json(bytes: Array("{\"error\":\"\(message)\"}".utf8), status: status) }
        }
        try withServer(configure, handler: Self.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/2.0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 505)
            #expect(response.headers["Content-Type"] == "application/json")
            #expect(response.text == "{\"error\":\"HTTP version not supported\"}")
            #expect(try client.isClosedByServer())

            let smuggler = try RawClient(port: server.port)
            try smuggler.send("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            #expect(try smuggler.readResponse().status == 400)
        }
    }

    @Test func serverSentEventsStreamThreeEventsAndEnd() throws {
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { request in
            guard request.path == "/events" else { return .text("after") }
            return ServerSentEvents.response { writer in
                // Written from another thread after the producer returned: the stream is a registered writer.
                Thread.detachNewThread {
                    for i in 1...3 {
                        #expect(writer.write(ServerSentEvents.event("epoch", data: "{\"epoch\":\(i)}", id: "\(i)")))
                    }
                    writer.close()
                    #expect(!writer.write("after the end"))
                }
            }
        }
        try withServer(handler: handler) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /events HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "text/event-stream")
            #expect(response.headers["Transfer-Encoding"] == "chunked")
            #expect(response.headers["Content-Length"] == nil)
            #expect(response.text == (1...3).map { "id: \($0)\nevent: epoch\ndata: {\"epoch\":\($0)}\n\n" }.joined())
            // The stream ended cleanly, so the connection is reusable.
            try client.send("GET /next HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "after")
        }
    }

    @Test func streamToHTTP10ClientIsUnframedAndClosed() throws {
        try withServer(handler: { _ in .stream { $0.write("one"); $0.write("two"); $0.close() } }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.headers["Transfer-Encoding"] == nil && response.headers["Connection"] == "close")
            #expect(response.text == "onetwo")
        }
    }

    @Test func shutdownEndsEventStreams() throws {
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { _ in
            ServerSentEvents.response { writer in
                writer.write(ServerSentEvents.event("hello", data: "1"))
                writer.onClose { #expect(!writer.write("late")) }
            }
        }
        try withServer(handler: handler) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /events HTTP/1.1\r\n\r\n")
            #expect(try client.readHead().status == 200)
            // The first event as one chunk; once it is here the producer is in its loop.
            #expect(try client.read(through: "data: 1\n\n\r\n") == "16\r\nevent: hello\ndata: 1\n\n\r\n")
            let took = measure { server.shutdown(gracePeriod: 5) }
            #expect(took < 2)
            // Then the last chunk and the close.
            #expect(try String(decoding: client.readToEnd(), as: UTF8.self) == "0\r\n\r\n")
        }
    }

    @Test func eventStreamEndsWhenTheClientLeaves() throws {
        let ended = DispatchSemaphore(value: 0)
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { _ in
            ServerSentEvents.response { writer in
                writer.write(ServerSentEvents.event(data: "first"))
                // No event ever comes; the client's departure must still end the stream.
                writer.onClose { ended.signal() }
            }
        }
        try withServer(handler: handler) { server in
            do {
                let client = try RawClient(port: server.port)
                try client.send("GET /events HTTP/1.1\r\n\r\n")
                #expect(try client.readHead().status == 200)
            }  // the client closes its socket here
            #expect(ended.wait(timeout: .now() + 3) == .success)
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequests() throws {
        let entered = DispatchSemaphore(value: 0)
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { request in
            guard request.path == "/slow" else { return .text("fast") }
            entered.signal()
            Thread.sleep(forTimeInterval: 0.3)
            return .text("done")
        }
        try withServer(handler: handler) { server in
            let idle = try RawClient(port: server.port)
            try idle.send("GET /fast HTTP/1.1\r\n\r\n")
            #expect(try idle.readResponse().text == "fast")

            let slow = try RawClient(port: server.port)
            try slow.send("GET /slow HTTP/1.1\r\n\r\n")
            #expect(entered.wait(timeout: .now() + 3) == .success)
            let took = measure { server.shutdown(gracePeriod: 5) }
            #expect(took >= 0.1 && took < 2)
            #expect(server.isShuttingDown && server.connectionCount == 0)

            let response = try slow.readResponse()
            #expect(response.status == 200 && response.text == "done")
            #expect(response.headers["Connection"] == "close")
            #expect(try slow.isClosedByServer())
            #expect(try idle.isClosedByServer())
            #expect(throws: TestFailure.self) { try RawClient(port: server.port) }
        }
    }

    @Test func shutdownGivesUpAfterTheGracePeriod() throws {
        let entered = DispatchSemaphore(value: 0)
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { _ in
            entered.signal()
            Thread.sleep(forTimeInterval: 1.5)
            return .text("too late")
        }
        try withServer(handler: handler) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(entered.wait(timeout: .now() + 3) == .success)
            let took = measure { server.shutdown(gracePeriod: 0.2) }
            #expect(took >= 0.15 && took < 1.4)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func accessLogHasOneLinePerRequest() throws {
        let recorder = LogRecorder()
        try withServer(logger: recorder.logger, handler: { _ in .text("12345") }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /logged?x=1 HTTP/1.1\r\n\r\nHEAD /logged HTTP/1.1\r\n\r\n")
            _ = try client.readResponse()
            _ = try client.readResponse(forHead: true)
            // The access line is written after the response, so the client can be faster than the log: wait.
            var lines = recorder.entries.filter { $0.message.contains("/logged") }
            let deadline = Date().addingTimeInterval(5)
            while lines.count < 2 && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.01)
                lines = recorder.entries.filter { $0.message.contains("/logged") }
            }
            #expect(lines.map(\.message) == ["GET /logged 200", "HEAD /logged 200"])
            let metadata = try #require(lines.first?.metadata)
            #expect(metadata["bytes"] == "5")
            #expect(lines.last?.metadata["bytes"] == "0")
            #expect(metadata["status"] == "200" && metadata["method"] == "GET" && metadata["path"] == "/logged")
            #expect(metadata["remote"]?.description.hasPrefix("127.0.0.1:") == true)
            #expect(metadata["duration_ms"].flatMap { Double($0.description) } != nil)
        }
    }

    @Test func urlSessionClient() async throws {
        let router = Router()
        router.add("GET", "/v1/jobs/{id}") { request, params in
            .json(bytes: Array("{\"id\":\"\(params["id"]!)\",\"q\":\"\(request.query["q"] ?? "")\"}".utf8))
        }
        router.add("POST", "/v1/jobs") { request, _ in
            var response = HTTPResponse.json(bytes: request.body, status: 201)
            response.headers["Location"] = "/v1/jobs/j_1"
            return response
        }
        var configuration = HTTPServer.Configuration()
        configuration.bodyLimit = { router.bodyLimit(method: $0, path: $1) }
        let server = HTTPServer(configuration: configuration, logger: quietLogger) { router.handle($0) }
        try server.start()
        defer { server.shutdown(gracePeriod: 1) }

        let sessionConfiguration = URLSessionConfiguration.ephemeral
        sessionConfiguration.timeoutIntervalForRequest = 5
        sessionConfiguration.timeoutIntervalForResource = 5
        let session = URLSession(configuration: sessionConfiguration)
        defer { session.finishTasksAndInvalidate() }
        let base = "http://127.0.0.1:\(server.port)"

        let (data, response) = try await session.data(from: URL(string: "\(base)/v1/jobs/j_7?q=a%20b+c")!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self) == "{\"id\":\"j_7\",\"q\":\"a b c\"}")

        var post = URLRequest(url: URL(string: "\(base)/v1/jobs")!)
        post.httpMethod = "POST"
        post.httpBody = Data("{\"name\":\"x\"}".utf8)
        post.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (created, createdResponse) = try await session.data(for: post)
        let http = try #require(createdResponse as? HTTPURLResponse)
        #expect(http.statusCode == 201)
        #expect(http.value(forHTTPHeaderField: "Location") == "/v1/jobs/j_1")
        #expect(String(decoding: created, as: UTF8.self) == "{\"name\":\"x\"}")

        let (_, missing) = try await session.data(from: URL(string: "\(base)/nope")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
    }
}
