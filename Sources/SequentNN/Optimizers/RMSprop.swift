import CSequentSupport

/// RMSprop, Keras 3's rule (ε inside the square root):
/// `s = ρ·s + (1 − ρ)·g²`; centered: `ḡ = ρ·ḡ + (1 − ρ)·g`, denominator `s − ḡ² + ε`, else `s + ε`;
/// `Δ = lr·g/√denominator`; with momentum `u = μ·u + Δ`, `w −= u`, else `w −= Δ`.
public final class RMSprop: Optimizer, @unchecked Sendable {
    public let name = "rmsprop"
    public var learningRate: Float
    public let rho: Float, momentum: Float, epsilon: Float
    public let centered: Bool
    public var iterations = 0 { didSet { applySchedule() } }
    public var options = OptimizerOptions() { didSet { applySchedule() } }
    private let slots = Slots()

    public init(learningRate: Float = 0.001, rho: Float = 0.9, momentum: Float = 0, epsilon: Float = 1e-7,
                centered: Bool = false) throws {
        try checkRate(learningRate, "learning_rate")
        try checkUnit(rho, "rho")
        try checkUnit(momentum, "momentum", closed: true)
        try checkRate(epsilon, "epsilon")
        self.learningRate = learningRate
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
    }

    public var slotNames: [String] {
        ["velocity"] + (momentum > 0 ? ["momentum"] : []) + (centered ? ["average_gradient"] : [])
    }
    public func prepare(parameterCount count: Int) { slots.prepare(count: count, slots: slotNames.count) }
    public func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float> { slots.buffer(index) }

    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>) {
        let lo = range.lowerBound
        let u: UnsafeMutablePointer<Float>? = momentum > 0 ? slots[1] + lo : nil
        let avg: UnsafeMutablePointer<Float>? = centered ? slots[momentum > 0 ? 2 : 1] + lo : nil
        sequent_rmsprop_update(params + lo, grads + lo, slots[0] + lo, u, avg, range.count,
                               learningRate, rho, momentum, epsilon)
    }

    public var config: [String: JSONValue] {
        withOptions(["type": "rmsprop", "learning_rate": .number(Double(learningRate)), "rho": .number(Double(rho)),
         "momentum": .number(Double(momentum)), "epsilon": .number(Double(epsilon)), "centered": .bool(centered)])
    }
}
