import Dispatch
import Foundation
import Testing
@testable import SequentHTTP

/// Clients that try to hold the server hostage: many idle sockets, headers or bodies trickled in, streams nobody
/// reads, more requests than handler threads. Each must cost the server a bounded amount and never stop it
/// answering others.
@Suite struct SlowClientTests {
    static let ok: @Sendable (HTTPRequest) -> HTTPResponse = { _ in .text("ok") }

    @Test func idleAndHalfSentConnectionsDoNotStopOthers() throws {
        try withServer({ $0.handlerThreads = 2 }, handler: Self.ok) { server in
            // Far more waiting connections than handler threads: none of them holds one.
            var idle: [RawClient] = []
            for _ in 0..<200 { idle.append(try RawClient(port: server.port)) }
            var halfSent: [RawClient] = []
            for _ in 0..<100 {
                let client = try RawClient(port: server.port)
                try client.send("GET / HTTP/1.1\r\nHost: x\r\n")
                halfSent.append(client)
            }
            for _ in 0..<5 {
                let client = try RawClient(port: server.port)
                try client.send("GET / HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().text == "ok")
            }
            // The half-sent requests are still waiting, not refused, and complete when their headers do.
            try halfSent[0].send("\r\n")
            #expect(try halfSent[0].readResponse().text == "ok")
            #expect(server.connectionCount >= 300)
        }
    }

    @Test func headersTrickledInPastTheHeaderDeadlineGet408() throws {
        try withServer({ $0.headerTimeout = 0.4; $0.readTimeout = 5 }, handler: Self.ok) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/1.1\r\n")
            let started = Date()
            // Each line comes well within the read timeout, but the whole header section never ends.
            var refused = false
            for _ in 0..<40 where !refused {
                do {
                    try client.send("X-Trickle: 1\r\n")
                } catch {
                    refused = true
                }
                Thread.sleep(forTimeInterval: 0.05)
                if Date().timeIntervalSince(started) > 0.6 { break }
            }
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(response.text.contains("headers"))
            #expect(Date().timeIntervalSince(started) >= 0.35)
        }
    }

    @Test func bodyBelowTheRateFloorGets408() throws {
        let configure: (inout HTTPServer.Configuration) -> Void = {
            $0.minBodyBytesPerSecond = 1000
            $0.bodyRateWindow = 0.3
            $0.readTimeout = 5
        }
        try withServer(configure, handler: HTTPServerTests.echo) { server in
            let client = try RawClient(port: server.port)
            try client.send("POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
            var status = 0
            // A byte every 50 ms is 20 bytes/s: far below the floor, though never silent for long.
            for _ in 0..<60 {
                do {
                    try client.send("x")
                } catch {
                    break
                }
                Thread.sleep(forTimeInterval: 0.05)
                if try client.hasData() { break }
            }
            status = try client.readResponse().status
            #expect(status == 408)
        }
    }

    @Test func aStreamNobodyReadsIsDroppedAtItsBufferLimit() throws {
        let ended = DispatchSemaphore(value: 0)
        let writes = Collector()
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { _ in
            .stream { writer in
                writer.onClose { ended.signal() }
                Thread.detachNewThread {
                    let chunk = [UInt8](repeating: 65, count: 64 * 1024)
                    // Far more than the socket buffers and the stream limit hold; writes never block.
                    for _ in 0..<2000 where writer.write(chunk) { _ = writes.append([1]) }
                }
            }
        }
        try withServer({ $0.maxStreamBufferBytes = 1 << 20 }, handler: handler) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/1.1\r\n\r\n")
            // The client reads nothing.
            #expect(ended.wait(timeout: .now() + 10) == .success)
            let deadline = Date().addingTimeInterval(3)
            while server.connectionCount > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            #expect(server.connectionCount == 0)
            #expect(writes.text.utf8.count < 2000)
        }
    }

    @Test func requestsPastTheHandlerQueueGet503() throws {
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let handler: @Sendable (HTTPRequest) -> HTTPResponse = { request in
            if request.path == "/block" {
                entered.signal()
                release.wait()
            }
            return .text("done")
        }
        try withServer({ $0.handlerThreads = 1; $0.maxQueuedRequests = 1 }, handler: handler) { server in
            let busy = try RawClient(port: server.port)
            try busy.send("GET /block HTTP/1.1\r\n\r\n")
            #expect(entered.wait(timeout: .now() + 3) == .success)
            let queued = try RawClient(port: server.port)
            try queued.send("GET /queued HTTP/1.1\r\n\r\n")
            // Wait until the second request sits in the queue, so the third finds it full.
            let deadline = Date().addingTimeInterval(3)
            while server.gate.waitingCount < 1 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
            let refused = try RawClient(port: server.port)
            try refused.send("GET /third HTTP/1.1\r\n\r\n")
            let response = try refused.readResponse()
            #expect(response.status == 503)
            #expect(response.headers["Retry-After"] == "1")
            release.signal()
            #expect(try busy.readResponse().text == "done")
            #expect(try queued.readResponse().text == "done")
        }
    }

    @Test func descriptorLimitIsRaisedToFitTheConnectionCap() throws {
        try withServer({ $0.maxConnections = 4000 }, handler: Self.ok) { server in
            var limit = rlimit()
            #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
            // Either the cap fits under the raised soft limit, or it was lowered to what fits.
            #expect(Int(limit.rlim_cur) >= server.effectiveMaxConnections + 256)
            #expect(server.effectiveMaxConnections == min(4000, Int(limit.rlim_max) - 256))
        }
    }
}

extension RawClient {
    /// Whether the server has sent something (or closed) that has not been read yet, without waiting.
    func hasData() throws -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) > 0
    }
}
