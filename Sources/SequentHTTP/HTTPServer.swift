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
/// One thread accepts connections; each connection is then served by blocking reads and writes on its own serial
/// `DispatchQueue` (user-created serial queues are overcommitting, so each gets its own thread and no connection
/// waits for another). That design measured fastest on this project's machines (PLATFORM.md §6); it costs a
/// thread per open connection, which `maxConnections` bounds.
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
    // @unchecked Sendable: the server is used from the caller's thread (start, shutdown), the accept queue and
    // every connection queue. Its immutable properties are Sendable; every mutable one (`state`, the descriptors,
    // the open-connection set) is read and written only while holding `condition`, which also lets `shutdown`
    // wait for connections to finish.

    /// How the server listens and what it tolerates.
    public struct Configuration: Sendable {
        /// Address to bind: an IPv4/IPv6 literal or a host name (`"0.0.0.0"` for every interface).
        public var host: String
        /// Port to bind; 0 picks a free one (read it from `HTTPServer.port` after `start`).
        public var port: Int
        public var limits: HTTPLimits
        /// Open connections served at once (each holds a thread). Past it a new connection gets `503` with
        /// `Retry-After` and is closed.
        public var maxConnections: Int
        /// Pending-connection queue length passed to `listen`.
        public var backlog: Int
        /// Longest silence allowed in the middle of a request; then the client gets `408` and is closed.
        public var readTimeout: TimeInterval
        /// How long a keep-alive connection may wait for its next request before it is closed.
        public var idleTimeout: TimeInterval
        /// Longest a single write may block on a client that does not read (then the connection is dropped).
        public var writeTimeout: TimeInterval
        /// Seconds in the `Retry-After` header of the `503` sent past `maxConnections`.
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
                    maxConnections: Int = 128, backlog: Int = 256, readTimeout: TimeInterval = 30,
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
            self.idleTimeout = idleTimeout
            self.writeTimeout = writeTimeout
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

    private let condition = NSCondition()
    private var state = State.idle
    private var listenFD: Int32 = -1
    /// Written once at shutdown and never read, so it stays readable: every thread polling it wakes up.
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1
    private var boundPort = 0
    private var acceptLoopRunning = false
    private var openConnections = Set<Int32>()
    private var pendingRejections = 0
    private let rejectQueue = DispatchQueue(label: "sequent.http.reject")

    /// - Parameters:
    ///   - configuration: address, limits and timeouts.
    ///   - logger: receives one info line per request (the access log) and server errors.
    ///   - handler: answers every request; called on the connection's thread, so it may block.
    public init(configuration: Configuration, logger: Logger,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.configuration = configuration
        self.logger = logger
        self.handler = handler
    }

    deinit {
        // Connection threads retain the server, so by now none can be polling these descriptors.
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
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

    /// Connections currently being served.
    public var connectionCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return openConnections.count
    }

    /// Binds, listens and starts accepting on a background queue; returns once the port is bound.
    public func start() throws {
        condition.lock()
        defer { condition.unlock() }
        guard state == .idle else { throw HTTPServerError("server already started") }
        guard (0...65535).contains(configuration.port) else {
            throw HTTPServerError("port must be 0...65535, got \(configuration.port)")
        }
        // MSG_NOSIGNAL covers our own sends; ignoring SIGPIPE also covers any other write in the process.
        signal(SIGPIPE, SIG_IGN)

        let fd = try Self.bind(host: configuration.host, port: configuration.port)
        guard listen(fd, Int32(max(1, configuration.backlog))) == 0 else {
            let message = Socket.errorDescription
            close(fd)
            throw HTTPServerError("listen on \(configuration.host):\(configuration.port) failed: \(message)")
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw HTTPServerError("pipe failed: \(Socket.errorDescription)")
        }
        for p in pipeFDs { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
        listenFD = fd
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        boundPort = Socket.boundPort(fd)
        state = .running
        acceptLoopRunning = true
        let wake = wakeRead
        DispatchQueue(label: "sequent.http.accept").async { [self] in acceptLoop(listenFD: fd, wakeFD: wake) }
        logger.info("listening", metadata: ["host": "\(configuration.host)", "port": "\(boundPort)"])
    }

    /// Stops accepting, lets requests in flight finish, closes idle keep-alive connections and ends event streams
    /// (their writers start refusing writes), then returns. Connections still busy after `gracePeriod` seconds are
    /// shut down forcibly. Do not call it from a handler: it waits for that handler's connection.
    public func shutdown(gracePeriod: TimeInterval) {
        condition.lock()
        defer { condition.unlock() }
        guard state == .running else {
            if state == .idle { state = .stopped }
            return
        }
        state = .shuttingDown
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        let deadline = Date(timeIntervalSinceNow: max(0, gracePeriod))
        while acceptLoopRunning || !openConnections.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        if !openConnections.isEmpty {
            logger.warning("shutdown grace period over, closing connections", metadata: [
                "connections": "\(openConnections.count)",
            ])
            // Wakes every blocked recv, send and poll on them; the descriptors stay open (and cannot be reused
            // under us) until their connection closes them through `connectionFinished`.
            for fd in openConnections { Socket.shutdownBoth(fd) }
            let forced = Date(timeIntervalSinceNow: 1)
            while !openConnections.isEmpty {
                if !condition.wait(until: forced) { break }
            }
        }
        state = .stopped
        logger.info("stopped")
    }

    // MARK: - Accepting

    private func acceptLoop(listenFD: Int32, wakeFD: Int32) {
        while true {
            switch Socket.waitReadable(listenFD, wake: wakeFD, timeout: 3600) {
            case .readable:
                acceptOne(listenFD)
            case .timedOut:
                continue
            case .woken, .failed:
                condition.lock()
                close(listenFD)
                self.listenFD = -1
                acceptLoopRunning = false
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }

    private func acceptOne(_ listenFD: Int32) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &length) }
        }
        guard fd >= 0 else {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR || code == ECONNABORTED { return }
            logger.error("accept failed", metadata: ["error": "\(Socket.errorDescription)"])
            // Out of descriptors or memory: back off instead of spinning on a listener that stays readable.
            usleep(50_000)
            return
        }
        Socket.configureAccepted(fd, writeTimeout: configuration.writeTimeout)
        let remote = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.describe($0, length: length) }
        }

        condition.lock()
        let admitted = state == .running && openConnections.count < configuration.maxConnections
        let reject = state == .running && !admitted && pendingRejections < 64
        if admitted { openConnections.insert(fd) }
        if reject { pendingRejections += 1 }
        condition.unlock()

        if admitted {
            // One serial queue per connection: it blocks in recv/send, which must never happen on a shared queue.
            DispatchQueue(label: "sequent.http.connection").async { [self] in
                HTTPConnection(server: self, fd: fd, remoteAddress: remote).run()
            }
        } else if reject {
            rejectQueue.async { [self] in rejectBusy(fd: fd, remote: remote) }
        } else {
            close(fd)
        }
    }

    /// Answers 503 to a connection past `maxConnections`, on a queue of its own so accepting goes on.
    private func rejectBusy(fd: Int32, remote: String) {
        var response = configuration.errorResponder(503, "server busy, too many connections")
        response.headers["Retry-After"] = "\(configuration.retryAfter)"
        let head = ResponseHead.encode(response, bodyLength: response.body.count, chunked: false, keepAlive: false,
                                       requestVersion: "HTTP/1.1")
        _ = Socket.sendAll(fd, head + response.body)
        Socket.lingeringClose(fd, timeout: 0.2)
        close(fd)
        logAccess(method: "-", path: "-", status: 503, bytes: response.body.count, nanoseconds: 0, remote: remote)
        condition.lock()
        pendingRejections -= 1
        condition.unlock()
    }

    // MARK: - For connections

    /// The descriptor connections poll (with their socket) while idle, to notice shutdown at once.
    var wakeDescriptor: Int32 {
        condition.lock()
        defer { condition.unlock() }
        return wakeRead
    }

    /// Closes `fd` and forgets it; under the lock, so `shutdown` never touches a reused descriptor.
    func connectionFinished(_ fd: Int32) {
        condition.lock()
        close(fd)
        openConnections.remove(fd)
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
