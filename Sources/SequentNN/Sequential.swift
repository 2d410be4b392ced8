import Foundation

/// Errors from running a model on data (as opposed to configuring it).
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A stack of layers trained as one: Keras's `Sequential`.
///
/// This file is the model itself: its layers, their weights and `compile`. Three other parts run it:
/// - `FusionPlan` decides which neighbouring passes are computed together (conv + ReLU + pool, the large
///   Dense layer's update, the output activation folded into the loss);
/// - `ModelPasses.swift` runs the forward and backward passes over the layers on one workspace;
/// - `Trainer` splits batches across worker threads ("replicas"), sums their gradients and steps the optimizer.
///
/// Parameters live in one contiguous block (each layer owns a slice), as do their gradients and every
/// optimizer slot, so the optimizer is a single loop. Layer objects hold only configuration, so they are shared
/// by all replicas.
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
    var parameterBlock: FloatBuffer {
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
    private(set) var firstTrainable: Int
    /// Per layer: false when it is frozen (Keras's `trainable=False`). See `setTrainable`.
    public private(set) var layerTrainable: [Bool]
    /// The parts of the parameter block the optimizer updates: every trainable weight array, merged.
    private(set) var trainableRanges: [Range<Int>] = []
    /// Each trainable weight array's range: the "variables" Keras's `clipnorm` and `global_clipnorm` take norms of.
    private(set) var trainableVariables: [Range<Int>] = []
    /// Trainable weights with a regularizer, whose penalty joins the loss (frozen ones add none, as in Keras 3).
    private(set) var regularizedWeights: [(range: Range<Int>, regularizer: Regularizer)] = []

    public private(set) var optimizer: Optimizer?
    public private(set) var loss: Loss?
    public private(set) var metrics: [Metric] = []
    /// True when the last layer's activation is folded into the loss (softmax/sigmoid + cross-entropy).
    public var fusedOutputActivation: Bool { plan.defersOutputActivation }
    /// Which passes are computed together; rebuilt whenever the layers' trainability or the loss changes.
    private(set) var plan: FusionPlan
    /// Which fusions the plan may use (tests compare fused and separate paths).
    var fusionPolicy = FusionPolicy() { didSet { updateTrainableState() } }
    /// Whether the compiled loss takes the last layer's activation (see `compile`).
    private var lossTakesOutputActivation = false
    /// Runs training and evaluation steps, and batched prediction, across `threads` replicas.
    private(set) lazy var trainer = Trainer(model: self)

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
        activityRegularized = layers.indices.compactMap { i in layers[i].activityRegularizer.map { (i, $0) } }
        parameterCount = total
        firstTrainable = layers.count
        layerTrainable = Array(repeating: true, count: layers.count)
        plan = FusionPlan(layers: layers, frozen: layerTrainable.map { !$0 }, trainable: layerTrainable, firstTrainable: 0,
                          defersOutputActivation: false)
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

    /// Weights the optimizer updates (Keras's "Trainable params"): those of unfrozen layers, less the weights a
    /// layer keeps out of training itself (BatchNormalization's moving statistics).
    public var trainableParameterCount: Int {
        layers.indices.reduce(0) { total, i in
            total + (layerTrainable[i] ? layers[i].parameters.reduce(0) { $0 + ($1.trainable ? $1.count : 0) } : 0)
        }
    }

    /// Whether layer `i` has weights the optimizer updates.
    private func hasTrainableWeights(_ i: Int) -> Bool {
        layerTrainable[i] && layers[i].parameters.contains { $0.trainable }
    }

    private func updateTrainableState() {
        firstTrainable = layers.indices.first { hasTrainableWeights($0) } ?? layers.count
        trainableRanges = []
        trainableVariables = []
        regularizedWeights = []
        for (i, layer) in layers.enumerated() where layerTrainable[i] {
            var offset = parameterOffsets[i]
            for spec in layer.parameters {
                defer { offset += spec.count }
                guard spec.trainable else { continue }
                let r = offset..<(offset + spec.count)
                if let last = trainableRanges.last, last.upperBound == r.lowerBound {
                    trainableRanges[trainableRanges.count - 1] = last.lowerBound..<r.upperBound
                } else {
                    trainableRanges.append(r)
                }
                if let reg = spec.regularizer { regularizedWeights.append((r, reg)) }
                trainableVariables.append(r)
            }
        }
        let trainable = layers.indices.map { hasTrainableWeights($0) }
        plan = FusionPlan(layers: layers, frozen: layerTrainable.map { !$0 }, trainable: trainable,
                          firstTrainable: firstTrainable,
                          defersOutputActivation: lossTakesOutputActivation, policy: fusionPolicy)
        trainer.reset()
    }

    /// The regularization penalty of the current weights (0 without regularizers).
    func regularizationPenalty() -> Double {
        let p = parameterBlock.pointer
        return regularizedWeights.reduce(0) { $0 + $1.regularizer.penalty(p + $1.range.lowerBound, count: $1.range.count) }
    }

    /// Adds the regularizers' gradients to `grads` within `range` of the parameter block.
    @inline(__always)
    static func addRegularization(_ regs: [(range: Range<Int>, regularizer: Regularizer)],
                                          params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                                          range: Range<Int>) {
        for (r, reg) in regs where r.overlaps(range) {
            let lo = max(r.lowerBound, range.lowerBound), hi = min(r.upperBound, range.upperBound)
            reg.addGradient(params + lo, grads + lo, count: hi - lo)
        }
    }

    /// Layers with an activity regularizer (Keras's `activity_regularizer`), and theirs.
    /// Fixed once the layers are built, so the training step does not rebuild the list every batch (and the
    /// shards read it concurrently, so it is set in `init`, not lazily).
    let activityRegularized: [(layer: Int, regularizer: Regularizer)]

    /// The activity regularizers' penalty on the outputs of the `n` samples `ws` last ran, undivided (the loss
    /// sums are divided by the batch size later, as Keras divides this penalty).
    func activityPenalty(_ ws: Workspace, n: Int) -> Double {
        let regularized = activityRegularized
        guard !regularized.isEmpty else { return 0 }
        return regularized.reduce(0) { $0 + $1.regularizer.penalty(ws.outputs[$1.layer], count: n * layers[$1.layer].outputCount) }
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
        // An activity regularizer on the last layer needs its probabilities, which the fused loss never makes.
        lossTakesOutputActivation = !loss.fromLogits && loss.fusableActivation != nil
            && layers.last!.activation == loss.fusableActivation && layers.last!.activityRegularizer == nil
        // The optimizer's state (Adam: two more copies of the weights) is allocated at the first step.
        self.optimizer = optimizer
        self.loss = loss
        updateTrainableState()
    }

    /// True when the output buffer holds scores rather than probabilities.
    var outputIsLogits: Bool { fusedOutputActivation || (loss?.fromLogits ?? false) }

    func makeWorkspace(capacity: Int, training: Bool) -> Workspace {
        Workspace(layers: layers, fusion: plan.fusion, inputCount: inputCount, parameterCount: parameterCount,
                  capacity: capacity, training: training)
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

