import Dispatch
import Foundation

/// A serial queue that owns a share of the server's connections: their read and write sources fire on it, their
/// parsing and writing run on it, and a periodic sweep on it enforces their deadlines. Because the queue is serial
/// one read buffer serves all its connections, so an idle connection costs no buffer of its own.
final class EventLoop: @unchecked Sendable {
    // @unchecked: `connections`, `streams` and the read buffer are touched only on `queue`.
    let queue: DispatchQueue
    let readBuffer: UnsafeMutableRawBufferPointer
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    /// Open streamed responses on this loop (for the server's figures).
    var streams = 0
    private var timer: DispatchSourceTimer?

    init(index: Int, readBufferBytes: Int = 64 * 1024) {
        queue = DispatchQueue(label: "sequent.http.loop.\(index)")
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readBufferBytes, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Starts the sweep that calls each connection's `sweep(now:)` every `interval` seconds.
    func startSweeping(every interval: TimeInterval) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let nanoseconds = max(1_000_000, Int(interval * 1e9))
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                       leeway: .nanoseconds(nanoseconds / 10))
        timer.setEventHandler { [self] in
            let now = DispatchTime.now().uptimeNanoseconds
            for connection in Array(connections.values) { connection.sweep(now: now) }
        }
        self.timer = timer
        timer.resume()
    }

    func stopSweeping() {
        timer?.cancel()
        timer = nil
    }

    /// Takes over `connection`; on `queue`.
    func add(_ connection: HTTPConnection) {
        connections[ObjectIdentifier(connection)] = connection
    }

    /// Forgets `connection` (it has begun closing); on `queue`.
    func remove(_ connection: HTTPConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }

    /// Calls `body` on every connection; on `queue`.
    func forEach(_ body: (HTTPConnection) -> Void) {
        for connection in Array(connections.values) { body(connection) }
    }
}
