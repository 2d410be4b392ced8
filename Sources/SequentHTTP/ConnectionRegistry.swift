import Dispatch
import Foundation

/// The server's open connections, and the periodic sweep that enforces their deadlines. Each connection lives on
/// its own serial queue; the sweep only posts `sweep(now:)` to each, so it never touches their state itself.
final class ConnectionRegistry: @unchecked Sendable {
    // @unchecked: `connections` is only touched under `lock`, `timer` only on `queue`.
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private let queue = DispatchQueue(label: "sequent.http.sweep")
    private var timer: DispatchSourceTimer?

    /// Starts calling each connection's `sweep(now:)` (on its queue) every `interval` seconds.
    func startSweeping(every interval: TimeInterval) {
        queue.sync {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let nanoseconds = max(1_000_000, Int(interval * 1e9))
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                           leeway: .nanoseconds(nanoseconds / 10))
            timer.setEventHandler { [self] in
                forEach { $0.sweep(now: DispatchTime.now().uptimeNanoseconds) }
            }
            self.timer = timer
            timer.resume()
        }
    }

    func stopSweeping() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    func add(_ connection: HTTPConnection) {
        lock.withLock { connections[ObjectIdentifier(connection)] = connection }
    }

    /// Forgets `connection` (it has begun closing).
    func remove(_ connection: HTTPConnection) {
        _ = lock.withLock { connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// The connections open now.
    var all: [HTTPConnection] { lock.withLock { Array(connections.values) } }

    /// Calls `body` on every connection, each on its own queue.
    func forEach(_ body: @escaping @Sendable (HTTPConnection) -> Void) {
        for connection in all { connection.queue.async { body(connection) } }
    }
}
