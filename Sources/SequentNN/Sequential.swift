import CSequentSupport
import Dispatch
import Foundation

/// Errors from running a model on data (as opposed to configuring it).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A stack of layers trained as one: Keras's `Sequential`.
///
/// Parameters live in one contiguous block (each layer owns a slice), as do their gradients and every
/// optimizer slot, so the optimizer is a single loop. Training splits each batch across worker threads
/// ("replicas"), each with its own `Workspace`; the replicas read the shared parameters, write private
/// gradients, and the gradients are summed before the update. Layer objects hold only configuration, so they
/// are shared by all replicas.
public final class Sequential: @unchecked Sendable {
    /// Per-sample input shape, e.g. `[28, 28, 1]`.
    public let inputShape: [Int]
    public let layers: [Layer]
    /// Keras's model name.
    public var name: String
    /// Offset of each layer's parameters in the block.
    public let parameterOffsets: [Int]
    public let parameterCount: Int
    /// The weights, allocated and initialised on first use: validating a spec (which builds the model to check
    /// every shape) or refusing one over the size limit must not allocate hundreds of megabytes first.
    private var parameterBlock: FloatBuffer {
        blockLock.withLock {
            if let block = storedBlock { return block }
            let block = FloatBuffer(count: parameterCount)
            storedBlock = block
            Self.initialize(block, layers: layers, offsets: parameterOffsets, seed: seed)
            return block
        }
    }
    private var storedBlock: FloatBuffer?
    private let blockLock = NSLock()
    /// Index of the first layer with trainable parameters: backward passes stop there.
    private var firstTrainable: Int
    /// Per layer: false when it is frozen (Keras's `trainable=False`). See `setTrainable`.
    public private(set) var layerTrainable: [Bool]
    /// The parts of the parameter block the optimizer updates: every trainable layer's weights, merged.
    private var trainableRanges: [Range<Int>] = []
    /// Each trainable weight array's range: the "variables" Keras's `clipnorm` and `global_clipnorm` take norms of.
    private var trainableVariables: [Range<Int>] = []
    /// Trainable weights with a regularizer, whose penalty joins the loss (frozen ones add none, as in Keras 3).
    private var regularizedWeights: [(range: Range<Int>, regularizer: Regularizer)] = []

    public private(set) var optimizer: Optimizer?
    public private(set) var loss: Loss?
    public private(set) var metrics: [Metric] = []
    /// True when the last layer's activation is folded into the loss (softmax/sigmoid + cross-entropy).
    public private(set) var fusedOutputActivation = false

    /// Worker threads used for training, evaluation and batched prediction.
    public var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Set by callbacks (Keras's `model.stop_training`).
    public var stopTraining = false
    /// Why training stopped early, for the job record (e.g. "early_stopping: val_loss did not improve…").
    public var stopReason: String?
    /// Set by `terminate_on_nan` (or a callback that cannot go on, at an epoch's end): training failed, and why.
    public var trainingFailure: String?
    /// The seed weights were initialised from.
    public let seed: UInt64

    private var replicas: [Workspace] = []
    /// Layers (Conv2D) that `forward` computes together with the max-pooling after them (`Conv2D.canFuse`).
    private(set) var fusedPools: [Bool] = []
    /// Whether `trainStep` fuses the largest Dense layer's backward products with its update (tests compare).
    var fusesLargeDense = true

    /// Builds the model: validates every layer against its input shape and initialises the weights.
    /// Errors name the layer as `layers[i].field`.
    public init(inputShape: [Int], layers: [Layer], name: String = "sequential", seed: UInt64 = 1) throws {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(field: "input_shape", detail: "must be a list of positive integers, got \(inputShape)")
        }
        guard !layers.isEmpty else { throw ConfigError(field: "layers", detail: "must contain at least one layer") }
        self.inputShape = inputShape
        self.layers = layers
        self.name = name
        self.seed = seed
        var shape = inputShape
        var offsets: [Int] = []
        var total = 0
        var counters: [String: Int] = [:]
        var names = Set<String>()
        for (i, layer) in layers.enumerated() {
            do {
                try layer.build(inputShape: shape)
            } catch let e as ConfigError {
                throw e.prefixed(by: "layers[\(i)]")
            }
            if layer.name.isEmpty {
                let base = Sequential.snakeCase(layer.typeName)
                let k = counters[base, default: 0]
                counters[base] = k + 1
                layer.name = k == 0 ? base : "\(base)_\(k)"
            }
            guard names.insert(layer.name).inserted else {
                throw ConfigError(field: "layers[\(i)].name", detail: "must be unique, \"\(layer.name)\" is used twice")
            }
            if let d = layer as? Dropout {
                d.layerSalt = SeededGenerator.mix(UInt64(i) &+ 0xD50) ^ (d.seed.map { SeededGenerator.mix(UInt64(bitPattern: Int64($0))) } ?? 0)
            }
            offsets.append(total)
            total += layer.parameterCount
            shape = layer.outputShape
        }
        parameterOffsets = offsets
        parameterCount = total
        firstTrainable = layers.count
        layerTrainable = Array(repeating: true, count: layers.count)
        var fused = Array(repeating: false, count: layers.count)
        for (i, (conv, pool)) in zip(layers, layers.dropFirst()).enumerated() {
            if let conv = conv as? Conv2D, let pool = pool as? MaxPooling2D, conv.activation == .relu {
                conv.reluGradientAppliedByNext = true
                pool.appliesReLUGradient = true
                fused[i] = conv.canFuse(pool)
                conv.feedsPool = fused[i]
            }
        }
        fusedPools = fused
        updateTrainableState()
    }

