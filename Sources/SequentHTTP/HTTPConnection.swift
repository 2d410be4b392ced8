import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted connection, driven by readiness: a Dispatch read source tells it when bytes arrive, a write source
/// (only while output is pending) when the socket takes more. While it waits it holds a descriptor and a few hundred
/// bytes, never a thread. Requests are parsed on the event loop's queue; each complete request goes to the handler
/// pool, and its response comes back to the loop to be written without blocking.
///
/// Every property is touched only on `loop.queue` (the class is `@unchecked Sendable` because the handler pool and
/// stream writers hop back to that queue with `async`).
final class HTTPConnection: @unchecked Sendable, ResponseStreamSink {
    private static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
    private static let lastChunk = Array("0\r\n\r\n".utf8)
    /// Input read while a request is being handled is held up to this much; then reading pauses (back-pressure).
    private static let pendingInputLimit = 64 * 1024
    /// After an error response, input is discarded for this long (or this many bytes) before closing, so the
    /// kernel does not reset the connection and destroy the response before the client reads it.
    private static let lingerSeconds: TimeInterval = 0.5
    private static let lingerBytes = 1 << 20

    private enum Phase {
        /// Reading (and parsing) a request, or waiting for the next one.
        case reading
        /// The handler pool has the request.
        case handling
        /// A streamed response is open; its writer may write from any thread.
        case streaming(ResponseStreamWriter, chunked: Bool, keepAlive: Bool)
        /// A complete response is queued; then the next request (keep-alive) or a close.
        case responding(keepAlive: Bool)
        /// An error response is queued; then a lingering close (or a plain one).
        case failing(linger: Bool)
        /// Discarding input until `deadline`, after an error response went out.
        case lingering(deadline: UInt64, discarded: Int)
        case closed
    }

    let fd: Int32
    let remoteAddress: String
    private let loop: EventLoop
    // Strong: the connection keeps the server alive until it has closed (it calls `connectionFinished`).
    private let server: HTTPServer
    private var parser: HTTPRequestParser
    private var phase = Phase.reading
    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var readSuspended = false
    private var writeArmed = false
    private var openSources = 0

    /// Responses waiting for the socket: whole chunks, the first one partly sent up to `outputOffset`.
    private var output: [[UInt8]] = []
    private var outputOffset = 0
    private var outputBytes = 0

    /// Parser events not yet acted on (those after a request that went to the handler) and bytes read while busy.
    private var pendingEvents: [HTTPRequestParser.Event] = []
    private var pendingInput: [UInt8] = []
    private var peerClosed = false
    /// The file the current request's body is being written to, for routes that spool bodies to disk.
    private var spool: SpoolFile?
    /// The spooled body of the request being answered; deleted once its response (or stream) is done.
    private var answeredFile: SpoolFile?

    // Deadlines, in `DispatchTime` nanoseconds.
    private var lastRead: UInt64
    private var requestStarted: UInt64 = 0
    private var lastWriteProgress: UInt64 = 0
    private var bodyWindowStart: UInt64 = 0
    private var bodyWindowBytes = 0
    private var handlerStarted: UInt64 = 0
    private var currentMethod = "-"
    private var currentPath = "-"
    private var currentStatus = 0
    private var currentBytes = 0

    /// A connection past the server's limit, only answered 503 and closed.
    private let isRejection: Bool

