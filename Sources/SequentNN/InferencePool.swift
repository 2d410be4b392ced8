import CSequentSupport
import Dispatch
import Foundation
import Synchronization

/// Worker threads for one prediction's parallel parts, which spin for a moment between jobs instead of sleeping.
///
/// Why not `DispatchQueue.concurrentPerform` alone: a single-image prediction of a small CNN is about 80 µs of
/// work, split at one or two layers, and waking a parked thread costs several microseconds each time (more in a
/// virtual machine, where the wake-up is an inter-processor interrupt through the hypervisor). ONNX Runtime's
/// intra-op threads spin for the same reason. Here a worker spins for `spinNanoseconds` after each job and after
/// `prepare()` (which a prediction calls when it starts, so the wake-up overlaps its first layers), then parks;
/// the spinning is bounded, so an idle server costs nothing and a busy core is not held for long.
///
/// One job runs at a time; a caller that finds the pool busy falls back to `concurrentPerform`.
final class InferencePool: @unchecked Sendable {
    /// One worker per core beside the caller's.
    static let shared = InferencePool(workers: ProcessInfo.processInfo.activeProcessorCount - 1)

    /// How long a worker spins for the next job before it parks.
    static let spinNanoseconds: UInt64 = 60_000

    /// The current job, packed so that a worker claims an iteration and checks that the job is still the one it
    /// saw in one compare-and-swap: bits 40–63 the job's number, 32–39 its thread count, 16–31 its iteration
    /// count, 0–15 the next unclaimed iteration.
    private let job = Atomic<UInt64>(0)
    /// Iterations finished in the current job.
    private let finished = Atomic<Int>(0)
    /// Set while a caller owns the pool.
    private let busy = Atomic<Bool>(false)
    /// Bumped by `prepare()`, so that spinning workers restart their spin.
    private let wakeups = Atomic<UInt64>(0)
    /// The current job's body: written before the job is published, read only by a thread that has claimed one of
    /// its iterations (so the caller, which waits for all of them, cannot have replaced it).
    nonisolated(unsafe) private var body: (@Sendable (Int) -> Void)?
    private let workers: [Worker]
    /// Signalled each time a worker parks, so that a test can wait for it (a worker parks at most once per idle
    /// spell, after spinning, so this costs nothing on the path of a job).
    private let parkings = DispatchSemaphore(value: 0)

    /// A parked worker's flag and semaphore.
    private final class Worker: @unchecked Sendable {
        let parked = Atomic<Bool>(false)
        let semaphore = DispatchSemaphore(value: 0)
    }

    init(workers count: Int) {
        workers = (0..<max(0, count)).map { _ in Worker() }
        for (index, worker) in workers.enumerated() {
            let thread = Thread { [unowned self] in self.workerLoop(index, worker) }
            thread.name = "sequent-inference-\(index + 1)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Workers beside the caller.
    var workerCount: Int { workers.count }

    /// Workers parked now (for tests).
    var parkedWorkers: Int { workers.filter { $0.parked.load(ordering: .sequentiallyConsistent) }.count }

    /// Waits until every worker is parked, or `deadline` passes; true when they are (for tests).
    func waitUntilParked(deadline: DispatchTime) -> Bool {
        while parkedWorkers < workers.count {
            guard parkings.wait(timeout: deadline) == .success else { return parkedWorkers == workers.count }
        }
        return true
    }

    /// Wakes parked workers: a job is coming soon.
    func prepare() {
        wakeups.add(1, ordering: .sequentiallyConsistent)
        wakeParked()
    }

    /// Runs `body(0..<iterations)` on the caller and up to `threads - 1` workers, each iteration on one thread;
    /// returns when all have finished. Iterations are claimed in turn by whichever thread is free.
    func run(iterations: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
        guard iterations > 1, threads > 1, !workers.isEmpty, iterations < 1 << 16,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            if iterations == 1 { body(0); return }
            DispatchQueue.concurrentPerform(iterations: iterations) { i in
                sequent_enable_flush_to_zero()
                body(i)
            }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            finished.store(0, ordering: .sequentiallyConsistent)
            let number = (job.load(ordering: .sequentiallyConsistent) >> 40) &+ 1
            let helpers = UInt64(min(threads - 1, workers.count, 255))
            job.store((number & 0xFF_FFFF) << 40 | helpers << 32 | UInt64(iterations) << 16, ordering: .sequentiallyConsistent)
            wakeParked()
            var claimed = 0
            while let i = claim(number: number & 0xFF_FFFF) {
                escapable(i)
                claimed += 1
            }
            if claimed > 0 { finished.add(claimed, ordering: .sequentiallyConsistent) }
            while finished.load(ordering: .sequentiallyConsistent) < iterations { sequent_cpu_relax() }
            self.body = nil
        }
    }

    /// The next unclaimed iteration of job `number`, or nil when it has none left (or another job is current).
    private func claim(number: UInt64) -> Int? {
        var word = job.load(ordering: .sequentiallyConsistent)
        while word >> 40 == number {
            let next = word & 0xFFFF, count = (word >> 16) & 0xFFFF
            guard next < count else { return nil }
            let (exchanged, seen) = job.compareExchange(expected: word, desired: word + 1, ordering: .sequentiallyConsistent)
            if exchanged { return Int(next) }
            word = seen
        }
        return nil
    }

    private func wakeParked() {
        for worker in workers where worker.parked.exchange(false, ordering: .sequentiallyConsistent) {
            worker.semaphore.signal()
        }
    }

    /// Calls the current body for iteration `i` (a function of its own, so the worker's copy of the closure is
    /// released before the iteration is counted as finished).
    @inline(never)
    private func perform(_ i: Int) { body!(i) }

    private func workerLoop(_ index: Int, _ worker: Worker) {
        sequent_enable_flush_to_zero()
        var seenJob = job.load(ordering: .sequentiallyConsistent) >> 40
        var seenWakeup = wakeups.load(ordering: .sequentiallyConsistent)
        var spinStart = DispatchTime.now().uptimeNanoseconds
        while true {
            let word = job.load(ordering: .sequentiallyConsistent), number = word >> 40
            if number != seenJob {
                seenJob = number
                if UInt64(index) < (word >> 32) & 0xFF {
                    var done = 0
                    while let i = claim(number: number) {
                        perform(i)
                        done += 1
                    }
                    if done > 0 { finished.add(done, ordering: .sequentiallyConsistent) }
                }
                spinStart = DispatchTime.now().uptimeNanoseconds
                continue
            }
            let wakeup = wakeups.load(ordering: .sequentiallyConsistent)
            if wakeup != seenWakeup {
                seenWakeup = wakeup
                spinStart = DispatchTime.now().uptimeNanoseconds
            }
            if DispatchTime.now().uptimeNanoseconds - spinStart < Self.spinNanoseconds {
                for _ in 0..<32 { sequent_cpu_relax() }
                continue
            }
            // Park, unless a job or a wake-up came after the last look (then take back the flag, or, if a
            // caller already took it, eat the signal it sends).
            worker.parked.store(true, ordering: .sequentiallyConsistent)
            if job.load(ordering: .sequentiallyConsistent) >> 40 != seenJob
                || wakeups.load(ordering: .sequentiallyConsistent) != seenWakeup {
                if !worker.parked.exchange(false, ordering: .sequentiallyConsistent) { worker.semaphore.wait() }
            } else {
                parkings.signal()
                worker.semaphore.wait()
            }
            spinStart = DispatchTime.now().uptimeNanoseconds
            seenWakeup = wakeups.load(ordering: .sequentiallyConsistent)
        }
    }
}