    /// Freezes (`false`) or unfreezes layer `i`, as setting Keras's `layer.trainable`: a frozen layer's weights
    /// are not updated, its regularizers add nothing to the loss, and no gradient is computed for them where
    /// that can be avoided (layers before the first trainable one get no backward pass at all; a frozen Dense
    /// computes only its input gradient).
    public func setTrainable(_ trainable: Bool, layer i: Int) {
        layerTrainable[i] = trainable
        updateTrainableState()
    }

    /// Weights the optimizer updates (Keras's "Trainable params").
    public var trainableParameterCount: Int {
        layers.indices.reduce(0) { $0 + (layerTrainable[$1] ? layers[$1].parameterCount : 0) }
    }

    private func updateTrainableState() {
        firstTrainable = layers.indices.first { layers[$0].parameterCount > 0 && layerTrainable[$0] } ?? layers.count
        trainableRanges = []
        trainableVariables = []
        regularizedWeights = []
        for (i, layer) in layers.enumerated() where layerTrainable[i] && layer.parameterCount > 0 {
            let r = parameterOffsets[i]..<(parameterOffsets[i] + layer.parameterCount)
            if let last = trainableRanges.last, last.upperBound == r.lowerBound {
                trainableRanges[trainableRanges.count - 1] = last.lowerBound..<r.upperBound
            } else {
                trainableRanges.append(r)
            }
            var offset = r.lowerBound
            for spec in layer.parameters {
                if let reg = spec.regularizer { regularizedWeights.append((offset..<(offset + spec.count), reg)) }
                trainableVariables.append(offset..<(offset + spec.count))
                offset += spec.count
            }
        }
        for (i, layer) in layers.enumerated() {
            (layer as? Dense)?.skipsParameterGradients = !layerTrainable[i]
        }
    }

    /// The regularization penalty of the current weights (0 without regularizers).
    func regularizationPenalty() -> Double {
        let p = parameterBlock.pointer
        return regularizedWeights.reduce(0) { $0 + $1.regularizer.penalty(p + $1.range.lowerBound, count: $1.range.count) }
    }

    /// Adds the regularizers' gradients to `grads` within `range` of the parameter block.
    @inline(__always)
    private static func addRegularization(_ regs: [(range: Range<Int>, regularizer: Regularizer)],
                                          params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                                          range: Range<Int>) {
        for (r, reg) in regs where r.overlaps(range) {
            let lo = max(r.lowerBound, range.lowerBound), hi = min(r.upperBound, range.upperBound)
            reg.addGradient(params + lo, grads + lo, count: hi - lo)
        }
    }

    /// `Conv2D` → `conv2d`, `MaxPooling2D` → `max_pooling2d` (Keras's default layer names).
    static func snakeCase(_ s: String) -> String {
        var out = ""
        let chars = Array(s)
        for (i, ch) in chars.enumerated() {
            if ch.isUppercase, i > 0, chars[i - 1].isLowercase { out += "_" }
            out += ch.lowercased()
        }
        return out
    }

    /// Re-draws every weight from the model's seed.
    public func initializeWeights() {
        Self.initialize(parameterBlock, layers: layers, offsets: parameterOffsets, seed: seed)
    }

