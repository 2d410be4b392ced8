import Dispatch
import Foundation

/// The server's open connections, and the periodic sweep that enforces their deadlines. Each connection lives on
/// its own serial queue and publishes when it next needs attention (`deadline`); the sweep posts `sweep(now:)` only
/// to those that are due, so it neither touches their state nor wakes the queues of connections with nothing due.
final class ConnectionRegistry: @unchecked Sendable {
    // @unchecked: `connections` is only touched under `lock`, `timer` only on `queue`.
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private let queue = DispatchQueue(label: "sequent.http.sweep")
    private var timer: DispatchSourceTimer?

    /// Every `interval` seconds, calls `sweep(now:)` (on its queue) of each connection whose deadline has come.
    func startSweeping(every interval: TimeInterval) {
        queue.sync {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            let nanoseconds = max(1_000_000, Int(interval * 1e9))
            timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds),
                           leeway: .nanoseconds(nanoseconds / 10))
            timer.setEventHandler { [self] in
                let now = DispatchTime.now().uptimeNanoseconds
                for connection in all where connection.deadline <= now {
                    connection.queue.async { connection.sweep(now: DispatchTime.now().uptimeNanoseconds) }
                }
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
