import Foundation

/// A server-sent event for a job: `progress`, `epoch` or `state`, with a JSON payload.
public struct JobEvent: Sendable, Equatable {
    public var name: String
    public var data: String
    /// Increases by one with every event published on the hub, in the order subscribers receive them.
    public var sequence: Int
}

/// Fans job events out to subscribers (the Server-Sent-Event streams). Delivery is a callback on the publishing
/// thread, which for training is the worker's: a subscriber must only queue the event (an SSE writer does), never
/// block, so a slow client cannot stall training; the HTTP layer drops a client that lets its queue grow too long.
public final class EventHub: @unchecked Sendable {
    // @unchecked: `subscribers` and `sequence` are only touched under `lock`.

    /// One subscriber's registration; pass it to `unsubscribe`.
    public final class Subscription: Sendable {
        let jobID: String
        fileprivate let deliver: @Sendable (JobEvent) -> Void
        fileprivate let closed: @Sendable () -> Void

        init(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
             closed: @escaping @Sendable () -> Void) {
            self.jobID = jobID
            self.deliver = deliver
            self.closed = closed
        }
    }

    // Recursive: a subscriber's delivery may end its stream, whose close handler unsubscribes, on the same thread.
    private let lock = NSRecursiveLock()
    private var subscribers: [String: [ObjectIdentifier: Subscription]] = [:]
    private var sequence = 0

    public init() {}

    /// Calls `deliver` with each event of `jobID` from now on and `closed` once when the job's stream ends (it
    /// finished, or the hub shut down), unless unsubscribed first.
    public func subscribe(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
                          closed: @escaping @Sendable () -> Void) -> Subscription {
        let s = Subscription(jobID: jobID, deliver: deliver, closed: closed)
        lock.withLock { subscribers[jobID, default: [:]][ObjectIdentifier(s)] = s }
        return s
    }

    public func unsubscribe(_ s: Subscription) {
        lock.withLock { _ = subscribers[s.jobID]?.removeValue(forKey: ObjectIdentifier(s)) }
    }

    /// Delivers an event to the job's subscribers. Numbering and delivery happen under the hub's lock, so every
    /// subscriber sees events in sequence order even when several threads publish at once.
    public func publish(jobID: String, name: String, data: String) {
        lock.withLock {
            sequence += 1
            let event = JobEvent(name: name, data: data, sequence: sequence)
            for s in (subscribers[jobID] ?? [:]).values { s.deliver(event) }
        }
    }

    /// The number of the last event published (0 before the first).
    public var lastSequence: Int { lock.withLock { sequence } }

    /// Ends every stream of a job (it finished) — or of all jobs (`jobID == nil`, shutdown).
    public func close(jobID: String?) {
        let targets: [Subscription] = lock.withLock {
            if let jobID { return Array((subscribers.removeValue(forKey: jobID) ?? [:]).values) }
            defer { subscribers.removeAll() }
            return subscribers.values.flatMap { Array($0.values) }
        }
        for t in targets { t.closed() }
    }
}
