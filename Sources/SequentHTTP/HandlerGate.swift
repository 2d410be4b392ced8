import Foundation

/// Bounds how many request handlers run at once, without a thread per waiting request.
///
/// Handlers may block (SQLite, a forward pass, unpacking an upload), so they cannot run without bound. A request
/// that finds a slot free runs its handler at once on its connection's own queue: the thread that parsed the request
/// answers it, with no hand-off. One that finds every slot taken waits in a FIFO as a closure — no thread — and is
/// resumed, holding the slot, when a running handler finishes. Past `maxWaiting` waiting requests `enter` refuses,
/// so the caller can answer 503 instead of queueing without limit.
final class HandlerGate: @unchecked Sendable {
    // @unchecked: `free`, `waiting` and `head` are only touched under `lock`.
    enum Admission {
        /// A slot is held: run the handler now, then call `leave()`.
        case run
        /// Every slot is taken; `resume` will be called (from another thread) once one is handed over.
        case queued
        /// Too many requests wait already.
        case refused
    }

    private let lock = NSLock()
    private var free: Int
    private var waiting: [@Sendable () -> Void] = []
    private var head = 0
    let slots: Int
    let maxWaiting: Int

    init(slots: Int, maxWaiting: Int) {
        self.slots = max(1, slots)
        self.maxWaiting = max(0, maxWaiting)
        free = self.slots
    }

    /// Takes a slot, or queues `resume` to be called once one is handed over, or refuses.
    func enter(resume: @escaping @Sendable () -> Void) -> Admission {
        lock.lock()
        defer { lock.unlock() }
        if free > 0 {
            free -= 1
            return .run
        }
        guard waiting.count - head < maxWaiting else { return .refused }
        waiting.append(resume)
        return .queued
    }

    /// Gives the slot back, or hands it straight to the longest-waiting request.
    func leave() {
        lock.lock()
        guard head < waiting.count else {
            free += 1
            lock.unlock()
            return
        }
        let next = waiting[head]
        head += 1
        // Reclaim the consumed prefix once it dominates, so the list stays small.
        if head > 64 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        lock.unlock()
        next()
    }

    /// Requests waiting for a slot.
    var waitingCount: Int {
        lock.withLock { waiting.count - head }
    }
}
