import Foundation
import SequentStore

/// The cluster's `EventBus`: an `EventHub` for this process's subscribers, joined to every other process's by
/// LISTEN/NOTIFY (`PostgresStore.notify`, `PostgresEventListener`).
///
/// `publish`, `close(jobID:)` and `signalCancel` act on the local hub at once (so this process sees its own events
/// synchronously, in order) and NOTIFY the other processes, whose listeners hand them to their hubs: an SSE stream
/// on one replica follows a job trained on another and ends when it finishes, and a cancel reaches the worker
/// wherever it runs. Each bus stamps its messages with its `origin` and skips them when its own listener hears them
/// back, so nothing is delivered twice. A NOTIFY that fails (the database is away) is lost, as are messages sent
/// while the listener reconnects: nothing is replayed or invented then. Streams re-read the stored job on connect,
/// and the worker's heartbeat re-reads a stored `cancelling` state, so a lost cancel still arrives within a beat.
/// `close(jobID: nil)` (shutdown) is this process's alone.
public final class PostgresEventBus: EventBus, @unchecked Sendable {
    // @unchecked: immutable after init; the hub and the listener are thread-safe.
    private let hub: EventHub
    private let store: PostgresStore
    private let listener: PostgresEventListener
    /// Names this bus in its messages (unique per bus: a UUID after the given prefix).
    public let origin: String

    /// Listens on its own connection to `store`'s database before returning, so a message sent by another process
    /// after `init` returns is delivered. `originPrefix` makes the origin readable (a worker id).
    public init(store: PostgresStore, originPrefix: String = "bus") throws {
        self.store = store
        let origin = "\(originPrefix)/\(UUID().uuidString)"
        self.origin = origin
        // The handler holds the hub, not the bus: the listener's thread must not keep the bus alive.
        let hub = EventHub()
        self.hub = hub
        listener = try PostgresEventListener(url: store.pool.url) { message in
            guard message.origin != origin else { return }
            switch message.kind {
            case .event: hub.publish(jobID: message.jobID, name: message.name, data: message.data)
            case .close: hub.close(jobID: message.jobID)
            case .cancel: hub.signalCancel(jobID: message.jobID)
            }
        }
    }

    deinit { listener.stop() }

    /// Stops listening (no delivery from other processes after it returns); local delivery goes on.
    public func stop() { listener.stop() }

    /// Best effort: the bus's methods do not throw, and a lost message is covered by the re-reads described above.
    private func send(_ kind: ClusterMessage.Kind, jobID: String, name: String = "", data: String = "") {
        try? store.notify(ClusterMessage(kind, origin: origin, jobID: jobID, name: name, data: data))
    }

    public func publish(jobID: String, name: String, data: String) {
        hub.publish(jobID: jobID, name: name, data: data)
        send(.event, jobID: jobID, name: name, data: data)
    }

    public func subscribe(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
                          closed: @escaping @Sendable () -> Void) -> EventSubscription {
        hub.subscribe(jobID: jobID, deliver: deliver, closed: closed)
    }

    public func unsubscribe(_ subscription: EventSubscription) { hub.unsubscribe(subscription) }

    public func close(jobID: String?) {
        hub.close(jobID: jobID)
        if let jobID { send(.close, jobID: jobID) }
    }

    public func signalCancel(jobID: String) {
        hub.signalCancel(jobID: jobID)
        send(.cancel, jobID: jobID)
    }

    public func onCancel(jobID: String, _ handler: @escaping @Sendable () -> Void) -> EventSubscription {
        hub.onCancel(jobID: jobID, handler)
    }
}
