import Foundation

/// A server-sent event for a job: `progress`, `epoch` or `state`, with a JSON payload.
public struct JobEvent: Sendable, Equatable {
    public var name: String
    public var data: String
    /// Increases by one with every event published on the bus, in the order subscribers receive them.
    public var sequence: Int

    public init(name: String, data: String, sequence: Int) {
        self.name = name
        self.data = data
        self.sequence = sequence
    }
}

/// One registration on an `EventBus` (events of a job, or its cancel signal); pass it to `unsubscribe`.
public final class EventSubscription: Sendable {
    public let jobID: String

    public init(jobID: String) { self.jobID = jobID }
}

/// Live job events and cancel signals between the process that trains a job and the ones that watch or cancel it.
///
/// In one process (`EventHub`) both are callbacks. Across machines (PostgreSQL) a publish is a `NOTIFY` on a job
/// channel and a cancel is the stored `cancelling` state plus a `NOTIFY` the worker's process listens for; as a
/// signal may be missed (a dropped connection), workers also re-read their job's state at every lease renewal, so a
/// cancel arrives within one heartbeat at worst.
///
/// Delivery runs on the publishing (or listening) thread: a handler must only queue the event or flip a flag,
/// never block, so a slow client cannot stall training.
public protocol EventBus: Sendable {
    /// Delivers an event to the job's subscribers, numbered in the order they receive it.
    func publish(jobID: String, name: String, data: String)
    /// Calls `deliver` with each event of `jobID` from now on and `closed` once when the job's stream ends (it
    /// finished, or the bus shut down), unless unsubscribed first.
    func subscribe(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
                   closed: @escaping @Sendable () -> Void) -> EventSubscription
    /// Ends a registration of `subscribe` or `onCancel`.
    func unsubscribe(_ subscription: EventSubscription)
    /// Ends every stream of a job (it finished) — or of all jobs (`jobID == nil`, shutdown).
    func close(jobID: String?)
    /// Asks the worker running `jobID`, wherever it runs, to stop it. The caller has already stored `cancelling`.
    func signalCancel(jobID: String)
    /// Calls `handler` when `signalCancel(jobID:)` is sent, until unsubscribed (the worker running the job).
    func onCancel(jobID: String, _ handler: @escaping @Sendable () -> Void) -> EventSubscription
}

/// The in-process `EventBus`: fans job events out to subscribers (the Server-Sent-Event streams) and cancel signals
/// to the worker thread running the job. Thread-safe; what the service uses on SQLite and the tests use everywhere.
public final class EventHub: EventBus, @unchecked Sendable {
    // @unchecked: `subscribers`, `cancelHandlers` and `sequence` are only touched under `lock`.

    /// Kept for callers that name the hub's registration type.
    public typealias Subscription = EventSubscription

    private struct Entry {
        let subscription: EventSubscription
        let deliver: @Sendable (JobEvent) -> Void
        let closed: @Sendable () -> Void
    }

    // Recursive: a subscriber's delivery may end its stream, whose close handler unsubscribes, on the same thread.
    private let lock = NSRecursiveLock()
    private var subscribers: [String: [ObjectIdentifier: Entry]] = [:]
    private var cancelHandlers: [String: [ObjectIdentifier: @Sendable () -> Void]] = [:]
    private var sequence = 0

    public init() {}

    public func subscribe(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
                          closed: @escaping @Sendable () -> Void) -> EventSubscription {
        let s = EventSubscription(jobID: jobID)
        lock.withLock { subscribers[jobID, default: [:]][ObjectIdentifier(s)] = Entry(subscription: s, deliver: deliver, closed: closed) }
        return s
    }

    public func unsubscribe(_ s: EventSubscription) {
        lock.withLock {
            _ = subscribers[s.jobID]?.removeValue(forKey: ObjectIdentifier(s))
            _ = cancelHandlers[s.jobID]?.removeValue(forKey: ObjectIdentifier(s))
            if cancelHandlers[s.jobID]?.isEmpty == true { cancelHandlers[s.jobID] = nil }
        }
    }

    /// Numbering and delivery happen under the hub's lock, so every subscriber sees events in sequence order even
    /// when several threads publish at once.
    public func publish(jobID: String, name: String, data: String) {
        lock.withLock {
            sequence += 1
            let event = JobEvent(name: name, data: data, sequence: sequence)
            for s in (subscribers[jobID] ?? [:]).values { s.deliver(event) }
        }
    }

    /// The number of the last event published (0 before the first).
    public var lastSequence: Int { lock.withLock { sequence } }

    public func close(jobID: String?) {
        let targets: [Entry] = lock.withLock {
            if let jobID { return Array((subscribers.removeValue(forKey: jobID) ?? [:]).values) }
            defer { subscribers.removeAll() }
            return subscribers.values.flatMap { Array($0.values) }
        }
        for t in targets { t.closed() }
    }

    public func signalCancel(jobID: String) {
        let handlers = lock.withLock { Array((cancelHandlers[jobID] ?? [:]).values) }
        for h in handlers { h() }
    }

    public func onCancel(jobID: String, _ handler: @escaping @Sendable () -> Void) -> EventSubscription {
        let s = EventSubscription(jobID: jobID)
        lock.withLock { cancelHandlers[jobID, default: [:]][ObjectIdentifier(s)] = handler }
        return s
    }
}