    private static func initialize(_ block: FloatBuffer, layers: [Layer], offsets: [Int], seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for (i, layer) in layers.enumerated() {
            var p = block.pointer + offsets[i]
            for spec in layer.parameters {
                if let own = spec.seed {
                    // A seeded initializer draws the same values whatever the model's seed, as in Keras.
                    var seeded = SeededGenerator(seed: SeededGenerator.mix(own ^ 0x1A17))
                    spec.initializer.fill(p, shape: spec.shape, rng: &seeded)
                } else {
                    spec.initializer.fill(p, shape: spec.shape, rng: &rng)
                }
                p += spec.count
            }
        }
    }

    /// Per-sample output shape.
    public var outputShape: [Int] { layers.last!.outputShape }
    public var outputWidth: Int { layers.last!.outputCount }
    public var inputCount: Int { inputShape.reduce(1, *) }

    // MARK: Weights

    /// The whole parameter block (all layers, Keras's `get_weights()` order), for snapshots.
    public func weightsSnapshot() -> [Float] {
        Array(UnsafeBufferPointer(start: parameterBlock.pointer, count: parameterCount))
    }

    /// Restores a snapshot from `weightsSnapshot()`.
    public func restoreWeights(_ snapshot: [Float]) {
        precondition(snapshot.count == parameterCount)
        snapshot.withUnsafeBufferPointer { parameterBlock.pointer.update(from: $0.baseAddress!, count: parameterCount) }
    }

    /// Layer `i`'s weights as tensors with their Keras shapes.
    public func weights(ofLayer i: Int) -> [Tensor] {
        var p = parameterBlock.pointer + parameterOffsets[i]
        return layers[i].parameters.map { spec in
            defer { p += spec.count }
            return Tensor(shape: spec.shape, scalars: Array(UnsafeBufferPointer(start: p, count: spec.count)))
        }
    }

