import CSequentSupport
import Dispatch
import Foundation

/// Runs the model on one or a few samples with preallocated buffers. Not thread-safe: one per thread.
///
/// A model with BatchNormalization is run as its `foldedForInference()` copy, made with the weights as they are
/// when the predictor is made (serving loads a saved model once; make a new predictor after training on).
/// A call uses up to `threads` threads, as many as the process's `InferenceCores` budget has free when it starts.
/// A batch is shared out by samples, each thread running whole forward passes on its own buffers, so every layer
/// keeps its batched kernels (Winograd among them). A single sample, or a batch too small to share, has its large
/// layers split instead (`Sequential.inferenceForward`).
public final class Predictor: @unchecked Sendable {
    public let model: Sequential
    /// What runs: `model`, or its folded copy.
    let runner: Sequential
    /// Threads one call may use.
    public let threads: Int
    /// Where the threads come from.
    let cores: InferenceCores
    /// Work below which a layer is not split (tests lower it to split small layers).
    var minimumSplitFlops = Sequential.defaultMinimumSplitFlops
    /// Work (FLOPs over the batch) below which a batch is not shared out by samples. Tests raise it to reach the
    /// layer splits with several samples.
    var minimumShareFlops = Predictor.defaultMinimumShareFlops
    /// The largest batch one call takes.
    public let capacity: Int
    /// One per thread that can take a share of a batch, each holding `capacity / threads` samples (rounded up),
    /// so sharing costs no more memory than one workspace for the whole batch. The first also runs the layer splits.
    private let workspaces: [Workspace]
    private let outputBuffer: FloatBuffer
    /// Per part of a split layer (`partScratchStride` floats each): the fused conv + pool pass's row buffers, a
    /// Dense part's sums.
    private let partScratch: FloatBuffer
    private let partScratchStride: Int
    /// Hands out a batch's shares; reset by each call (a predictor runs one call at a time).
    private let shareCounter = ShareCounter()

    /// A batch's share is a few forward passes: the fork/join of `concurrentPerform` costs several microseconds,
    /// which 4 MFLOP of work covers many times over.
    static let defaultMinimumShareFlops = 4_000_000
    /// Shares per thread, taken in turn by whichever thread is free, so that a preempted worker holds up half of
    /// its half at most (see `Sequential.partsPerThread`); one when a layer's weights are larger than the cache,
    /// since each share streams every weight from memory (the 300×300 recipe's 160 MB Dense kernel made four shares
    /// of a batch of 32 slower than two).
    let sharesPerThread: Int

    init(model: Sequential, capacity: Int, threads: Int, cores: InferenceCores = .shared) {
        self.model = model
        let runner = model.foldedForInference() ?? model
        self.runner = runner
        self.threads = max(1, threads)
        self.cores = cores
        self.capacity = max(1, capacity)
        let sharing = min(self.threads, self.capacity)
        let each = (self.capacity + sharing - 1) / sharing
        workspaces = (0..<sharing).map { _ in runner.makeWorkspace(capacity: each, training: false) }
        outputBuffer = FloatBuffer(count: self.capacity * model.outputWidth)
        partScratchStride = runner.layers.reduce(0) {
            max($0, ($1 as? Conv2D)?.pooledRowScratch ?? ($1 as? Dense)?.units ?? 0)
        }
        let largestWeights = runner.layers.map { $0.parameterCount }.max() ?? 0
        sharesPerThread = largestWeights * MemoryLayout<Float>.size > 4 << 20 ? 1 : 2
        let parts = self.threads > 1 ? self.threads * Sequential.partsPerThread : 0
        partScratch = FloatBuffer(count: max(1, parts * partScratchStride))
    }

    /// Probabilities (or outputs) for `n` samples at `input`; the buffer is valid until the next call.
    public func predict(_ input: UnsafePointer<Float>, n: Int = 1) -> UnsafeBufferPointer<Float> {
        sequent_enable_flush_to_zero()
        precondition(n <= capacity, "batch \(n) exceeds the predictor's capacity \(capacity)")
        let width = model.outputWidth
        let granted = threads > 1 ? cores.acquire(threads) : 1
        defer { if threads > 1 { cores.release(granted) } }
        // The workers wake while the first layers run.
        if granted > 1 { InferencePool.shared.prepare() }
        let sharing = min(granted, workspaces.count)
        if sharing > 1 && n >= 2 && n * runner.forwardFlopsPerSample >= minimumShareFlops {
            share(input, n: n, threads: sharing)
        } else {
            // One workspace, a chunk at a time (it holds a share of `capacity`), large layers split.
            let ws = workspaces[0]
            var lo = 0
            while lo < n {
                let count = min(ws.capacity, n - lo)
                let y = runner.inferenceForward(ws, x: UnsafeMutablePointer(mutating: input + lo * model.inputCount),
                                                n: count, threads: granted, minimumSplitFlops: minimumSplitFlops,
                                                partScratch: partScratch.pointer, partScratchStride: partScratchStride)
                (outputBuffer.pointer + lo * width).update(from: y, count: count * width)
                lo += count
            }
        }
        if runner.plan.defersOutputActivation {
            runner.layers.last!.activation.apply(outputBuffer.pointer, rows: n, width: width)
        }
        return UnsafeBufferPointer(start: outputBuffer.pointer, count: n * width)
    }