    init(fd: Int32, remoteAddress: String, loop: EventLoop, server: HTTPServer, isRejection: Bool = false) {
        self.fd = fd
        self.isRejection = isRejection
        self.remoteAddress = remoteAddress
        self.loop = loop
        self.server = server
        lastRead = DispatchTime.now().uptimeNanoseconds
        let configuration = server.configuration
        if let bodyPolicy = configuration.bodyPolicy {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyPolicy: bodyPolicy)
        } else {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyLimit: configuration.bodyLimit)
        }
    }

    /// Starts watching the socket; on the loop's queue. With `reject`, answers it at once and closes (the server
    /// is at its connection limit).
    func start(reject: HTTPResponse? = nil) {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
        source.setEventHandler { [self] in onReadable() }
        source.setCancelHandler { [self] in sourceCancelled() }
        readSource = source
        openSources += 1
        source.resume()
        if let reject {
            currentStatus = reject.status
            enqueueResponse(reject, keepAlive: false, requestVersion: "HTTP/1.1", isHead: false)
            phase = .failing(linger: true)
            flush()
        }
    }

    // MARK: - Reading

    private func onReadable() {
        // Bounded per wake-up so one fast uploader cannot monopolise the loop; the source fires again.
        for _ in 0..<16 {
            if case .closed = phase { return }
            let n = recv(fd, loop.readBuffer.baseAddress, loop.readBuffer.count, 0)
            if n > 0 {
                received(UnsafeRawBufferPointer(rebasing: loop.readBuffer[..<n]))
                continue
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                abort()
                return
            }
            peerHungUp()
            return
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        let now = DispatchTime.now().uptimeNanoseconds
        lastRead = now
        switch phase {
        case .lingering(let deadline, let discarded):
            let total = discarded + bytes.count
            if total >= Self.lingerBytes { abort() } else { phase = .lingering(deadline: deadline, discarded: total) }
        case .failing, .closed:
            break
        case .reading where pendingEvents.isEmpty && pendingInput.isEmpty:
            parse(Array(bytes)[...], now: now)
        default:
            pendingInput.append(contentsOf: bytes)
            if pendingInput.count >= Self.pendingInputLimit { suspendReading() }
        }
    }

    /// The client closed its side (or reset). A half-received request has nobody to answer; a request being
    /// handled is still answered if the socket takes it (a half-close may be waiting for just that).
    private func peerHungUp() {
        peerClosed = true
        switch phase {
        case .handling, .responding, .failing:
            suspendReading()  // the read source would report the end of input again and again
        default:
            abort()
        }
    }

    private func parse(_ bytes: ArraySlice<UInt8>, now: UInt64) {
        if parser.isIdle && !bytes.isEmpty {
            requestStarted = now
            bodyWindowStart = now
            bodyWindowBytes = 0
        }
        bodyWindowBytes += bytes.count
        let events = parser.feed(bytes)
        act(on: events[...])
    }

    /// Acts on parser events in order until one hands a request to the pool; the rest wait for its response.
    private func act(on events: ArraySlice<HTTPRequestParser.Event>) {
        var index = events.startIndex
        while index < events.endIndex {
            let event = events[index]
            index += 1
            switch event {
            case .continueExpected:
                enqueue(Self.continueResponse)
                flush()
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
                let file = spool
                spool = nil
                file?.finish()
                request.bodyFile = file?.url
                answeredFile = file
                pendingEvents = Array(events[index...])
                dispatch(request)
                return
            }
        }
        if parser.isIdle { parser.releaseBufferIfIdle() }
    }

    /// After a response: the events and input that arrived behind the request, then reading again.
    private func resumeAfterResponse() {
        phase = .reading
        bodyWindowStart = 0
        bodyWindowBytes = 0
        lastRead = DispatchTime.now().uptimeNanoseconds
        if peerClosed {
            abort()
            return
        }
        if !pendingEvents.isEmpty {
            let events = pendingEvents
            pendingEvents = []
            requestStarted = lastRead
            act(on: events[...])
            guard case .reading = phase else { return }
        }
        if !pendingInput.isEmpty {
            let input = pendingInput
            pendingInput = []
            parse(input[...], now: lastRead)
            guard case .reading = phase else { return }
        }
        if server.isShuttingDown && parser.isIdle {
            close()
            return
        }
        resumeReading()
    }

    // MARK: - Handling

    private func dispatch(_ request: HTTPRequest) {
        phase = .handling
        currentMethod = request.method
        currentPath = request.path
        handlerStarted = DispatchTime.now().uptimeNanoseconds
        let server = server
        let accepted = server.pool.submit { [self] in
            let response = server.handler(request)
            // `sync` runs the block on this thread when the loop is not busy, so the response is written without
            // waking another thread; the loop never waits for the pool, so this cannot deadlock.
            loop.queue.sync { handlerReturned(request, response) }
        }
        if !accepted { handlerReturned(request, server.busyResponse("server busy, too many requests waiting")) }
    }

    private func handlerReturned(_ request: HTTPRequest, _ response: HTTPResponse) {
        guard case .handling = phase else {
            // The connection went away while the handler ran.
            answeredFile?.remove()
            answeredFile = nil
            return
        }
        currentStatus = response.status
        currentBytes = 0
        let isHead = request.method == "HEAD"
        var keepAlive = request.wantsKeepAlive && !response.headers.containsToken("close", in: "Connection")
            && !server.isShuttingDown && !peerClosed
        if let producer = response.producer {
            // HTTP/1.0 has no chunked coding: the stream is sent unframed and ended by closing.
            let chunked = request.version == "HTTP/1.1"
            if !chunked { keepAlive = false }
            enqueue(ResponseHead.encode(response, bodyLength: nil, chunked: chunked, keepAlive: keepAlive,
                                        requestVersion: request.version))
            if isHead || !ResponseHead.allowsBody(response.status) {
                answeredFile?.remove()
                answeredFile = nil
                phase = .responding(keepAlive: keepAlive)
                flush()
                return
            }
            let shuttingDown: @Sendable () -> Bool = { [server] in server.isShuttingDown }
            let writer = ResponseStreamWriter(sink: self, limit: server.configuration.maxStreamBufferBytes,
                                              shuttingDown: shuttingDown)
            phase = .streaming(writer, chunked: chunked, keepAlive: keepAlive)
            loop.streams += 1
            flush()
            // The producer may block (an older style of producer) or return at once and keep the writer.
            if !server.pool.submit({ producer(writer) }) { writer.close() }
            return
        }
        answeredFile?.remove()
        answeredFile = nil
        enqueueResponse(response, keepAlive: keepAlive, requestVersion: request.version, isHead: isHead)
        phase = .responding(keepAlive: keepAlive)
        flush()
    }

    private func enqueueResponse(_ response: HTTPResponse, keepAlive: Bool, requestVersion: String, isHead: Bool) {
        let head = ResponseHead.encode(response, bodyLength: response.body.count, chunked: false,
                                       keepAlive: keepAlive, requestVersion: requestVersion)
        let sendsBody = !isHead && ResponseHead.allowsBody(response.status)
        currentBytes = sendsBody ? response.body.count : 0
        if isHead || !ResponseHead.allowsBody(response.status) || response.body.isEmpty {
            enqueue(head)
        } else if response.body.count <= 16 * 1024 {
            // One segment with TCP_NODELAY for small responses.
            enqueue(head + response.body)
        } else {
            enqueue(head)
            enqueue(response.body)
        }
    }

    // MARK: - Streams (called from any thread through the writer)

    func streamWrite(_ bytes: [UInt8]) {
        loop.queue.async { [self] in
            guard case .streaming(let writer, let chunked, _) = phase else { return }
            writer.delivered(bytes.count)
            if chunked {
                var framed = Array(String(bytes.count, radix: 16).utf8)
                framed.reserveCapacity(framed.count + bytes.count + 4)
                framed += [13, 10]
                framed += bytes
                framed += [13, 10]
                enqueue(framed)
            } else {
                enqueue(bytes)
            }
            if outputBytes > server.configuration.maxStreamBufferBytes {
                overflowed()
                return
            }
            flush()
        }
    }

    func streamOverflow() {
        loop.queue.async { [self] in
            guard case .streaming = phase else { return }
            overflowed()
        }
    }

    private func overflowed() {
        server.logger.info("dropping a stream client that does not read", metadata: [
            "remote": "\(remoteAddress)", "pending_bytes": "\(outputBytes)",
        ])
        abort()
    }

    func streamEnd() {
        loop.queue.async { [self] in endStream() }
    }

    private func endStream() {
        guard case .streaming(let writer, let chunked, let keepAlive) = phase else { return }
        loop.streams -= 1
        currentBytes = writer.bytesWritten
        if chunked { enqueue(Self.lastChunk) }
        phase = .responding(keepAlive: keepAlive && !server.isShuttingDown)
        writer.terminate()
        flush()
    }

    // MARK: - Writing

    private func enqueue(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        output.append(bytes)
        outputBytes += bytes.count
    }

    private func flush() {
        while let first = output.first {
            let n = first.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outputOffset, raw.count - outputOffset, Socket.sendFlags)
            }
            if n > 0 {
                lastWriteProgress = DispatchTime.now().uptimeNanoseconds
                outputOffset += n
                outputBytes -= n
                if outputOffset == first.count {
                    output.removeFirst()
                    outputOffset = 0
                }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                armWrite()
                return
            }
            abort()
            return
        }
        disarmWrite()
        outputDrained()
    }

    private func outputDrained() {
        switch phase {
        case .responding(let keepAlive):
            logAccess()
            answeredFile?.remove()
            answeredFile = nil
            if keepAlive { resumeAfterResponse() } else { close() }
        case .failing(let linger):
            logAccess()
            if linger && !peerClosed {
                _ = shutdown(fd, Int32(SHUT_WR))
                let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(Self.lingerSeconds * 1e9)
                phase = .lingering(deadline: deadline, discarded: 0)
                resumeReading()
            } else {
                close()
            }
        default:
            break
        }
    }

    private func armWrite() {
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
            source.setEventHandler { [self] in flush() }
            source.setCancelHandler { [self] in sourceCancelled() }
            writeSource = source
            openSources += 1
            writeArmed = false
        }
        guard !writeArmed else { return }
        writeArmed = true
        writeSource?.resume()
    }

    private func disarmWrite() {
        guard writeArmed else { return }
        writeArmed = false
        writeSource?.suspend()
    }

    private func suspendReading() {
        guard !readSuspended, let readSource else { return }
        readSuspended = true
        readSource.suspend()
    }

    private func resumeReading() {
        guard readSuspended, let readSource else { return }
        readSuspended = false
        readSource.resume()
    }

    // MARK: - Errors and closing

    /// Answers a request the parser refused (or a stalled one) and closes after it.
    private func fail(_ error: HTTPParseError, linger: Bool) {
        // Before lingering: a refused upload's partial file goes at once.
        spool?.remove()
        spool = nil
        pendingEvents = []
        pendingInput = []
        currentStatus = error.status
        currentMethod = "-"
        currentPath = "-"
        handlerStarted = 0
        let response = server.configuration.errorResponder(error.status, error.message)
        enqueueResponse(response, keepAlive: false, requestVersion: "HTTP/1.1", isHead: false)
        server.logger.debug("refused request", metadata: ["status": "\(error.status)", "reason": "\(error.message)",
                                                          "remote": "\(remoteAddress)"])
        phase = .failing(linger: linger)
        flush()
    }

    private func logAccess() {
        let now = DispatchTime.now().uptimeNanoseconds
        server.logAccess(method: currentMethod, path: currentPath, status: currentStatus,
                         bytes: currentBytes, nanoseconds: handlerStarted == 0 ? 0 : now &- handlerStarted,
                         remote: remoteAddress)
    }

    /// Closes after what is queued was sent (used between requests and at shutdown).
    func close() {
        abort()
    }

    /// Ends the connection now: the descriptor is closed once both sources have been cancelled.
    func abort() {
        if case .closed = phase { return }
        if case .streaming(let writer, _, _) = phase {
            loop.streams -= 1
            writer.terminate()
        }
        if case .handling = phase {} else {
            answeredFile?.remove()
            answeredFile = nil
        }
        phase = .closed
        spool?.remove()
        spool = nil
        output = []
        outputBytes = 0
        pendingEvents = []
        pendingInput = []
        loop.remove(self)
        // A suspended source must be resumed before its cancellation can complete.
        if let writeSource {
            writeSource.cancel()
            if !writeArmed { writeSource.resume() }
        }
        if let readSource {
            readSource.cancel()
            if readSuspended { readSource.resume() }
        }
        writeArmed = true
        readSuspended = false
    }

    private func sourceCancelled() {
        openSources -= 1
        guard openSources == 0 else { return }
        readSource = nil
        writeSource = nil
        server.connectionFinished(fd, wasRejection: isRejection)
    }

    // MARK: - Timers (the loop's sweep calls this)

    /// Enforces the deadlines: idle keep-alive, header deadline (slowloris), silence and body rate in the middle of
    /// a request, stalled writes, lingering, heartbeats of streams, and shutdown of idle connections.
    func sweep(now: UInt64) {
        let configuration = server.configuration
        func elapsed(_ since: UInt64) -> TimeInterval { Double(now &- since) / 1e9 }
        if outputBytes > 0 && elapsed(lastWriteProgress) > configuration.writeTimeout {
            abort()
            return
        }
        switch phase {
        case .reading:
            if parser.isIdle && pendingEvents.isEmpty {
                if server.isShuttingDown || elapsed(lastRead) > configuration.idleTimeout { close() }
                return
            }
            if parser.isReadingHeaders && elapsed(requestStarted) > configuration.headerTimeout {
                fail(HTTPParseError(status: 408, "request headers not received in time"), linger: true)
            } else if elapsed(lastRead) > configuration.readTimeout {
                fail(HTTPParseError(status: 408, "request not received in time"), linger: true)
            } else if !parser.isReadingHeaders, configuration.minBodyBytesPerSecond > 0 {
                // A body must keep arriving at a useful rate, measured over windows of a few seconds.
                let window = elapsed(bodyWindowStart)
                if window >= configuration.bodyRateWindow {
                    if Double(bodyWindowBytes) < configuration.minBodyBytesPerSecond * window {
                        fail(HTTPParseError(status: 408, "request body arriving too slowly"), linger: true)
                        return
                    }
                    bodyWindowStart = now
                    bodyWindowBytes = 0
                }
            }
        case .streaming(let writer, _, _):
            if server.isShuttingDown {
                writer.close()
            } else if let beat = writer.dueHeartbeat(now: now) {
                writer.write(beat)
            }
        case .lingering(let deadline, _):
            if now >= deadline { abort() }
        case .handling, .responding, .failing, .closed:
            break
        }
    }

    /// Shutdown has begun: an idle connection closes now, a stream ends (last chunk, then close); a request in
    /// progress is read to its end and answered with `Connection: close`.
    func beginShutdown() {
        if isIdle {
            close()
        } else if case .streaming(let writer, _, _) = phase {
            writer.close()
        }
    }

    /// True while nothing of a request is in progress (shutdown closes such connections at once).
    var isIdle: Bool {
        if case .reading = phase { return parser.isIdle && pendingEvents.isEmpty && pendingInput.isEmpty }
        return false
    }
}
