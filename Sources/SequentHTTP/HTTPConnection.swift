import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves one accepted connection with blocking I/O on its own queue: read, parse, call the handler, write,
/// until the client closes, a timeout passes, an error response is sent, or the server shuts down.
/// Lives entirely on that queue, so it needs no locking of its own.
final class HTTPConnection {
    private static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private static let lastChunk = Array("0\r\n\r\n".utf8)
    /// Bodies up to this size go out in the same send as the head (one segment with TCP_NODELAY).
    private static let coalesceLimit = 16 * 1024

    private let server: HTTPServer
    private let fd: Int32
    private let remoteAddress: String
    private var parser: HTTPRequestParser
    /// The file the current request's body is being written to, for routes that spool bodies to disk.
    private var spool: SpoolFile?

    init(server: HTTPServer, fd: Int32, remoteAddress: String) {
        self.server = server
        self.fd = fd
        self.remoteAddress = remoteAddress
        let configuration = server.configuration
        if let bodyPolicy = configuration.bodyPolicy {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyPolicy: bodyPolicy)
        } else {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyLimit: configuration.bodyLimit)
        }
    }

    func run() {
        defer {
            // A client that goes away (or times out) in the middle of a spooled body leaves no file behind.
            spool?.remove()
            server.connectionFinished(fd)
        }
        let configuration = server.configuration
        let wake = server.wakeDescriptor
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let idle = parser.isIdle
            // Between requests shutdown closes the connection at once; in the middle of one, the request is
            // read to its end and answered (with `Connection: close`).
            if idle && server.isShuttingDown { return }
            let timeout = idle ? configuration.idleTimeout : configuration.readTimeout
            switch Socket.waitReadable(fd, wake: idle ? wake : nil, timeout: timeout) {
            case .readable:
                break
            case .woken, .failed:
                return
            case .timedOut:
                if !idle { fail(HTTPParseError(status: 408, "request not received in time"), linger: false) }
                return
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { return }  // closed or reset; a half-received request has nobody to answer
            for event in parser.feed(buffer[..<n]) {
                switch event {
                case .continueExpected:
                    guard Socket.sendAll(fd, Self.continueResponse) else { return }
                case .spoolBody(let directory):
                    do {
                        spool = try SpoolFile(directory: directory)
                    } catch {
                        server.logger.error("cannot spool a request body", metadata: ["error": "\(error.message)"])
                        fail(error, linger: true)
                        return
                    }
                case .bodyPart(let bytes):
                    do {
                        try spool?.write(bytes)
                    } catch {
                        server.logger.error("cannot spool a request body", metadata: ["error": "\(error.message)"])
                        fail(error, linger: true)
                        return
                    }
                case .failure(let error):
                    fail(error, linger: true)
                    return
                case .request(var request):
                    // The file is deleted once the handler is done with it, before the next request is read.
                    let file = spool
                    spool = nil
                    defer { file?.remove() }
                    file?.finish()
                    request.bodyFile = file?.url
                    guard respond(to: request, onHandlerReturn: { if $0 { file?.remove() } }) else { return }
                }
            }
        }
    }

    /// Answers a request the parser refused (or a stalled one) and prepares to close.
    private func fail(_ error: HTTPParseError, linger: Bool) {
        // Before lingering: a refused upload's partial file goes at once.
        spool?.remove()
        spool = nil
        let response = server.configuration.errorResponder(error.status, error.message)
        let head = ResponseHead.encode(response, bodyLength: response.body.count, chunked: false, keepAlive: false,
                                       requestVersion: "HTTP/1.1")
        let sent = Socket.sendAll(fd, head + response.body)
        server.logAccess(method: "-", path: "-", status: error.status, bytes: response.body.count,
                         nanoseconds: 0, remote: remoteAddress)
        server.logger.debug("refused request", metadata: ["status": "\(error.status)", "reason": "\(error.message)",
                                                          "remote": "\(remoteAddress)"])
        // After 413 the client may still be sending the body it announced.
        if sent && linger { Socket.lingeringClose(fd, timeout: 0.5) }
    }

    /// Calls the handler and writes its response; returns whether to keep reading requests.
    /// `onHandlerReturn` runs as soon as the handler has returned, told whether the response is complete (false
    /// for a streamed one, whose producer may still need the request).
    private func respond(to request: HTTPRequest, onHandlerReturn: (Bool) -> Void = { _ in }) -> Bool {
        let started = DispatchTime.now().uptimeNanoseconds
        let response = server.handler(request)
        onHandlerReturn(response.producer == nil)
        let isHead = request.method == "HEAD"
        let mayHaveBody = ResponseHead.allowsBody(response.status)
        var keepAlive = request.wantsKeepAlive && !response.headers.containsToken("close", in: "Connection")
            && !server.isShuttingDown
        var ok: Bool
        var bytes = 0

        if let producer = response.producer {
            // HTTP/1.0 has no chunked coding: the stream is sent unframed and ended by closing.
            let chunked = request.version == "HTTP/1.1"
            if !chunked { keepAlive = false }
            let head = ResponseHead.encode(response, bodyLength: nil, chunked: chunked, keepAlive: keepAlive,
                                           requestVersion: request.version)
            ok = Socket.sendAll(fd, head)
            if ok && !isHead && mayHaveBody {
                let writer = makeWriter(chunked: chunked)
                producer(writer)
                ok = writer.finish()
                bytes = writer.bytesWritten
                if ok && chunked { ok = Socket.sendAll(fd, Self.lastChunk) }
                if server.isShuttingDown { keepAlive = false }
            }
        } else {
            let head = ResponseHead.encode(response, bodyLength: response.body.count, chunked: false,
                                           keepAlive: keepAlive, requestVersion: request.version)
            if isHead || !mayHaveBody || response.body.isEmpty {
                ok = Socket.sendAll(fd, head)
            } else if response.body.count <= Self.coalesceLimit {
                ok = Socket.sendAll(fd, head + response.body)
                bytes = response.body.count
            } else {
                ok = Socket.sendAll(fd, head) && Socket.sendAll(fd, response.body)
                bytes = response.body.count
            }
        }
        server.logAccess(method: request.method, path: request.path, status: response.status, bytes: bytes,
                         nanoseconds: DispatchTime.now().uptimeNanoseconds - started, remote: remoteAddress)
        return ok && keepAlive
    }

    private func makeWriter(chunked: Bool) -> ResponseStreamWriter {
        let fd = fd
        let server = server
        let wake = server.wakeDescriptor
        return ResponseStreamWriter(
            sink: { bytes in
                guard chunked else { return Socket.sendAll(fd, bytes) }
                var framed = Array(String(bytes.count, radix: 16).utf8)
                framed.reserveCapacity(framed.count + bytes.count + 4)
                framed += [13, 10]
                framed += bytes
                framed += [13, 10]
                return Socket.sendAll(fd, framed)
            },
            shuttingDown: { server.isShuttingDown },
            peerHungUp: { Socket.peerHungUp(fd) },
            waiter: { seconds in
                _ = Socket.waitReadable(fd, wake: wake, timeout: seconds, events: Socket.pollReadHangUp)
            })
    }
}

