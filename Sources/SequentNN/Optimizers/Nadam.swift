import Foundation

/// Nadam, Keras 3's rule (keras/src/optimizers/nadam.py) with the momentum schedule
/// `uₜ = β1·(1 − ½·0.96ᵗ)` and `Πₜ = u₁⋯uₜ`:
/// `m += (g − m)(1 − β1)`, `v += (g² − v)(1 − β2)`,
/// `m̂ = uₜ₊₁·m/(1 − Πₜ·uₜ₊₁) + (1 − uₜ)·g/(1 − Πₜ)`, `v̂ = v/(1 − β2ᵗ)`, `w −= lr·m̂/(√v̂ + ε)`.
/// Keras keeps `Πₜ` as a variable; it depends only on the step count, so it is recomputed from `iterations`
/// and a checkpoint needs nothing beyond the step count.
public final class Nadam: Optimizer, @unchecked Sendable {
    public let name = "nadam"
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public var iterations = 0 { didSet { applySchedule() } }
    public var options = OptimizerOptions() { didSet { applySchedule() } }
    private let slots = Slots()

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) throws {
        try checkRate(learningRate, "learning_rate")
        try checkUnit(beta1, "beta_1")
        try checkUnit(beta2, "beta_2")
        try checkRate(epsilon, "epsilon")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public let slotNames = ["momentum", "velocity"]
    public func prepare(parameterCount count: Int) { slots.prepare(count: count, slots: 2) }
    public func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float> { slots.buffer(index) }

    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>) {
        let b1 = Double(beta1), t = iterations + 1
        func u(_ step: Int) -> Double { b1 * (1 - 0.5 * pow(0.96, Double(step))) }
        // Per step, not per element: the product over at most `iterations` factors is cheap next to the loop.
        var product = 1.0
        for s in 1...t { product *= u(s) }
        let ut = Float(u(t)), ut1 = Float(u(t + 1))
        let c1 = ut1 / Float(1 - product * u(t + 1)), c2 = (1 - ut) / Float(1 - product)
        let vScale = 1 / Float(1 - pow(Double(beta2), Double(t)))
        let (m, v) = (slots[0], slots[1])
        let (a1, a2, lr, eps) = (1 - beta1, 1 - beta2, learningRate, epsilon)
        for i in range {
            let g = grads[i]
            m[i] += (g - m[i]) * a1
            v[i] += (g * g - v[i]) * a2
            let mHat = c1 * m[i] + c2 * g
            params[i] -= mHat * lr / ((v[i] * vScale).squareRoot() + eps)
        }
    }

    public var config: [String: JSONValue] {
        withOptions(["type": "nadam", "learning_rate": .number(Double(learningRate)), "beta_1": .number(Double(beta1)),
                     "beta_2": .number(Double(beta2)), "epsilon": .number(Double(epsilon))])
    }
}
