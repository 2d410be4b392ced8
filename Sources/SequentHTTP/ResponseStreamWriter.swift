import Foundation

/// Where a stream's bytes go: the connection that carries it, or a test's collector.
protocol ResponseStreamSink: AnyObject, Sendable {
    /// Queues `bytes` (one chunk); never blocks.
    func streamWrite(_ bytes: [UInt8])
    /// Ends the stream (the last chunk); the connection then serves its next request or closes.
    func streamEnd()
    /// The client let too much pile up unread: drop it.
    func streamOverflow()
}

/// Writes the body of a streamed response (`HTTPResponse.stream`), typically Server-Sent Events.
///
/// A stream is a registered writer, not a thread: the server calls the response's producer once with the writer,
/// and the producer may return at once and keep the writer, writing from any thread whenever it has something to
/// send (an event hub's callback, a timer). The stream lasts until `close()`, the client's departure, a write the
/// client is too slow to take, or server shutdown; `onClose` handlers run once when it ends, for whatever reason,
/// which is where a producer unsubscribes. Writes never block: they are queued on the connection, which drops a
/// client that lets more than the server's stream buffer limit pile up unread.
public final class ResponseStreamWriter: @unchecked Sendable {
    // @unchecked: `ended`, `written`, `closeHandlers`, `lastWrite` and `heartbeat` are only touched under `lock`;
    // the sink is Sendable and does its own hop to the connection's queue.
    private let lock = NSLock()
    private let sink: (any ResponseStreamSink)?
    private let testSink: (@Sendable ([UInt8]) -> Bool)?
    private let shuttingDown: @Sendable () -> Bool
    private var ended = false
    private var written = 0
    private var closeHandlers: [@Sendable () -> Void] = []
    private var lastWrite = DispatchTime.now().uptimeNanoseconds
    private var heartbeat: (interval: UInt64, bytes: [UInt8])?
    /// Bytes handed to the sink that the connection has not taken into its output yet, and the most allowed.
    private var inFlight = 0
    private let inFlightLimit: Int

    /// A writer that hands each write to `sink` (which returns false once its destination is gone). Meant for
    /// testing producers without a socket; `close()` ends it as on a connection.
    public init(sink: @escaping @Sendable ([UInt8]) -> Bool) {
        self.sink = nil
        testSink = sink
        shuttingDown = { false }
        inFlightLimit = .max
    }

    init(sink: any ResponseStreamSink, limit: Int, shuttingDown: @escaping @Sendable () -> Bool) {
        self.sink = sink
        testSink = nil
        self.shuttingDown = shuttingDown
        inFlightLimit = limit
    }

    /// Queues `bytes` as one chunk. False once the stream has ended (closed, client gone, shutdown); the producer
    /// should then stop. Writing nothing sends nothing (an empty chunk would end the stream).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        lock.lock()
        guard !ended else {
            lock.unlock()
            return false
        }
        guard !bytes.isEmpty else {
            lock.unlock()
            return true
        }
        // A producer can write far faster than the connection's queue runs; bound what is queued between them.
        guard inFlight <= inFlightLimit - bytes.count else {
            lock.unlock()
            sink?.streamOverflow()
            terminate()
            return false
        }
        inFlight += bytes.count
        written += bytes.count
        lastWrite = DispatchTime.now().uptimeNanoseconds
        if let testSink, !testSink(bytes) {
            lock.unlock()
            terminate()
            return false
        }
        // Under the lock, so writes from several threads reach the connection in the order they were accepted.
        sink?.streamWrite(bytes)
        lock.unlock()
        return true
    }

    /// Queues the UTF-8 bytes of `text`.
    @discardableResult
    public func write(_ text: String) -> Bool {
        write(Array(text.utf8))
    }

    /// Ends the stream after what was written so far; the connection goes on to its next request.
    public func close() {
        lock.lock()
        guard !ended else {
            lock.unlock()
            return
        }
        sink?.streamEnd()
        lock.unlock()
        terminate()
    }

    /// Runs `handler` once when the stream ends, whatever ends it; at once if it already has.
    public func onClose(_ handler: @escaping @Sendable () -> Void) {
        lock.lock()
        if ended {
            lock.unlock()
            handler()
            return
        }
        closeHandlers.append(handler)
        lock.unlock()
    }

    /// Sends `bytes` whenever nothing was written for `interval` seconds (an SSE comment line keeps proxies from
    /// timing the stream out and lets the server notice a departed client).
    public func keepAlive(every interval: TimeInterval, _ bytes: [UInt8]) {
        lock.withLock { heartbeat = (UInt64(max(0.01, interval) * 1e9), bytes) }
    }

    /// True once the server has begun shutting down; long-lived streams end then anyway.
    public var isShuttingDown: Bool { shuttingDown() }

    /// Whether writing can still succeed.
    public var isOpen: Bool {
        lock.withLock { !ended }
    }

    /// Body bytes written so far (before chunk framing).
    public var bytesWritten: Int {
        lock.withLock { written }
    }

    /// The connection took `count` bytes of a write into its output.
    func delivered(_ count: Int) {
        lock.withLock { inFlight -= count }
    }

    /// Marks the stream ended and runs the close handlers; called by the connection when it ends the stream.
    func terminate() {
        let handlers: [@Sendable () -> Void] = lock.withLock {
            guard !ended else { return [] }
            ended = true
            defer { closeHandlers = [] }
            return closeHandlers
        }
        for handler in handlers { handler() }
    }

    /// When the next heartbeat falls due if nothing is written meanwhile; nil without one.
    var nextHeartbeat: UInt64? {
        lock.withLock {
            guard !ended, let heartbeat else { return nil }
            return lastWrite &+ heartbeat.interval
        }
    }

    /// The heartbeat due at `now`, if one is configured and nothing was written for its interval.
    func dueHeartbeat(now: UInt64) -> [UInt8]? {
        lock.withLock {
            guard !ended, let heartbeat, now > lastWrite, now - lastWrite >= heartbeat.interval else { return nil }
            return heartbeat.bytes
        }
    }
}
