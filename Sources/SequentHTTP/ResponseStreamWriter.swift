import Foundation

/// Writes the body of a streamed response (`HTTPResponse.stream`), typically Server-Sent Events.
///
/// The producer receives the writer on the connection's thread and may block there (waiting for events, sleeping
/// between heartbeats). It may also hand the writer to callbacks on other threads while it waits: writes are
/// serialised by a lock. Writes after the producer returned are refused, so such callbacks must be unsubscribed
/// before it returns or simply find `write` returning false.
public final class ResponseStreamWriter: @unchecked Sendable {
    // @unchecked: `closed` and `bytesWritten` are only touched under `lock`; the closures are @Sendable.
    private let lock = NSLock()
    private let sink: @Sendable ([UInt8]) -> Bool
    private let shuttingDown: @Sendable () -> Bool
    private let peerHungUp: @Sendable () -> Bool
    private let waiter: @Sendable (TimeInterval) -> Void
    private var closed = false
    private var written = 0

    /// A writer that hands each write to `sink` (which returns false once its destination is gone). Meant for
    /// testing producers without a socket.
    public convenience init(sink: @escaping @Sendable ([UInt8]) -> Bool) {
        self.init(sink: sink, shuttingDown: { false }, peerHungUp: { false },
                  waiter: { Thread.sleep(forTimeInterval: $0) })
    }

    init(sink: @escaping @Sendable ([UInt8]) -> Bool, shuttingDown: @escaping @Sendable () -> Bool,
         peerHungUp: @escaping @Sendable () -> Bool, waiter: @escaping @Sendable (TimeInterval) -> Void) {
        self.sink = sink
        self.shuttingDown = shuttingDown
        self.peerHungUp = peerHungUp
        self.waiter = waiter
    }

    /// Sends `bytes` as one chunk. False when the client is gone, the server is shutting down or the stream has
    /// ended; the producer should then return. Writing nothing sends nothing (an empty chunk would end the stream).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !closed, !shuttingDown() else { return false }
        guard !bytes.isEmpty else { return true }
        guard sink(bytes) else {
            closed = true
            return false
        }
        written += bytes.count
        return true
    }

    /// Sends the UTF-8 bytes of `text`.
    @discardableResult
    public func write(_ text: String) -> Bool {
        write(Array(text.utf8))
    }

    /// True once the server has begun shutting down; long-lived streams should end.
    public var isShuttingDown: Bool { shuttingDown() }

    /// Whether writing can still succeed: not ended, not shutting down, and the client has not hung up (checked
    /// without writing, so a producer waiting for rare events notices a departed client).
    public var isOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !closed && !shuttingDown() && !peerHungUp()
    }

    /// Waits up to `seconds`, returning early when the server shuts down or the client hangs up; then returns
    /// `isOpen`. The natural loop for a polling producer: `while writer.sleep(1) { … write … }`.
    @discardableResult
    public func sleep(_ seconds: TimeInterval) -> Bool {
        if isOpen { waiter(seconds) }
        return isOpen
    }

    /// Body bytes written so far (before chunk framing).
    public var bytesWritten: Int {
        lock.lock()
        defer { lock.unlock() }
        return written
    }

    /// Ends the stream; returns whether every write succeeded.
    func finish() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let ok = !closed
        closed = true
        return ok
    }
}
