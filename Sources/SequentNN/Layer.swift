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
    public var count: Int { shape.reduce(1, *) }
}

/// Per-call context for a forward pass: whether the model is training (Dropout is active) and the numbers
/// that make dropout masks reproducible whatever the batch split.
public struct ForwardContext: Sendable {
    public var training: Bool
    /// Seed for stochastic layers, already mixed with the training step.
    public var seed: UInt64
    /// Index, within the whole batch, of the first sample this call sees.
    public var sampleOffset: Int

    public static let inference = ForwardContext(training: false, seed: 0, sampleOffset: 0)
}

/// A layer of a Sequential model.
///
/// Every layer follows the same sequence (as Keras's do): validate its arguments when created → `build` from
/// the per-sample input shape, creating the parameter specs → `forward` → `backward` (parameter gradients are
/// *added* into `grads`) → `config` for saving. Layers hold configuration only: weights live in the model's
/// single parameter block and activations in per-thread workspaces, so one layer object serves every thread.
public protocol Layer: AnyObject, Sendable {
    /// Keras's class name: "Dense", "Conv2D", …
    var typeName: String { get }
    /// Unique within the model ("dense", "dense_1", …); names the weights in saved files.
    var name: String { get set }
    /// Per-sample output shape, valid after `build`.
    var outputShape: [Int] { get }
    /// Parameter arrays, in the order Keras's `get_weights()` lists them; valid after `build`.
    var parameters: [ParameterSpec] { get }
    /// The activation applied at the end of `forward`, if the layer has one.
    var activation: Activation { get }
    /// When true the model applies this layer's activation itself (fused softmax/sigmoid + cross-entropy):
    /// `forward` leaves pre-activation values and `backward` receives gradients w.r.t. them.
    var deferActivation: Bool { get set }
    /// True for layers whose output is their input, reinterpreted (Flatten): the model aliases the buffers.
    var isReshape: Bool { get }

    /// Checks the per-sample input shape and fixes the output shape and parameters.
    func build(inputShape: [Int]) throws
    /// Floats of private scratch one thread needs for a batch of `n`.
    func scratchCount(batch n: Int) -> Int
    /// `y = layer(x)` for `n` samples. `params` is this layer's slice of the parameter block.
    func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                 params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext)
    /// Given `dy` (may be overwritten), writes the parameter gradients into `grads` (overwriting: it is not zeroed
    /// beforehand, which for a 9-million-parameter Dense layer would be another 38 MB written every step) and the
    /// input gradient into `dx` unless it is nil (nothing before this layer needs it). `x`, `y` are the forward's
    /// buffers.
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
    public var deferActivation: Bool { get { false } set {} }
    public var isReshape: Bool { false }
    public var parameters: [ParameterSpec] { [] }
    public func scratchCount(batch n: Int) -> Int { 0 }
    public var forwardFlops: Int { 0 }
    /// Total trainable values.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
    /// Elements of one sample's output.
    public var outputCount: Int { outputShape.reduce(1, *) }
}
