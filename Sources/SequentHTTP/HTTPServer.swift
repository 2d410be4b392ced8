import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on POSIX sockets and Dispatch queues.
///
/// Waiting costs no thread. Each connection has a serial queue and Dispatch read/write sources (epoll underneath)
/// on it, which parse requests and write responses without blocking; an idle keep-alive connection, a half-sent
/// request or an open event stream is a descriptor and a few hundred bytes. A complete request's handler runs on
/// the connection's queue as soon as one of `handlerThreads` slots is free (handlers may block: SQLite, a forward
/// pass, an upload being unpacked), otherwise it waits, threadless, for one. Streamed responses are registered
/// writers that any thread may write to.
///
/// Slow clients are bounded by deadlines rather than by threads: a total deadline for a request's headers
/// (slowloris), a floor on the rate a body arrives at, the longest silence inside a request, an idle time between
/// requests and the longest a write may make no progress.
///
/// ```swift
/// let router = Router()
/// router.add("GET", "/healthz") { _, _ in .text("ok") }
/// var configuration = HTTPServer.Configuration(port: 8080)
/// configuration.bodyPolicy = { router.bodyPolicy(method: $0, path: $1) }
/// let server = HTTPServer(configuration: configuration, logger: logger) { router.handle($0) }
/// try server.start()
/// ```
public final class HTTPServer: @unchecked Sendable {
    // @unchecked Sendable: the server is used from the caller's thread (start, shutdown), the accept queue, the
    // event loops and the handler pool. Its immutable properties are Sendable; every mutable one (`state`, the
    // descriptors, the open-connection count) is read and written only while holding `condition`, which also lets
    // `shutdown` wait for connections to finish.

    /// How the server listens and what it tolerates.
    public struct Configuration: Sendable {
        /// Address to bind: an IPv4/IPv6 literal or a host name (`"0.0.0.0"` for every interface).
        public var host: String
        /// Port to bind; 0 picks a free one (read it from `HTTPServer.port` after `start`).
        public var port: Int
        public var limits: HTTPLimits
        /// Open connections at once. Past it a new connection gets `503` with `Retry-After` and is closed. The
        /// server raises its descriptor limit (RLIMIT_NOFILE) at start to fit, and lowers this when it cannot.
        public var maxConnections: Int
        /// Pending-connection queue length passed to `listen`.
        public var backlog: Int
        /// Longest silence allowed in the middle of a request; then the client gets `408` and is closed.
        public var readTimeout: TimeInterval
        /// Longest a request's line and headers may take to arrive in all, however steadily they trickle in
        /// (the slowloris defence); then `408`.
        public var headerTimeout: TimeInterval
        /// The slowest a request body may arrive, in bytes per second averaged over `bodyRateWindow`; slower gets
        /// `408`. 0 turns the floor off.
        public var minBodyBytesPerSecond: Double
        /// The window over which `minBodyBytesPerSecond` is measured, in seconds.
        public var bodyRateWindow: TimeInterval
        /// How long a keep-alive connection may wait for its next request (or a new one for its first) before it is
        /// closed.
        public var idleTimeout: TimeInterval
        /// Longest output may wait on a client that does not read (then the connection is dropped).
        public var writeTimeout: TimeInterval
        /// Unsent bytes a streamed response may pile up on a client that does not read; past it the client is
        /// dropped, so a slow dashboard cannot make the server hold events without bound.
        public var maxStreamBufferBytes: Int
        /// Handlers that may run at once, each on its connection's thread. Handlers may block, so this bounds the
        /// threads requests can hold.
        public var handlerThreads: Int
        /// Complete requests that may wait for a handler slot (holding no thread); past it a request gets `503`.
        public var maxQueuedRequests: Int
        /// Connections that may keep their thread between requests while they are being answered, waiting up to
        /// `busyWindow` seconds for the next one (it saves two thread switches a request under load). 0 turns it off.
        public var busyConnections: Int
        public var busyWindow: TimeInterval
        /// Seconds in the `Retry-After` header of the `503`s sent past `maxConnections` or `maxQueuedRequests`.
        public var retryAfter: Int
        /// The largest request body accepted for `(method, path)`, asked after the headers; nil means
        /// `limits.maxBodyBytes`. Typically `{ router.bodyLimit(method: $0, path: $1) }`.
        public var bodyLimit: (@Sendable (String, String) -> Int)?
        /// The body limit and spool directory for `(method, path)`, asked after the headers; when set it replaces
        /// `bodyLimit`. Typically `{ router.bodyPolicy(method: $0, path: $1) }`, so routes registered with
        /// `spoolBodyTo:` get their bodies written to a file as they arrive.
        public var bodyPolicy: (@Sendable (String, String) -> HTTPBodyPolicy)?
        /// Renders the responses the server itself produces (400, 408, 413, 503, …) from `(status, message)`.
        public var errorResponder: @Sendable (Int, String) -> HTTPResponse

