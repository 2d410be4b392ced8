import Foundation

/// A bounded set of threads that run request handlers.
///
/// Handlers may block (SQLite, a model forward pass, extracting an upload), so they cannot run on the event loops
/// and must not run on Dispatch's global queues, which starve when their few threads block (PLATFORM.md §6). A
/// fixed ceiling of threads, started on demand and ended after a while without work, keeps the cost of a burst
/// bounded; work beyond `maxQueued` waiting items is refused so the caller can answer 503 instead of queueing
/// without limit.
final class HandlerPool: @unchecked Sendable {
    // @unchecked: every mutable property is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var stopping = false
    let maxThreads: Int
    let maxQueued: Int
    private let idleExit: TimeInterval
    private let label: String

    init(maxThreads: Int, maxQueued: Int, idleExit: TimeInterval = 30, label: String = "sequent.http.handler") {
        self.maxThreads = max(1, maxThreads)
        self.maxQueued = max(1, maxQueued)
        self.idleExit = idleExit
        self.label = label
    }

    /// Queues `work`; false when `maxQueued` items already wait or the pool is stopping.
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping, queue.count - head < maxQueued else { return false }
        queue.append(work)
        if idle > 0 {
            condition.signal()
        } else if threads < maxThreads {
            threads += 1
            let thread = Thread { [self] in run() }
            thread.name = label
            thread.start()
        }
        return true
    }

    /// Lets queued work finish, then ends every thread; later `submit`s are refused.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Items waiting for a thread.
    var queuedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count - head
    }

    private func run() {
        condition.lock()
        while true {
            if head < queue.count {
                let work = queue[head]
                head += 1
                // Reclaim the consumed prefix once it dominates, so a long-lived queue stays small.
                if head > 64 && head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                condition.unlock()
                work()
                condition.lock()
                continue
            }
            if stopping { break }
            idle += 1
            let woke = condition.wait(until: Date(timeIntervalSinceNow: idleExit))
            idle -= 1
            if !woke && head >= queue.count { break }
        }
        threads -= 1
        condition.unlock()
    }
}
