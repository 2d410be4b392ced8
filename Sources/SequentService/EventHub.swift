import Foundation

/// A server-sent event for a job: `progress`, `epoch` or `state`, with a JSON payload.
public struct JobEvent: Sendable {
    public var name: String
    public var data: String
    public var sequence: Int
}

/// Fans job events out to Server-Sent-Event subscribers. Each subscriber has a small bounded buffer: a slow
/// client loses old `progress` events (the next one supersedes them) rather than stalling training.
public final class EventHub: @unchecked Sendable {
    public final class Subscription: @unchecked Sendable {
        let jobID: String
        fileprivate var buffer: [JobEvent] = []
        fileprivate var closed = false
        fileprivate let condition = NSCondition()

        init(jobID: String) { self.jobID = jobID }

        /// Waits up to `timeout` for events; returns them (empty on timeout) or nil once closed and drained.
        public func next(timeout: TimeInterval) -> [JobEvent]? {
            condition.lock()
            defer { condition.unlock() }
            if buffer.isEmpty && !closed { _ = condition.wait(until: Date().addingTimeInterval(timeout)) }
            if buffer.isEmpty && closed { return nil }
            let out = buffer
            buffer.removeAll()
            return out
        }

        fileprivate func push(_ e: JobEvent) {
            condition.lock()
            buffer.append(e)
            if buffer.count > 256 { buffer.removeFirst(buffer.count - 256) }
            condition.signal()
            condition.unlock()
        }

        fileprivate func close() {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
    }

    private let lock = NSLock()
    private var subscribers: [String: [ObjectIdentifier: Subscription]] = [:]
    private var sequence = 0

    public init() {}

    public func subscribe(jobID: String) -> Subscription {
        let s = Subscription(jobID: jobID)
        lock.withLock { subscribers[jobID, default: [:]][ObjectIdentifier(s)] = s }
        return s
    }

    public func unsubscribe(_ s: Subscription) {
        lock.withLock { _ = subscribers[s.jobID]?.removeValue(forKey: ObjectIdentifier(s)) }
    }

    public func publish(jobID: String, name: String, data: String) {
        let targets: [Subscription] = lock.withLock {
            sequence += 1
            return Array(subscribers[jobID]?.values ?? [:].values)
        }
        let event = JobEvent(name: name, data: data, sequence: sequence)
        for t in targets { t.push(event) }
    }

    /// Ends every stream of a job (it finished) — or of all jobs (`jobID == nil`, shutdown).
    public func close(jobID: String?) {
        let targets: [Subscription] = lock.withLock {
            if let jobID { return Array((subscribers.removeValue(forKey: jobID) ?? [:]).values) }
            defer { subscribers.removeAll() }
            return subscribers.values.flatMap { Array($0.values) }
        }
        for t in targets { t.close() }
    }
}