    /// Replaces layer `i`'s weights; shapes must match.
    public func setWeights(ofLayer i: Int, _ tensors: [Tensor]) throws {
        let specs = layers[i].parameters
        guard tensors.count == specs.count else {
            throw TrainingError("layer \(layers[i].name) has \(specs.count) weights, got \(tensors.count)")
        }
        var p = parameterBlock.pointer + parameterOffsets[i]
        for (spec, t) in zip(specs, tensors) {
            guard spec.shape == t.shape else {
                throw TrainingError("\(layers[i].name)/\(spec.name) has shape \(spec.shape), got \(t.shape)")
            }
            t.scalars.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: spec.count) }
            p += spec.count
        }
    }

    var parameters: UnsafeMutablePointer<Float> { parameterBlock.pointer }

    // MARK: Compile

    /// Chooses the optimizer, loss and metrics (`model.compile`). Folds a final softmax/sigmoid into a
    /// matching cross-entropy so the gradient is the exact `p − y` rather than a clipped division.
    /// `metrics` are names or metric objects (`Metric.resolve`), reported under `compile.metrics[i]`.
    public func compile(optimizer: Optimizer, loss: Loss, metrics: [JSONValue] = []) throws {
        let width = outputWidth
        if !(loss is MeanSquaredError) && outputShape.count != 1 {
            throw ConfigError(field: "compile.loss", detail: "\"\(loss.name)\" needs a 1-D output per sample, the model outputs \(outputShape); add a Flatten or Dense layer")
        }
        if loss is BinaryCrossentropy == false, loss.targetWidth(outputWidth: width) == 1, width < 2 {
            throw ConfigError(field: "compile.loss", detail: "\"\(loss.name)\" needs at least 2 output units, the model has \(width); use binary_crossentropy for one unit")
        }
        self.metrics = try metrics.enumerated().map { i, m in
            try Metric.resolve(m, loss: loss, outputWidth: width, field: "compile.metrics[\(i)]")
        }
        let last = layers.last!
        last.deferActivation = false
        fusedOutputActivation = !loss.fromLogits && loss.fusableActivation != nil
            && last.activation == loss.fusableActivation
        last.deferActivation = fusedOutputActivation
        // The optimizer's state (Adam: two more copies of the weights) is allocated at the first step.
        self.optimizer = optimizer
        self.loss = loss
        replicas = []
    }

    /// True when the output buffer holds scores rather than probabilities.
    private var outputIsLogits: Bool { fusedOutputActivation || (loss?.fromLogits ?? false) }

    // MARK: Running

    /// How many replicas to split a batch of `n` across: none of them should get too little work for the
    /// thread hop and the smaller GEMMs to pay off (measured: the dense recipe, 6 MFLOP of forward work per
    /// batch of 32, is faster on one thread; the CNNs, 170–320 MFLOP, scale to two).
    func shardCount(for n: Int) -> Int {
        let perSample = max(1, layers.reduce(0) { $0 + $1.forwardFlops })
        let worthwhile = max(1, (n * perSample) / 16_000_000)
        return max(1, min(threads, n, worthwhile))
    }

    /// Makes sure every replica can hold one shard of a batch of `n` (allocating only when it grows).
    private func ensureReplicas(batch n: Int) {
        let shards = shardCount(for: n)
        let needed = (n + shards - 1) / shards
        let count = max(1, threads)
        if replicas.count == count, let first = replicas.first, first.capacity >= needed { return }
        let capacity = max(needed, replicas.first?.capacity ?? 0)
        replicas = (0..<count).map { _ in makeWorkspace(capacity: capacity, training: true) }
    }

    /// Forward pass of `n` samples on `ws`; returns the output pointer.
    /// Unless `everyOutput` is set, a Conv2D(relu) followed by 2×2 max-pooling is computed in one pass that
    /// leaves the convolution's output buffer unwritten (nothing after the forward pass reads it: the pool's
    /// backward pass needs only its own output and positions).
    @discardableResult
    func forward(_ ws: Workspace, x: UnsafeMutablePointer<Float>, n: Int, context: ForwardContext,
                 everyOutput: Bool = false) -> UnsafeMutablePointer<Float>
    {
        var cur = x
        let params = parameterBlock.pointer
        var pooled = false
        for (i, layer) in layers.enumerated() {
            let out = layer.isReshape ? cur : ws.output(i)!
            ws.inputs[i] = cur
            ws.outputs[i] = out
            if pooled {
                pooled = false
            } else if !everyOutput, fusedPools[i], let conv = layer as? Conv2D,
                      conv.forwardPooled(x: cur, y: ws.output(i + 1)!, argmax: ws.scratch(i + 1), n: n,
                                         params: params + parameterOffsets[i], scratch: ws.scratch(i)) {
                pooled = true
            } else if !layer.isReshape {
                layer.forward(x: cur, y: out, n: n, params: params + parameterOffsets[i], scratch: ws.scratch(i),
                              context: context)
            }
            cur = out
        }
        return cur
    }

    /// Backward pass after `forward` on the same workspace; `ws.gradA` holds ∂loss/∂output on entry.
    func backward(_ ws: Workspace, n: Int, context: ForwardContext) {
        ws.dy = ws.gradA!.pointer
        ws.spare = ws.gradB!.pointer
        backward(ws, n: n, context: context, layers: firstTrainable..<layers.count)
    }

    /// Backward through `range` (last layer first); `ws.dy` holds the gradient of the range's output on entry
    /// and of its input on return.
    func backward(_ ws: Workspace, n: Int, context: ForwardContext, layers range: Range<Int>) {
        let params = parameterBlock.pointer, grads = ws.grads!.pointer
        var done = false
        for i in range.reversed() where i >= firstTrainable {
            if done { done = false; continue }
            let layer = layers[i]
            if layer.isReshape { continue }
            // A max-pool after a fused Conv2D: both backward passes at once (`Conv2D.backwardPooled`).
            if i > firstTrainable, range.contains(i - 1), fusedPools[i - 1], let conv = layers[i - 1] as? Conv2D,
               conv.backwardPooled(x: ws.inputs[i - 1], dy: ws.dy, poolY: ws.outputs[i], argmax: ws.scratch(i),
                                   dx: i - 1 > firstTrainable ? ws.spare : nil, n: n,
                                   params: params + parameterOffsets[i - 1], grads: grads + parameterOffsets[i - 1],
                                   scratch: ws.scratch(i - 1)) {
                swap(&ws.dy, &ws.spare)
                done = true
                continue
            }
            let dx: UnsafeMutablePointer<Float>? = i > firstTrainable ? ws.spare : nil
            layer.backward(x: ws.inputs[i], y: ws.outputs[i], dy: ws.dy, dx: dx, n: n,
                           params: params + parameterOffsets[i], grads: grads + parameterOffsets[i],
                           scratch: ws.scratch(i), context: context)
            swap(&ws.dy, &ws.spare)
        }
    }

    /// Index of the Dense layer whose kernel gradient the step computes over the whole batch and applies at
    /// once (see `updateFusedDense`): the largest one, when it has at least a million weights.
    var fusedDenseLayer: Int? {
        guard fusesLargeDense else { return nil }
        let candidates = layers.indices.filter { i in
            guard i >= firstTrainable, layerTrainable[i], let d = layers[i] as? Dense else { return false }
            return d.parameterCount >= 1 << 20 && d.rowsPerSample == 1
        }
        return candidates.max { layers[$0].parameterCount < layers[$1].parameterCount }
    }

    /// The large Dense layer's backward products and optimizer step, over the whole batch, in blocks of kernel
    /// rows spread across the threads. Each block is read once for the input gradients of every shard, then its
    /// gradient (summed over the shards inside the GEMM, never stored per shard) is computed and applied while
    /// it is in cache. With per-shard kernel gradients each shard writes all of them (38 MB for the 150×150
    /// recipe), and they are summed and read again. Returns the kernel's range in the parameter block, which
    /// the regular update then skips.
    private func updateFusedDense(_ index: Int, n: Int, shards: Int, optimizer: any Optimizer) -> Range<Int> {
        let dense = layers[index] as! Dense
        let (inputs, units) = (dense.inputs, dense.units)
        let offset = parameterOffsets[index]
        let per = (n + shards - 1) / shards
        nonisolated(unsafe) let params = parameterBlock.pointer
        nonisolated(unsafe) let g = replicas[0].grads!.pointer
        let shardRows = (0..<shards).map { s in max(0, min(n, (s + 1) * per) - s * per) }
        nonisolated(unsafe) let xs = (0..<shards).map { replicas[$0].inputs[index] }
        nonisolated(unsafe) let dys = (0..<shards).map { replicas[$0].dy }
        nonisolated(unsafe) let dxs = (0..<shards).map { replicas[$0].spare }
        let needsDx = index > firstTrainable
        let regs = regularizedWeights
        let block = 64, blocks = (inputs + block - 1) / block
        let chunks = min(blocks, max(1, threads) * 8)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            sequent_enable_flush_to_zero()
            let w = params + offset, gw = g + offset
            for b in (c * blocks / chunks)..<((c + 1) * blocks / chunks) {
                let k0 = b * block, rows = min(block, inputs - k0)
                for s in 0..<shards where shardRows[s] > 0 {
                    // dX_s[:, k0..] = dY_s · W[k0.., :]ᵀ, from the block's rows before they are updated.
                    if needsDx {
                        BLAS.sgemm(transB: true, m: shardRows[s], n: rows, k: units, a: dys[s], lda: units,
                                   b: w + k0 * units, ldb: units, beta: 0, c: dxs[s] + k0, ldc: inputs)
                    }
                    // dW[k0.., :] (+)= X_s[:, k0..]ᵀ · dY_s
                    BLAS.sgemm(transA: true, m: rows, n: units, k: shardRows[s], a: xs[s] + k0, lda: inputs,
                               b: dys[s], ldb: units, beta: s == 0 ? 0 : 1, c: gw + k0 * units, ldc: units)
                }
                let range = (offset + k0 * units)..<(offset + (k0 + rows) * units)
                if !regs.isEmpty { Self.addRegularization(regs, params: params, grads: g, range: range) }
                optimizer.step(params: params, grads: g, range: range)
            }
        }
        for s in 0..<shards { swap(&replicas[s].dy, &replicas[s].spare) }
        return offset..<(offset + inputs * units)
    }

    /// Runs `body(shardIndex, range)` for each shard of `n` samples, in parallel when there is more than one.
    private func forEachShard(_ n: Int, _ body: @escaping @Sendable (Int, Range<Int>) -> Void) {
        let shards = shardCount(for: n)
        let per = (n + shards - 1) / shards
        // Every thread that computes flushes denormals (see sequent_support.h); setting the flag costs
        // one instruction, so it is simply done on each entry.
        sequent_enable_flush_to_zero()
        if shards == 1 { body(0, 0..<n); return }
        DispatchQueue.concurrentPerform(iterations: shards) { s in
            sequent_enable_flush_to_zero()
            let lo = s * per, hi = min(n, lo + per)
            if lo < hi { body(s, lo..<hi) }
        }
    }

    /// Splits `0..<count` into `threads` ranges and runs them in parallel (elementwise block operations).
    private func parallelRanges(_ count: Int, _ body: @escaping @Sendable (Range<Int>) -> Void) {
        // Below a few hundred thousand parameters the vectorised update takes tens of microseconds, less than
        // the thread hop would.
        let parts = count >= 1 << 20 ? max(1, threads) : 1
        sequent_enable_flush_to_zero()
        if parts == 1 { body(0..<count); return }
        let per = (count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            sequent_enable_flush_to_zero()
            let lo = p * per, hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Sums of loss and metrics over a batch.
    public struct BatchResult: Sendable {
        public var lossSum: Double
        public var metricSums: [Double]
        public var count: Int
    }

    /// One optimisation step on a batch (`train_on_batch`): forward, loss, backward, gradient reduction,
    /// optimizer update. `x` is `[n, input…]`, `y` is `[n, targetWidth]`. `step` seeds dropout.
    /// `classWeight` (Keras's `fit(class_weight=)`) weights each sample's loss and gradient by its label's
    /// weight (1 for a label not in it); the loss is still divided by `n` (`sum_over_batch_size`), and metrics
    /// are unweighted, as Keras 3's `metrics` (not `weighted_metrics`) are.
    public func trainStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int, step: Int,
                          classWeight: [Int: Float]? = nil) -> BatchResult {
        guard let optimizer, let loss else { preconditionFailure("compile the model before training") }
        optimizer.prepare(parameterCount: parameterCount)
        ensureReplicas(batch: n)
        let width = outputWidth, tw = loss.targetWidth(outputWidth: width), inCount = inputCount
        let logits = outputIsLogits
        let context = ForwardContext(training: true, seed: SeededGenerator.mix(seed ^ UInt64(step)), sampleOffset: 0)
        let gradScale = 1 / Float(n)
        // Keras adds the penalty of the weights the batch saw, before the update.
        let penalty = regularizedWeights.isEmpty ? 0 : regularizationPenalty()
        // The shards read disjoint rows of x and y; the pointers outlive the call.
        nonisolated(unsafe) let x = x, y = y
        // Norm clipping needs every gradient complete before any update, which the fused path's
        // compute-and-apply-per-block order cannot give.
        let clipsByNorm = optimizer.options.clipsByNorm
        let big = clipsByNorm ? nil : fusedDenseLayer
        forEachShard(n) { [self] s, range in
            let ws = replicas[s]
            var ctx = context
            ctx.sampleOffset = range.lowerBound
            let xs = UnsafeMutablePointer(mutating: x + range.lowerBound * inCount)
            let ys = y + range.lowerBound * tw
            let out = forward(ws, x: xs, n: range.count, context: ctx)
            if let classWeight {
                // Row by row, so each sample's gradient carries its own weight; the unweighted default below
                // keeps the one batched (and fused softmax/sigmoid) call.
                let g = ws.gradA!.pointer
                var sum = 0.0
                for r in 0..<range.count {
                    let w = classWeight[Self.classIndex(ys + r * tw, targetWidth: tw)] ?? 1
                    sum += Double(w) * loss.evaluate(output: out + r * width, target: ys + r * tw, n: 1, width: width,
                                                     logits: logits, grad: g + r * width, gradScale: gradScale * w)
                }
                ws.lossSum = sum
            } else {
                ws.lossSum = loss.evaluate(output: out, target: ys, n: range.count, width: width, logits: logits,
                                           grad: ws.gradA!.pointer, gradScale: gradScale)
            }
            ws.metricSums = metrics.map { $0.evaluate(output: out, target: ys, n: range.count, width: width, targetWidth: tw, logits: logits) }
            ws.dy = ws.gradA!.pointer
            ws.spare = ws.gradB!.pointer
            guard let big else {
                backward(ws, n: range.count, context: ctx, layers: firstTrainable..<layers.count)
                return
            }
            backward(ws, n: range.count, context: ctx, layers: (big + 1)..<layers.count)
            (layers[big] as! Dense).backwardPrologue(y: ws.outputs[big], dy: ws.dy, n: range.count,
                                                    grads: ws.grads!.pointer + parameterOffsets[big],
                                                    scratch: ws.scratch(big))
        }
        let shards = shardCount(for: n)
        var skip = 0..<0
        if let big {
            skip = updateFusedDense(big, n: n, shards: shards, optimizer: optimizer)
            forEachShard(n) { [self] s, range in
                var ctx = context
                ctx.sampleOffset = range.lowerBound
                backward(replicas[s], n: range.count, context: ctx, layers: firstTrainable..<big)
            }
        }
        let grads = replicas[0].grads!.pointer
        let params = parameterBlock.pointer
        let others = replicas[1..<shards].map { $0.grads!.pointer }
        nonisolated(unsafe) let g = grads
        nonisolated(unsafe) let p = params
        nonisolated(unsafe) let o = others
        // The trainable weights, less the fused layer's kernel, which is already updated.
        let active = trainableRanges.flatMap { r -> [Range<Int>] in
            guard r.overlaps(skip) else { return [r] }
            return [r.lowerBound..<skip.lowerBound, skip.upperBound..<r.upperBound].filter { !$0.isEmpty }
        }
        let regs = regularizedWeights
        // With norm clipping: a first pass completes the gradients, then they are rescaled, then a second
        // pass updates. Without it the two passes are one, per piece.
        let passes = clipsByNorm ? [false, true] : [true]
        for updating in passes {
            if updating && clipsByNorm {
                clipGradientNorms(g, variables: trainableVariables, options: optimizer.options)
            }
            parallelRanges(parameterCount) { range in
                for r in active where r.overlaps(range) {
                    // In pieces that stay in L2 between the sum and the update, so the summed gradient is not
                    // written out to memory and read back.
                    var lo = max(r.lowerBound, range.lowerBound)
                    let hi = min(r.upperBound, range.upperBound)
                    while lo < hi {
                        let piece = lo..<min(hi, lo + 16_384)
                        if !clipsByNorm || !updating {
                            for other in o { for i in piece { g[i] += other[i] } }
                            if !regs.isEmpty { Self.addRegularization(regs, params: p, grads: g, range: piece) }
                        }
                        if updating { optimizer.step(params: p, grads: g, range: piece) }
                        lo = piece.upperBound
                    }
                }
            }
        }
        optimizer.iterations += 1
        var result = BatchResult(lossSum: penalty * Double(n), metricSums: Array(repeating: 0, count: metrics.count), count: n)
        for ws in replicas[0..<shards] {
            result.lossSum += ws.lossSum
            for k in 0..<metrics.count { result.metricSums[k] += ws.metricSums[k] }
        }
        return result
    }

    /// The class a target row names, as Keras's `class_weight_to_sample_weights` reads it: the argmax of a
    /// row of several values (one-hot), else the value rounded half-to-even (`np.round`); -1 (no class, so
    /// weight 1) for a value that is not finite.
    static func classIndex(_ row: UnsafePointer<Float>, targetWidth: Int) -> Int {
        if targetWidth > 1 { return argmax(row, targetWidth) }
        let v = row[0].rounded(.toNearestOrEven)
        guard v.isFinite, abs(v) < 1e9 else { return -1 }
        return Int(v)
    }

    /// Loss and metrics of a batch without training (used by `evaluate` and validation).
    public func testStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int) -> BatchResult {
        guard let loss else { preconditionFailure("compile the model before evaluating") }
        ensureReplicas(batch: n)
        let width = outputWidth, tw = loss.targetWidth(outputWidth: width), inCount = inputCount
        let logits = outputIsLogits
        nonisolated(unsafe) let x = x, y = y
        forEachShard(n) { [self] s, range in
            let ws = replicas[s]
            let xs = UnsafeMutablePointer(mutating: x + range.lowerBound * inCount)
            let ys = y + range.lowerBound * tw
            let out = forward(ws, x: xs, n: range.count, context: .inference)
            ws.lossSum = loss.evaluate(output: out, target: ys, n: range.count, width: width, logits: logits,
                                       grad: nil, gradScale: 0)
            ws.metricSums = metrics.map { $0.evaluate(output: out, target: ys, n: range.count, width: width, targetWidth: tw, logits: logits) }
        }
        // Keras's validation loss includes the regularization penalty too.
        let penalty = regularizedWeights.isEmpty ? 0 : regularizationPenalty()
        var result = BatchResult(lossSum: penalty * Double(n), metricSums: Array(repeating: 0, count: metrics.count), count: n)
        for ws in replicas[0..<shardCount(for: n)] {
            result.lossSum += ws.lossSum
            for k in 0..<metrics.count { result.metricSums[k] += ws.metricSums[k] }
        }
        return result
    }

    /// Mean loss and metrics over a dataset (`model.evaluate`), keyed "loss" and by metric name.
    public func evaluate(x: Tensor, y: Tensor, batchSize: Int = 32, steps: Int? = nil) throws -> [String: Double] {
        try checkData(x: x, y: y, field: "evaluate")
        return try evaluate(data: TensorData(x: x, y: y), batchSize: batchSize, steps: steps)
    }

    /// Model outputs for `x` (`model.predict`), in batches, with the output activation applied.
    public func predict(_ x: Tensor, batchSize: Int = 32) throws -> Tensor {
        guard Array(x.shape.dropFirst()) == inputShape else {
            throw TrainingError("predict expects inputs of shape [N] + \(inputShape), got \(x.shape)")
        }
        let n = x.shape[0], width = outputWidth
        var out = [Float](repeating: 0, count: n * width)
        ensureReplicas(batch: min(batchSize, max(n, 1)))
        let last = layers.last!
        let deferred = last.deferActivation ? last.activation : nil
        x.scalars.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                nonisolated(unsafe) let xp = xb.baseAddress!
                nonisolated(unsafe) let op = ob.baseAddress!
                var lo = 0
                while lo < n {
                    let count = min(batchSize, n - lo)
                    let base = lo
                    forEachShard(count) { [self] s, range in
                        let start = base + range.lowerBound
                        let y = forward(replicas[s], x: UnsafeMutablePointer(mutating: xp + start * inputCount),
                                        n: range.count, context: .inference)
                        let dst = op + start * width
                        dst.update(from: y, count: range.count * width)
                        deferred?.apply(dst, rows: range.count, width: width)
                    }
                    lo += count
                }
            }
        }
        return Tensor(shape: [n] + outputShape, scalars: out)
    }

    /// A single-threaded inference path with its own buffers, for serving: no per-call setup beyond the
    /// forward pass. Create one per serving thread.
    public func makePredictor(maxBatch: Int = 1) -> Predictor { Predictor(model: self, capacity: maxBatch) }

    func makeWorkspace(capacity: Int, training: Bool) -> Workspace {
        Workspace(layers: layers, inputCount: inputCount, parameterCount: parameterCount, capacity: capacity,
                  training: training)
    }

    func checkData(x: Tensor, y: Tensor, field: String) throws {
        guard Array(x.shape.dropFirst()) == inputShape else {
            throw TrainingError("\(field): inputs have shape \(x.shape), the model expects [N] + \(inputShape)")
        }
        guard y.shape.first == x.shape.first else {
            throw TrainingError("\(field): \(x.shape[0]) inputs but \(y.shape.first ?? 0) targets")
        }
        guard let loss else { throw TrainingError("compile the model first") }
        let want = loss.targetWidth(outputWidth: outputWidth)
        guard y.itemCount == want else {
            throw TrainingError("\(field): \(loss.name) needs \(want) target value(s) per sample, got \(y.itemCount) (targets \(y.shape))")
        }
        if want == 1 && !(loss is BinaryCrossentropy) && !(loss is MeanSquaredError) {
            if let bad = y.scalars.first(where: { $0 < 0 || $0 >= Float(outputWidth) || $0 != $0.rounded() }) {
                throw TrainingError("\(field): label \(bad) is not a class index in 0..<\(outputWidth)")
            }
        }
    }
}

