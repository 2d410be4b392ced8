/// Inverted dropout: while training, each value is zeroed with probability `rate` and the survivors are scaled
/// by `1 / (1 − rate)`; at inference it is the identity.
///
/// The mask is a hash of (seed, step, sample, element), recomputed in `backward` rather than stored, and
/// independent of how the batch is split across threads.
public final class Dropout: Layer, @unchecked Sendable {
    public let typeName = "Dropout"
    public var name: String
    public let rate: Float
    /// Keras's `seed`: mixed into the masks, so two Dropout layers with different seeds draw different masks. (The
    /// masks come from Sequent's generator, so they are never Keras's own, seeded or not.)
    public let seed: Int?
    public private(set) var outputShape: [Int] = []
    /// Distinguishes this layer's masks from other Dropout layers'.
    var layerSalt: UInt64 = 0

    public init(rate: Float, seed: Int? = nil, name: String = "") throws {
        guard rate >= 0, rate < 1 else { throw ConfigError(field: "rate", detail: "must be in [0, 1), got \(rate)") }
        self.rate = rate
        self.seed = seed
        self.name = name
    }

    public func build(inputShape: [Int]) throws { outputShape = inputShape }

    @inline(__always)
    private func keep(_ context: ForwardContext, _ sample: Int, _ j: Int) -> Bool {
        let element = UInt64(sample) &* UInt64(outputCount) &+ UInt64(j)
        return SeededGenerator.uniform(context.seed ^ layerSalt, element) >= rate
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let width = outputCount
        guard context.training, rate > 0 else {
            if x != y { y.update(from: x, count: n * width) }
            return
        }
        let scale = 1 / (1 - rate)
        for s in 0..<n {
            for j in 0..<width {
                let i = s * width + j
                y[i] = keep(context, context.sampleOffset + s, j) ? x[i] * scale : 0
            }
        }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let width = outputCount
        // The gradient of the forward pass that ran: the identity at inference (as Keras's `training=False`).
        guard context.training, rate > 0 else {
            if dx != dy { dx.update(from: dy, count: n * width) }
            return
        }
        let scale = 1 / (1 - rate)
        for s in 0..<n {
            for j in 0..<width {
                let i = s * width + j
                dx[i] = keep(context, context.sampleOffset + s, j) ? dy[i] * scale : 0
            }
        }
    }

    public var config: [String: JSONValue] {
        var c: [String: JSONValue] = ["rate": .number(Double(rate))]
        if let seed { c["seed"] = .number(Double(seed)) }
        return c
    }
}