/// Serialises a response's status line and headers, adding the framing and housekeeping headers.
enum ResponseHead {
    /// 1xx, 204 and 304 responses never carry a body (RFC 9110 §6.4.1), so they get no framing headers either.
    static func allowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    /// - Parameters:
    ///   - bodyLength: the `Content-Length` to send (the GET body's length for HEAD); nil for a stream.
    ///   - chunked: send `Transfer-Encoding: chunked` (streams to HTTP/1.1 clients).
    static func encode(_ response: HTTPResponse, bodyLength: Int?, chunked: Bool, keepAlive: Bool,
                       requestVersion: String) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(HTTPResponse.reasonPhrase(for: response.status))\r\n"
        var hasDate = false
        var hasServer = false
        for field in response.headers {
            let name = field.name
            if name.equalsIgnoringASCIICase("Content-Length") || name.equalsIgnoringASCIICase("Transfer-Encoding")
                || name.equalsIgnoringASCIICase("Connection") { continue }
            // A handler must not be able to split the response by putting a line break in a header.
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPRequestParser.isTokenByte) else { continue }
            hasDate = hasDate || name.equalsIgnoringASCIICase("Date")
            hasServer = hasServer || name.equalsIgnoringASCIICase("Server")
            let value = field.value.utf8.contains { $0 < 0x20 && $0 != 9 || $0 == 0x7F }
                ? String(field.value.map { $0.isASCII && ($0.asciiValue! < 0x20 || $0.asciiValue! == 0x7F) ? " " : $0 })
                : field.value
            head += "\(name): \(value)\r\n"
        }
        if allowsBody(response.status) {
            if chunked {
                head += "Transfer-Encoding: chunked\r\n"
            } else if let bodyLength {
                head += "Content-Length: \(bodyLength)\r\n"
            }
        }
        if !keepAlive {
            head += "Connection: close\r\n"
        } else if requestVersion == "HTTP/1.0" {
            head += "Connection: keep-alive\r\n"
        }
        if !hasDate { head += "Date: \(HTTPDate.string())\r\n" }
        if !hasServer { head += "Server: sequent\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }
}