        public init(host: String = "127.0.0.1", port: Int = 0, limits: HTTPLimits = HTTPLimits(),
                    maxConnections: Int = 16_384, backlog: Int = 1024, readTimeout: TimeInterval = 30,
                    idleTimeout: TimeInterval = 60, writeTimeout: TimeInterval = 30, retryAfter: Int = 1,
                    bodyLimit: (@Sendable (String, String) -> Int)? = nil,
                    bodyPolicy: (@Sendable (String, String) -> HTTPBodyPolicy)? = nil,
                    errorResponder: @escaping @Sendable (Int, String) -> HTTPResponse = HTTPResponse.plainError) {
            self.host = host
            self.port = port
            self.limits = limits
            self.maxConnections = maxConnections
            self.backlog = backlog
            self.readTimeout = readTimeout
            headerTimeout = 10
            minBodyBytesPerSecond = 1024
            bodyRateWindow = 10
            self.idleTimeout = idleTimeout
            self.writeTimeout = writeTimeout
            maxStreamBufferBytes = 4 << 20
            handlerThreads = 64
            maxQueuedRequests = 4096
            busyConnections = 64
            busyWindow = 0.025
            self.retryAfter = retryAfter
            self.bodyLimit = bodyLimit
            self.bodyPolicy = bodyPolicy
            self.errorResponder = errorResponder
        }
    }

    private enum State {
        case idle, running, shuttingDown, stopped
    }

    public let configuration: Configuration
    let logger: Logger
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    let gate: HandlerGate
    let registry = ConnectionRegistry()
    let busySlots: Slots
    let readBuffers = ReadBufferPool(bufferBytes: 64 * 1024, keep: 64)