/// Runs the model on one or a few samples with preallocated buffers. Not thread-safe: one per thread.
public final class Predictor: @unchecked Sendable {
    public let model: Sequential
    private let workspace: Workspace
    private let outputBuffer: FloatBuffer

    init(model: Sequential, capacity: Int) {
        self.model = model
        workspace = model.makeWorkspace(capacity: max(1, capacity), training: false)
        outputBuffer = FloatBuffer(count: max(1, capacity) * model.outputWidth)
    }

    /// Probabilities (or outputs) for `n` samples at `input`; the buffer is valid until the next call.
    public func predict(_ input: UnsafePointer<Float>, n: Int = 1) -> UnsafeBufferPointer<Float> {
        sequent_enable_flush_to_zero()
        precondition(n <= workspace.capacity, "batch \(n) exceeds the predictor's capacity \(workspace.capacity)")
        let width = model.outputWidth
        let y = model.forward(workspace, x: UnsafeMutablePointer(mutating: input), n: n, context: .inference)
        outputBuffer.pointer.update(from: y, count: n * width)
        if let last = model.layers.last, last.deferActivation {
            last.activation.apply(outputBuffer.pointer, rows: n, width: width)
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
                return l / Double(n)
            }
        }
        Self.addRegularization(regularizedWeights, params: parameterBlock.pointer, grads: ws.grads!.pointer,
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
                                     logits: outputIsLogitsForTools, grad: nil, gradScale: 0) / Double(n)
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
            if layer.deferActivation { values.withUnsafeMutableBufferPointer { layer.activation.apply($0.baseAddress!, rows: 1, width: layer.outputCount) } }
            return (layer.name, layer.typeName, layer.outputShape, values)
        }
    }
}
