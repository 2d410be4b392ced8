/// One weight array of a layer: its name in saved files (`kernel`, `bias`), shape, initialiser and regularizer.
public struct ParameterSpec: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var initializer: Initializer
    /// The initializer's own seed (Keras's `GlorotUniform(seed=3)`): the weight is then drawn from a stream of
    /// its own, whatever the model's seed. nil draws from the model's stream.
    public var seed: UInt64? = nil
    /// Penalty added to the loss for this weight, if any.
    public var regularizer: Regularizer? = nil
    /// False for a weight the layer updates itself rather than the optimizer (BatchNormalization's moving mean and
    /// variance): Keras's "non-trainable params", never regularized, clipped or decayed.
    public var trainable = true
    public var count: Int { shape.reduce(1, *) }
}

/// What the model's `FusionPlan` asks of one layer, beyond computing itself: work it leaves to a neighbour or to
/// the loss, and work it may skip. The plan decides; the layer only obeys, so no layer is configured from outside.
public struct LayerFusion: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The model applies this layer's activation itself (softmax or sigmoid fused with a cross-entropy): `forward`
    /// leaves pre-activation values and `backward` receives the gradient with respect to them.
    public static let defersActivation = LayerFusion(rawValue: 1 << 0)
    /// A ReLU layer whose gradient the max pool after it applies: the pool masks its gradient by its
    /// (post-ReLU) output, which is exactly the ReLU gradient at the only positions that receive any, so the
    /// separate pass over this layer's whole output is skipped.
    public static let reluGradientLeftToNext = LayerFusion(rawValue: 1 << 1)
    /// A max pool that applies the previous layer's ReLU gradient (the other half of `reluGradientLeftToNext`).
    public static let appliesPreviousReLUGradient = LayerFusion(rawValue: 1 << 2)
    /// A Conv2D that computes the 2×2 max pool after it in its own pass (it needs scratch for that).
    public static let computesNextPool = LayerFusion(rawValue: 1 << 3)
    /// A frozen layer: `backward` computes only the input gradient, since its weight gradients would be thrown away.
    public static let skipsParameterGradients = LayerFusion(rawValue: 1 << 4)
    /// Keras's `trainable=False`: besides not being updated, a frozen BatchNormalization normalises with its
    /// moving statistics even in training, as Keras 3's does.
    public static let frozen = LayerFusion(rawValue: 1 << 5)
}

/// Per-call context for a forward or backward pass: whether the model is training (Dropout is active), the
/// numbers that make dropout masks reproducible whatever the batch split, and what the fusion plan asks of the
/// layer being called.
public struct ForwardContext: Sendable {
    public var training: Bool
    /// Seed for stochastic layers, already mixed with the training step.
    public var seed: UInt64
    /// Index, within the whole batch, of the first sample this call sees.
    public var sampleOffset: Int
    /// Samples in the whole batch (0: the call's own `n`), which activity regularizers divide by.
    public var batchCount = 0
    /// The training step (`seed` mixes it with the model's seed; a layer with a seed of its own mixes it with
    /// that instead, so its draws do not depend on the model's seed, as in Keras).
    public var step = 0
    /// Set by the model for each layer it calls (see `FusionPlan`); empty when a layer is called on its own.
    public var fusion: LayerFusion = []

    public init(training: Bool, seed: UInt64, sampleOffset: Int, fusion: LayerFusion = []) {
        self.training = training
        self.seed = seed
        self.sampleOffset = sampleOffset
        self.fusion = fusion
    }

    public static let inference = ForwardContext(training: false, seed: 0, sampleOffset: 0)

    /// The same call context for another layer.
    func with(_ fusion: LayerFusion) -> ForwardContext {
        var c = self
        c.fusion = fusion
        return c
    }
}

/// A layer of a Sequential model.
///
/// Every layer follows the same sequence (as Keras's do): validate its arguments when created → `build` from
/// the per-sample input shape, creating the parameter specs → `forward` → `backward` → `config` for saving.
/// Layers hold configuration only: weights live in the model's single parameter block and activations in
/// per-thread workspaces, so one layer object serves every thread.
///
/// **The gradient contract.** `backward` *overwrites*: every value of the layer's slice of `grads` and, when `dx`
/// is not nil, every value of `dx` (`n` inputs' worth) is written, whatever was there before. Nothing is zeroed
/// for a layer beforehand (for a 9-million-parameter Dense layer that would be another 38 MB written every step),
/// and nothing accumulates across calls: the model sums the shards' gradients itself. `dy` is the layer's own to
/// overwrite. `LayerContractTests` holds every layer to this by filling `grads` and `dx` with NaN first.
public protocol Layer: AnyObject, Sendable {
    /// Keras's class name: "Dense", "Conv2D", …
    var typeName: String { get }
    /// Unique within the model ("dense", "dense_1", …); names the weights in saved files.
    var name: String { get set }
    /// Per-sample output shape, valid after `build`.
    var outputShape: [Int] { get }
    /// Parameter arrays, in the order Keras's `get_weights()` lists them; valid after `build`.
    var parameters: [ParameterSpec] { get }
    /// The activation applied at the end of `forward`, if the layer has one (see `LayerFusion.defersActivation`).
    var activation: Activation { get }
    /// Keras's `activity_regularizer`: a penalty on the layer's output, divided by the batch size, that joins
    /// the loss (the model adds it and its gradient; the layer only declares it).
    var activityRegularizer: Regularizer? { get }
    /// True for layers whose output is their input, reinterpreted (Flatten): the model aliases the buffers.
    var isReshape: Bool { get }

    /// Checks the per-sample input shape and fixes the output shape and parameters.
    func build(inputShape: [Int]) throws
    /// Floats of private scratch one thread needs for a batch of `n`.
    func scratchCount(batch n: Int) -> Int
    /// The same, for a layer that the model's fusion plan asks for `fusion` (some fusions need more, or less).
    func scratchCount(batch n: Int, fusion: LayerFusion) -> Int
    /// `y = layer(x)` for `n` samples. `params` is this layer's slice of the parameter block.
    func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                 params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext)
    /// Given `dy`, writes the parameter gradients into `grads` and the input gradient into `dx` unless it is nil
    /// (nothing before this layer needs it), as the gradient contract above says. `x`, `y` are the forward's
    /// buffers and `scratch` is as the forward pass left it.
    func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                  dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                  grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext)
    /// Keras-style config (without `name`/`type`, which the model adds).
    var config: [String: JSONValue] { get }
    /// Multiply–adds × 2 of one sample's forward pass.
    var forwardFlops: Int { get }
}

extension Layer {
    public var activation: Activation { .linear }
    public var activityRegularizer: Regularizer? { nil }
    public var isReshape: Bool { false }
    public var parameters: [ParameterSpec] { [] }
    public func scratchCount(batch n: Int) -> Int { 0 }
    public func scratchCount(batch n: Int, fusion: LayerFusion) -> Int { scratchCount(batch: n) }
    public var forwardFlops: Int { 0 }
    /// Total trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
    /// Elements of one sample's output.
    public var outputCount: Int { outputShape.reduce(1, *) }
}
