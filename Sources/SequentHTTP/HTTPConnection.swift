import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted connection, driven by readiness: a Dispatch read source tells it when bytes arrive, a write source
/// (only while output is pending) when the socket takes more. While it waits it holds a descriptor, a serial queue
/// and a few hundred bytes, never a thread. The thread that parses a complete request runs its handler (when the
/// server's `HandlerGate` has a slot) and writes the response without blocking, so a request costs no hand-off
/// between threads.
///
/// Every property is touched only on `queue` (the class is `@unchecked Sendable` because the gate, the sweep and
/// stream writers hop onto that queue with `async`).
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
        /// The request's handler runs, or waits for a slot.
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
    // Strong: the connection keeps the server alive until it has closed (it calls `connectionFinished`).
    private let server: HTTPServer
    /// The connection's own serial queue: its sources fire here, its handler runs here.
    let queue = DispatchQueue(label: "sequent.http.connection")
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
    private var resumePending = false
    /// Responses sent in full so far, and whether `serveWhileBusy` holds the thread (the read source stays off).
    private var answered = 0
    private var busy = false
    /// Guards the descriptor against `shutDownSocket` from another thread after it was closed (and maybe reused).
    private let descriptorLock = NSLock()
    private var descriptorClosed = false
    private let deadlineLock = NSLock()
    private var deadlineStorage = UInt64.max
    private var resuming = false
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

    init(fd: Int32, remoteAddress: String, server: HTTPServer, isRejection: Bool = false) {
        self.fd = fd
        self.isRejection = isRejection
        self.remoteAddress = remoteAddress
        self.server = server
        lastRead = DispatchTime.now().uptimeNanoseconds
        let configuration = server.configuration
        deadlineStorage = lastRead &+ UInt64(min(max(0, configuration.idleTimeout), 1e9) * 1e9)
        if let bodyPolicy = configuration.bodyPolicy {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyPolicy: bodyPolicy)
        } else {
            parser = HTTPRequestParser(limits: configuration.limits, remoteAddress: remoteAddress,
                                       bodyLimit: configuration.bodyLimit)
        }
    }

    /// Starts watching the socket. Called by the accepting thread before anything else can reach the connection;
    /// resuming the source is its last step, after which only `queue` touches the connection. So accepting a burst
    /// of idle connections wakes no thread for them.
    func start() {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in onReadable() }
        source.setCancelHandler { [self] in sourceCancelled() }
        readSource = source
        openSources += 1
        source.resume()
    }

    /// Makes the connection only answer `response` (a 503: the server is at its connection limit) and close; by
    /// the accepting thread before `start`, so not even a request already sent is served. Then `flushRejection`.
    func prepareRejection(_ response: HTTPResponse) {
        currentStatus = response.status
        enqueueResponse(response, keepAlive: false, requestVersion: "HTTP/1.1", isHead: false)
        phase = .failing(linger: true)
    }

    /// Sends the prepared rejection; on `queue`.
    func flushRejection() {
        flush()
    }

    // MARK: - Reading

    private func onReadable() {
        // A buffer per wake-up rather than per connection, so an idle connection holds none.
        let buffer = server.readBuffers.take()
        defer { server.readBuffers.give(buffer) }
        let answeredBefore = answered
        guard drain(buffer) else { return }
        if answered != answeredBefore { serveWhileBusy(buffer) }
        refreshDeadline()
    }

    /// Reads what the socket has (at most 16 reads, so one fast uploader cannot hold the thread; the source fires
    /// again); false once the connection has ended.
    private func drain(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        for _ in 0..<16 {
            if case .closed = phase { return false }
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                received(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                continue
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return true }
                abort()
                return false
            }
            peerHungUp()
            return false
        }
        return true
    }

    /// A client that has just been answered usually sends its next request within microseconds. Waking through the
    /// read source costs two thread switches (Dispatch's epoll thread, then a worker), so a connection that is
    /// being answered keeps this thread and waits in `poll` for its next request, for up to `busyWindow` after each
    /// answer — but only while one of the server's few `busyConnections` slots is free, and never for a client that
    /// has not completed a request (trickled headers wait threadless, under the deadlines).
    private func serveWhileBusy(_ buffer: UnsafeMutableRawBufferPointer) {
        guard server.busySlots.take() else { return }
        defer { server.busySlots.give() }
        let window = UInt64(server.configuration.busyWindow * 1e9)
        guard window > 0 else { return }
        busy = true
        suspendReading()
        var deadline = DispatchTime.now().uptimeNanoseconds + window
        while !server.isShuttingDown, case .reading = phase, pendingEvents.isEmpty, pendingInput.isEmpty {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(max(1, (deadline - now) / 1_000_000)))
            if rc < 0 && errno == EINTR { continue }
            guard rc > 0 else { break }
            let answeredBefore = answered
            guard drain(buffer) else {
                busy = false
                return
            }
            if answered != answeredBefore { deadline = DispatchTime.now().uptimeNanoseconds + window }
        }
        busy = false
        if case .closed = phase { return }
        if pendingInput.count < Self.pendingInputLimit { resumeReading() }
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
            parse(bytes, now: now)
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

    private func parse(_ bytes: UnsafeRawBufferPointer, now: UInt64) {
        if parser.isIdle && !bytes.isEmpty {
            requestStarted = now
            bodyWindowStart = now
            bodyWindowBytes = 0
        }
        bodyWindowBytes += bytes.count
        let events = parser.feed(bytes)
        act(on: events[...])
    }

    /// Acts on parser events in order until one is a request; the rest wait for its response.
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

    /// Resumes after a response without recursing: a pipelined request answered inline would otherwise nest a
    /// call per request (a deep stack for a long pipeline) and hold its handler slot while the next one runs.
    private func scheduleResume() {
        resumePending = true
        guard !resuming else { return }
        resuming = true
        while resumePending {
            resumePending = false
            resumeAfterResponse()
        }
        resuming = false
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
            input.withUnsafeBytes { parse($0, now: lastRead) }
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
        switch server.gate.enter(resume: { [self] in queue.async { [self] in runHandler(request) } }) {
        case .run:
            runHandler(request)
        case .queued:
            break
        case .refused:
            handlerReturned(request, server.busyResponse("server busy, too many requests waiting"))
        }
    }

    /// Runs the handler holding one of the gate's slots, answers, and gives the slot back.
    private func runHandler(_ request: HTTPRequest) {
        // A client that left while its request waited for a slot costs no handler run.
        guard case .handling = phase else {
            answeredFile?.remove()
            answeredFile = nil
            server.gate.leave()
            return
        }
        // The next pipelined request waits until the slot is given back (`scheduleResume` only notes it meanwhile).
        let outer = resuming
        resuming = true
        handlerReturned(request, server.handler(request))
        server.gate.leave()
        resuming = outer
        if !outer && resumePending { scheduleResume() }
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
            flush()
            // On this queue: what it writes goes out once it returns, which it should do at once, keeping the writer.
            producer(writer)
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
        queue.async { [self] in
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
        queue.async { [self] in
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
        queue.async { [self] in endStream() }
    }

    private func endStream() {
        guard case .streaming(let writer, let chunked, let keepAlive) = phase else { return }
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
                refreshDeadline()
                return
            }
            abort()
            return
        }
        disarmWrite()
        outputDrained()
        refreshDeadline()
    }

    private func outputDrained() {
        switch phase {
        case .responding(let keepAlive):
            answered += 1
            logAccess()
            answeredFile?.remove()
            answeredFile = nil
            if keepAlive { scheduleResume() } else { close() }
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
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
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
        guard readSuspended, !busy, let readSource else { return }
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
        if case .streaming(let writer, _, _) = phase { writer.terminate() }
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
        server.registry.remove(self)
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
        descriptorLock.withLock {
            descriptorClosed = true
            _ = Glibc.close(fd)
        }
        server.connectionFinished(wasRejection: isRejection)
    }

    /// Ends both directions of the socket from any thread, even while a handler holds the queue: the client sees
    /// the close at once, and the connection finishes when its handler returns. For shutdown's grace period.
    func shutDownSocket() {
        descriptorLock.withLock {
            if !descriptorClosed { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    // MARK: - Timers (the registry's sweep calls this, on `queue`)

    /// Enforces the deadlines: idle keep-alive, header deadline (slowloris), silence and body rate in the middle of
    /// a request, stalled writes, lingering, heartbeats of streams, and shutdown of idle connections.
    func sweep(now: UInt64) {
        let configuration = server.configuration
        // Saturating: the sweep's clock reading can be older than a read this queue has just recorded.
        func elapsed(_ since: UInt64) -> TimeInterval { now > since ? Double(now - since) / 1e9 : 0 }
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
        refreshDeadline()
    }

    /// When this connection next needs its `sweep` (UInt64.max: not before something happens on it). Read by the
    /// registry's sweep from its own thread, so the sweep posts only to connections with a deadline due, instead of
    /// waking every connection's queue (and a thread for each) on every tick.
    var deadline: UInt64 { deadlineLock.withLock { deadlineStorage } }

    private func refreshDeadline() {
        let c = server.configuration
        func after(_ start: UInt64, _ seconds: TimeInterval) -> UInt64 {
            let span = UInt64(min(max(0, seconds), 1e9) * 1e9)
            return start > UInt64.max - span ? UInt64.max : start + span
        }
        var next = UInt64.max
        if outputBytes > 0 { next = min(next, after(lastWriteProgress, c.writeTimeout)) }
        switch phase {
        case .reading:
            if parser.isIdle && pendingEvents.isEmpty {
                next = min(next, after(lastRead, c.idleTimeout))
            } else {
                if parser.isReadingHeaders { next = min(next, after(requestStarted, c.headerTimeout)) }
                next = min(next, after(lastRead, c.readTimeout))
                if !parser.isReadingHeaders && c.minBodyBytesPerSecond > 0 {
                    next = min(next, after(bodyWindowStart, c.bodyRateWindow))
                }
            }
        case .streaming(let writer, _, _):
            if let due = writer.nextHeartbeat { next = min(next, due) }
        case .lingering(let until, _):
            next = min(next, until)
        case .handling, .responding, .failing, .closed:
            break
        }
        deadlineLock.withLock { deadlineStorage = next }
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
