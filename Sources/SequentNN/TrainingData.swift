import Foundation

/// Where `fit` and `evaluate` read samples from: tensors in memory (`TensorData`), or a source that prepares
/// samples on demand, such as a folder of images decoded as training goes (SequentData's `ImageFolderData`).
///
/// `fit` calls `gather` on a loader thread, one batch at a time and never concurrently, while the model trains
/// on the previous batch.
public protocol TrainingData: Sendable {
    /// Number of samples.
    var count: Int { get }
    /// Floats of one input sample.
    var inputWidth: Int { get }
    /// Floats of one target row (1 for class indices).
    var targetWidth: Int { get }
    /// Writes the inputs and targets of the samples `indices`, in order, as consecutive rows of `x` and `y`.
    func gather(_ indices: ArraySlice<Int>, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) throws
    /// The samples in `range`, renumbered from 0 (`validation_split` holds out the tail).
    func subset(_ range: Range<Int>) -> any TrainingData
}

/// Samples held in two tensors: inputs `[N, …]` and targets `[N]` or `[N, width]`.
public struct TensorData: TrainingData {
    public let x: Tensor
    public let y: Tensor

    public init(x: Tensor, y: Tensor) {
        self.x = x
        self.y = y
    }

    public var count: Int { x.shape.first ?? 0 }
    public var inputWidth: Int { x.itemCount }
    public var targetWidth: Int { y.itemCount }

    public func gather(_ indices: ArraySlice<Int>, x xOut: UnsafeMutablePointer<Float>,
                       y yOut: UnsafeMutablePointer<Float>) throws {
        let (iw, tw) = (inputWidth, targetWidth)
        x.scalars.withUnsafeBufferPointer { xs in
            y.scalars.withUnsafeBufferPointer { ys in
                for (r, src) in indices.enumerated() {
                    (xOut + r * iw).update(from: xs.baseAddress! + src * iw, count: iw)
                    (yOut + r * tw).update(from: ys.baseAddress! + src * tw, count: tw)
                }
            }
        }
    }

    public func subset(_ range: Range<Int>) -> any TrainingData {
        TensorData(x: x.slice(range), y: y.slice(range))
    }
}

/// Prepares the batches of one pass on a loader thread, `depth` batches ahead of the trainer, into a ring of
/// preallocated buffers; `augment` runs there too. The trainer's time spent waiting in `next()` is measured:
/// it is the answer to "does training ever wait for the data".
final class BatchPrefetcher: @unchecked Sendable {
    struct Batch {
        let x: UnsafeMutablePointer<Float>
        let y: UnsafeMutablePointer<Float>
        let count: Int
        let step: Int
    }

    private let slotsX: [FloatBuffer]
    private let slotsY: [FloatBuffer]
    private let free: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var cancelled = false
    private var error: (any Error)?
    private var counts: [Int]
    private let plan: [[Int]]
    private var consumed = 0
    /// Seconds the trainer spent blocked in `next()`.
    private(set) var waitSeconds = 0.0

    /// `plan[step]` lists the sample indices of each batch, in order.
    init(data: any TrainingData, plan: [[Int]], depth: Int = 2,
         augment: (@Sendable (UnsafeMutablePointer<Float>, Int, Int) -> Void)? = nil) {
        let capacity = plan.map(\.count).max() ?? 0
        let slots = max(1, min(depth, plan.count))
        slotsX = (0..<slots).map { _ in FloatBuffer(count: capacity * data.inputWidth) }
        slotsY = (0..<slots).map { _ in FloatBuffer(count: capacity * data.targetWidth) }
        counts = Array(repeating: 0, count: slots)
        // Created at 0 and raised: libdispatch traps when a semaphore is freed below its initial value, which
        // the loader leaves it at when training stops early.
        free = DispatchSemaphore(value: 0)
        for _ in 0..<slots { free.signal() }
        self.plan = plan
        let thread = Thread { [self] in
            load(data: data, augment: augment)
            finished.signal()
        }
        thread.name = "sequent-loader"
        thread.start()
    }

    private func load(data: any TrainingData, augment: (@Sendable (UnsafeMutablePointer<Float>, Int, Int) -> Void)?) {
        for (step, indices) in plan.enumerated() {
            free.wait()
            if lock.withLock({ cancelled }) { return }
            let slot = step % slotsX.count
            do {
                try data.gather(indices[...], x: slotsX[slot].pointer, y: slotsY[slot].pointer)
                augment?(slotsX[slot].pointer, indices.count, step)
                counts[slot] = indices.count
            } catch {
                lock.withLock { self.error = error }
                ready.signal()
                return
            }
            ready.signal()
        }
    }

    /// The next batch, waiting for the loader if it is not ready. Call `release()` when done with it.
    func next() throws -> Batch? {
        guard consumed < plan.count else { return nil }
        let t0 = DispatchTime.now().uptimeNanoseconds
        ready.wait()
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        if let error = lock.withLock({ self.error }) { throw error }
        let slot = consumed % slotsX.count
        defer { consumed += 1 }
        return Batch(x: slotsX[slot].pointer, y: slotsY[slot].pointer, count: counts[slot], step: consumed)
    }

    /// Hands the last batch's buffer back to the loader.
    func release() { free.signal() }

    /// Stops the loader (training ended early) and waits for its thread, so no buffer is written after return.
    func finish() {
        lock.withLock { cancelled = true }
        for _ in 0..<slotsX.count { free.signal() }
        finished.wait()
    }
}
