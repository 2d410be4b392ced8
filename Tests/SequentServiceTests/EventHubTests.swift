import Foundation
import Testing
@testable import SequentService
import SequentStore

/// The job event hub: numbering and delivery when several threads publish at once (training workers, the
/// scheduler's state changes), and the end of a job's streams.
@Suite struct EventHubTests {
    final class Received: @unchecked Sendable {
        // @unchecked: `events` is only touched under `lock`.
        private let lock = NSLock()
        private var events: [JobEvent] = []
        func add(_ e: JobEvent) { lock.withLock { events.append(e) } }
        var all: [JobEvent] { lock.withLock { events } }
    }

    @Test func concurrentPublishersGetUniqueNumbersDeliveredInOrder() {
        let hub = EventHub()
        let received = Received()
        let other = Received()
        let subscription = hub.subscribe(jobID: "j_a", deliver: { received.add($0) }, closed: {})
        _ = hub.subscribe(jobID: "j_b", deliver: { other.add($0) }, closed: {})
        let perThread = 2_000
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<perThread {
                hub.publish(jobID: thread.isMultiple(of: 2) ? "j_a" : "j_b", name: "progress", data: "\(thread):\(i)")
            }
        }
        let a = received.all.map(\.sequence)
        let b = other.all.map(\.sequence)
        #expect(a.count == 4 * perThread && b.count == 4 * perThread)
        // Every event has its own number, and each subscriber sees them in increasing order.
        #expect(Set(a + b).count == 8 * perThread)
        #expect(zip(a, a.dropFirst()).allSatisfy { $0 < $1 })
        #expect(zip(b, b.dropFirst()).allSatisfy { $0 < $1 })
        #expect(hub.lastSequence == 8 * perThread)
        hub.unsubscribe(subscription)
        hub.publish(jobID: "j_a", name: "progress", data: "late")
        #expect(received.all.count == 4 * perThread)
    }

    @Test func closingAJobEndsItsStreamsOnly() {
        let hub = EventHub()
        let ended = Received()
        _ = hub.subscribe(jobID: "j_a", deliver: { _ in }, closed: { ended.add(JobEvent(name: "a", data: "", sequence: 0)) })
        _ = hub.subscribe(jobID: "j_b", deliver: { _ in }, closed: { ended.add(JobEvent(name: "b", data: "", sequence: 0)) })
        hub.close(jobID: "j_a")
        #expect(ended.all.map(\.name) == ["a"])
        hub.close(jobID: nil)
        #expect(ended.all.map(\.name) == ["a", "b"])
    }

    @Test func aSubscriberMayUnsubscribeFromItsOwnDelivery() {
        // An SSE stream whose client is gone ends inside delivery, and its close handler unsubscribes.
        let hub = EventHub()
        let received = Received()
        let holder = SubscriptionHolder()
        holder.subscription = hub.subscribe(jobID: "j_a", deliver: { e in
            received.add(e)
            if let s = holder.subscription { hub.unsubscribe(s) }
        }, closed: {})
        hub.publish(jobID: "j_a", name: "progress", data: "1")
        hub.publish(jobID: "j_a", name: "progress", data: "2")
        #expect(received.all.map(\.data) == ["1"])
    }

    final class SubscriptionHolder: @unchecked Sendable {
        // @unchecked: set once before any event is published.
        var subscription: EventHub.Subscription?
    }
}