    private let condition = NSCondition()
    private var state = State.idle
    private var listenFD: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "sequent.http.accept")
    private var boundPort = 0
    private var connectionLimit = 0
    private var openConnections = 0
    private var pendingRejections = 0
    private var acceptPaused = false
    /// The accept source, when shutdown cancelled it while accepting was paused (it awaits its resume).
    private var pausedSource: DispatchSourceRead?

    /// - Parameters:
    ///   - configuration: address, limits and timeouts.
    ///   - logger: receives one info line per request (the access log) and server errors.
    ///   - handler: answers every request; called on a handler-pool thread, so it may block.
    public init(configuration: Configuration, logger: Logger,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.configuration = configuration
        self.logger = logger
        self.handler = handler
        gate = HandlerGate(slots: configuration.handlerThreads, maxWaiting: configuration.maxQueuedRequests)
        busySlots = Slots(configuration.busyConnections)
    }

    deinit {
        if listenFD >= 0 { close(listenFD) }
    }

    /// The port the server is bound to (the chosen one when configured with 0); 0 before `start`.
    public var port: Int {
        condition.lock()
        defer { condition.unlock() }
        return boundPort
    }

    /// True from the start of `shutdown` on.
    public var isShuttingDown: Bool {
        condition.lock()
        defer { condition.unlock() }
        return state == .shuttingDown || state == .stopped
    }

    /// Connections currently open.
    public var connectionCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return openConnections
    }

    /// The connection limit in force: `maxConnections`, or less when the descriptor limit could not be raised.
    public var effectiveMaxConnections: Int {
        condition.lock()
        defer { condition.unlock() }
        return connectionLimit
    }

    /// Binds, listens and starts accepting; returns once the port is bound.
    public func start() throws {
        condition.lock()
        defer { condition.unlock() }
        guard state == .idle else { throw HTTPServerError("server already started") }
        guard (0...65535).contains(configuration.port) else {
            throw HTTPServerError("port must be 0...65535, got \(configuration.port)")
        }
        // MSG_NOSIGNAL covers our own sends; ignoring SIGPIPE also covers any other write in the process.
        signal(SIGPIPE, SIG_IGN)
        connectionLimit = Self.raiseDescriptorLimit(toFit: configuration.maxConnections, logger: logger)

        let fd = try Self.bind(host: configuration.host, port: configuration.port)
        guard listen(fd, Int32(max(1, configuration.backlog))) == 0 else {
            let message = Socket.errorDescription
            close(fd)
            throw HTTPServerError("listen on \(configuration.host):\(configuration.port) failed: \(message)")
        }
        listenFD = fd
        boundPort = Socket.boundPort(fd)
        state = .running
        registry.startSweeping(every: Self.sweepInterval(configuration))
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [self] in acceptAvailable(fd) }
        source.setCancelHandler { close(fd) }
        acceptSource = source
        source.resume()
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(boundPort)",
                                            "max_connections": "\(connectionLimit)"])
    }

    /// Stops accepting, lets requests in flight finish, closes idle keep-alive connections and ends event streams,
    /// then returns. Connections still busy after `gracePeriod` seconds are closed forcibly. Do not call it from a
    /// handler: it waits for that handler's connection.
    public func shutdown(gracePeriod: TimeInterval) {
        condition.lock()
        guard state == .running else {
            if state == .idle { state = .stopped }
            condition.unlock()
            return
        }
        state = .shuttingDown
        acceptSource?.cancel()
        if acceptPaused { pausedSource = acceptSource }
        acceptSource = nil
        listenFD = -1
        condition.unlock()

        registry.forEach { $0.beginShutdown() }
        condition.lock()
        let deadline = Date(timeIntervalSinceNow: max(0, gracePeriod))
        while openConnections > 0 {
            if !condition.wait(until: deadline) { break }
        }
        let stragglers = openConnections
        condition.unlock()
        if stragglers > 0 {
            logger.warning("shutdown grace period over, closing connections", metadata: [
                "connections": "\(stragglers)",
            ])
            for connection in registry.all {
                connection.shutDownSocket()
                connection.queue.async { connection.abort() }
            }
            condition.lock()
            let forced = Date(timeIntervalSinceNow: 1)
            while openConnections > 0 {
                if !condition.wait(until: forced) { break }
            }
            condition.unlock()
        }
        registry.stopSweeping()
        condition.lock()
        state = .stopped
        condition.unlock()
        logger.info("stopped")
    }

    // MARK: - Accepting

    private func acceptAvailable(_ listenFD: Int32) {
        // Bounded per wake-up; the source fires again while connections wait.
        for _ in 0..<256 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &length) }
            }
            guard fd >= 0 else {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK { return }
                if code == EINTR || code == ECONNABORTED { continue }
                logger.error("accept failed", metadata: ["error": "\(Socket.errorDescription)"])
                // Out of descriptors or memory: pause instead of spinning on a listener that stays readable.
                pauseAccepting()
                return
            }
            Socket.configureAccepted(fd)
            let remote = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.describe($0, length: length) }
            }
            admit(fd, remote: remote)
        }
    }

    private func admit(_ fd: Int32, remote: String) {
        condition.lock()
        let running = state == .running
        let admitted = running && openConnections < connectionLimit
        let reject = running && !admitted && pendingRejections < 64
        if admitted || reject { openConnections += 1 }
        if reject { pendingRejections += 1 }
        condition.unlock()

        guard admitted || reject else {
            close(fd)
            return
        }
        let connection = HTTPConnection(fd: fd, remoteAddress: remote, server: self, isRejection: reject)
        if reject { connection.prepareRejection(busyResponse("server busy, too many connections")) }
        registry.add(connection)
        connection.start()
        if reject { connection.queue.async { connection.flushRejection() } }
    }

    private func pauseAccepting() {
        condition.lock()
        defer { condition.unlock() }
        guard !acceptPaused, let source = acceptSource else { return }
        acceptPaused = true
        source.suspend()
        acceptQueue.asyncAfter(deadline: .now() + 0.1) { [self] in resumeAccepting() }
    }

    private func resumeAccepting() {
        condition.lock()
        defer { condition.unlock() }
        guard acceptPaused else { return }
        acceptPaused = false
        // Shutdown may have cancelled the source meanwhile; its suspension must still be balanced.
        (acceptSource ?? pausedSource)?.resume()
        pausedSource = nil
    }

    /// A `503` with `Retry-After`, for connections past the limit and requests past the queue.
    func busyResponse(_ message: String) -> HTTPResponse {
        var response = configuration.errorResponder(503, message)
        response.headers["Retry-After"] = "\(configuration.retryAfter)"
        return response
    }

    // MARK: - For connections

    /// Counts a connection out; called once its sources are cancelled and its descriptor closed.
    func connectionFinished(wasRejection: Bool) {
        condition.lock()
        openConnections -= 1
        if wasRejection { pendingRejections -= 1 }
        condition.broadcast()
        condition.unlock()
    }

    func logAccess(method: String, path: String, status: Int, bytes: Int, nanoseconds: UInt64, remote: String) {
        let milliseconds = (Double(nanoseconds) / 10_000).rounded() / 100
        logger.info("\(method) \(path) \(status)", metadata: [
            "method": "\(method)", "path": "\(path)", "status": "\(status)", "bytes": "\(bytes)",
            "duration_ms": "\(milliseconds)", "remote": "\(remote)",
        ])
    }

    /// Often enough that the shortest deadline is kept to within a quarter of itself, and at most twice a second.
    static func sweepInterval(_ c: Configuration) -> TimeInterval {
        let shortest = [c.readTimeout, c.headerTimeout, c.idleTimeout, c.writeTimeout].filter { $0 > 0 }.min() ?? 1
        return min(0.5, max(0.02, shortest / 4))
    }

    /// Raises RLIMIT_NOFILE's soft limit toward the hard one so `maxConnections` descriptors (plus a margin for
    /// files, the database and the listener) can be open; returns the connection limit that fits.
    static func raiseDescriptorLimit(toFit connections: Int, logger: Logger) -> Int {
        let margin: rlim_t = 256
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return connections }
        let wanted = rlim_t(max(0, connections)) + margin
        if limit.rlim_cur < wanted {
            let raised = min(wanted, limit.rlim_max)
            var new = limit
            new.rlim_cur = raised
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &new) == 0 { limit = new }
        }
        let fits = limit.rlim_cur > margin ? Int(limit.rlim_cur - margin) : 1
        if fits < connections {
            logger.warning("descriptor limit lowers max_connections", metadata: [
                "max_connections": "\(connections)", "usable": "\(fits)", "rlimit_nofile": "\(limit.rlim_cur)",
            ])
        }
        return max(1, min(connections, fits))
    }

    private static func bind(host: String, port: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &results)
        guard rc == 0, let first = results else {
            throw HTTPServerError("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            current = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = Socket.errorDescription
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            // Non-blocking, so an accept after poll cannot hang when the client has already gone.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // Lets a restarted server bind while old connections sit in TIME_WAIT.
            Socket.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if Socket.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) { return fd }
            lastError = Socket.errorDescription
            close(fd)
        }
        throw HTTPServerError("bind to \(host):\(port) failed: \(lastError)")
    }
}

/// Why the server could not start.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