    /// Runs `n` samples as shares of whole forward passes on `threads` workspaces: `sharesPerThread` shares per
    /// thread (none larger than a workspace), each taken by the next thread that is free.
    private func share(_ input: UnsafePointer<Float>, n: Int, threads: Int) {
        let size = min(workspaces[0].capacity, max(1, (n + threads * sharesPerThread - 1) / (threads * sharesPerThread)))
        let shares = (n + size - 1) / size
        let next = shareCounter
        next.reset()
        nonisolated(unsafe) let (x, out) = (UnsafeMutablePointer(mutating: input), outputBuffer.pointer)
        let (runner, workspaces, inCount, width) = (runner, workspaces, model.inputCount, model.outputWidth)
        InferencePool.shared.run(iterations: min(threads, shares), threads: threads) { t in
            // Each iteration runs on one thread at a time, so workspace `t` is its own.
            while let s = next.take(below: shares) {
                let lo = s * size, count = min(size, n - lo)
                let y = runner.forward(workspaces[t], x: x + lo * inCount, n: count, context: .inference)
                (out + lo * width).update(from: y, count: count * width)
            }
        }
    }

    /// Convenience: one sample from an array.
    public func predict(_ input: [Float]) -> [Float] {
        precondition(input.count == model.inputCount)
        return input.withUnsafeBufferPointer { Array(predict($0.baseAddress!, n: 1)) }
    }
}

/// Hands out share indices 0, 1, 2, … to whichever thread asks next.
private final class ShareCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func reset() { lock.withLock { value = 0 } }

    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard value < limit else { return nil }
            value += 1
            return value - 1
        }
    }
}

// MARK: - Gradients without an update (gradient checks, tooling)

extension Sequential {
    /// Loss (mean over the batch) and its gradient w.r.t. every parameter, without changing the weights.
    /// Runs on one thread with `context` (training mode keeps Dropout active with the same masks).
    func lossAndGradients(x: [Float], y: [Float], n: Int, context: ForwardContext) -> (loss: Double, grads: [Float]) {
        guard let loss else { preconditionFailure("compile first") }
        let ws = makeWorkspace(capacity: n, training: true)
        ws.grads!.zero()
        var x = x
        let value = x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeBufferPointer { yb in
                let out = forward(ws, x: xb.baseAddress!, n: n, context: context)
                let l = loss.evaluate(output: out, target: yb.baseAddress!, n: n, width: outputWidth,
                                      logits: outputIsLogitsForTools, grad: ws.gradA!.pointer, gradScale: 1 / Float(n))
                backward(ws, n: n, context: context)
                return (l + activityPenalty(ws, n: n)) / Double(n)
            }
        }
        Sequential.addRegularization(regularizedWeights, params: parameterBlock.pointer, grads: ws.grads!.pointer,
                               range: 0..<parameterCount)
        return (value + regularizationPenalty(), Array(UnsafeBufferPointer(start: ws.grads!.pointer, count: parameterCount)))
    }

    /// Loss (mean over the batch) only.
    func lossValue(x: [Float], y: [Float], n: Int, context: ForwardContext) -> Double {
        guard let loss else { preconditionFailure("compile first") }
        let ws = makeWorkspace(capacity: n, training: false)
        var x = x
        return x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeBufferPointer { yb in
                let out = forward(ws, x: xb.baseAddress!, n: n, context: context)
                return loss.evaluate(output: out, target: yb.baseAddress!, n: n, width: outputWidth,
                                     logits: outputIsLogitsForTools, grad: nil, gradScale: 0)
                    / Double(n) + activityPenalty(ws, n: n) / Double(n)
            }
        } + regularizationPenalty()
    }

    var outputIsLogitsForTools: Bool { fusedOutputActivation || (loss?.fromLogits ?? false) }
}

extension Sequential {
    /// Every layer's output for one input (the tutorial's "visualising the convolutions"): layer name, type,
    /// per-sample shape and values, in order. Runs on the calling thread with its own buffers.
    public func activations(for input: [Float]) -> [(name: String, type: String, shape: [Int], values: [Float])] {
        precondition(input.count == inputCount, "expected \(inputCount) input values, got \(input.count)")
        let ws = makeWorkspace(capacity: 1, training: false)
        var x = input
        x.withUnsafeMutableBufferPointer { _ = forward(ws, x: $0.baseAddress!, n: 1, context: .inference, everyOutput: true) }
        return layers.enumerated().map { i, layer in
            var values = Array(UnsafeBufferPointer(start: ws.outputs[i], count: layer.outputCount))
            if plan.fusion[i].contains(.defersActivation) {
                values.withUnsafeMutableBufferPointer { layer.activation.apply($0.baseAddress!, rows: 1, width: layer.outputCount) }
            }
            return (layer.name, layer.typeName, layer.outputShape, values)
        }
    }
}
