import CSequentSupport

/// Runs the model on one or a few samples with preallocated buffers. Not thread-safe: one per thread.
///
/// A model with BatchNormalization is run as its `foldedForInference()` copy, made with the weights as they are
/// when the predictor is made (serving loads a saved model once; make a new predictor after training on).
/// Large layers are split across up to `threads` threads (`Sequential.inferenceForward`), as many as the
/// process's `InferenceCores` budget has free when a call starts.
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
    private let workspace: Workspace
    private let outputBuffer: FloatBuffer
    /// Per part of a split layer (`partScratchStride` floats each): the fused conv + pool pass's row buffers, a
    /// Dense part's sums.
    private let partScratch: FloatBuffer
    private let partScratchStride: Int

    init(model: Sequential, capacity: Int, threads: Int, cores: InferenceCores = .shared) {
        self.model = model
        runner = model.foldedForInference() ?? model
        self.threads = max(1, threads)
        self.cores = cores
        workspace = runner.makeWorkspace(capacity: max(1, capacity), training: false)
        outputBuffer = FloatBuffer(count: max(1, capacity) * model.outputWidth)
        partScratchStride = runner.layers.reduce(0) {
            max($0, ($1 as? Conv2D)?.pooledRowScratch ?? ($1 as? Dense)?.units ?? 0)
        }
        let parts = self.threads > 1 ? self.threads * Sequential.partsPerThread : 0
        partScratch = FloatBuffer(count: max(1, parts * partScratchStride))
    }

    /// Probabilities (or outputs) for `n` samples at `input`; the buffer is valid until the next call.
    public func predict(_ input: UnsafePointer<Float>, n: Int = 1) -> UnsafeBufferPointer<Float> {
        sequent_enable_flush_to_zero()
        precondition(n <= workspace.capacity, "batch \(n) exceeds the predictor's capacity \(workspace.capacity)")
        let width = model.outputWidth
        let granted = threads > 1 ? cores.acquire(threads) : 1
        let y = runner.inferenceForward(workspace, x: UnsafeMutablePointer(mutating: input), n: n, threads: granted,
                                        minimumSplitFlops: minimumSplitFlops, partScratch: partScratch.pointer, partScratchStride: partScratchStride)
        if threads > 1 { cores.release(granted) }
        outputBuffer.pointer.update(from: y, count: n * width)
        if runner.plan.defersOutputActivation {
            runner.layers.last!.activation.apply(outputBuffer.pointer, rows: n, width: width)
        }
        return UnsafeBufferPointer(start: outputBuffer.pointer, count: n * width)
    }

    /// Convenience: one sample from an array.
    public func predict(_ input: [Float]) -> [Float] {
        precondition(input.count == model.inputCount)
        return input.withUnsafeBufferPointer { Array(predict($0.baseAddress!, n: 1)) }
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
