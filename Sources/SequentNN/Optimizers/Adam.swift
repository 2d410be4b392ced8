import CSequentSupport
import Foundation

/// Adam, Keras 3's rule (ε added to √v after folding both bias corrections into the step size):
/// `m += (g − m)(1 − β1)`, `v += (g² − v)(1 − β2)`, `α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ)`, `w −= α·m/(√v + ε)`.
/// With `amsgrad` the denominator uses `v̂ = max(v̂, v)`. AdamW is this rule with `options.weightDecay`
/// (keras/src/optimizers/adamw.py subclasses Adam and only sets `weight_decay`), named "adamw".
public final class Adam: Optimizer, @unchecked Sendable {
    public let name: String
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public let amsgrad: Bool
    public var iterations = 0 { didSet { applySchedule() } }
    public var options = OptimizerOptions() { didSet { applySchedule() } }
    private let slots = Slots()

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                amsgrad: Bool = false, kerasName: String = "adam") throws {
        try checkRate(learningRate, "learning_rate")
        try checkUnit(beta1, "beta_1")
        try checkUnit(beta2, "beta_2")
        try checkRate(epsilon, "epsilon")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.name = kerasName
    }

    public var slotNames: [String] { amsgrad ? ["m", "v", "v_hat"] : ["m", "v"] }
    public func prepare(parameterCount count: Int) { slots.prepare(count: count, slots: slotNames.count) }
    public func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float> { slots.buffer(index) }

    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>) {
        let t = Double(iterations + 1)
        let alpha = Float(Double(learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let lo = range.lowerBound
        if amsgrad {
            let (m, v, vh) = (slots[0], slots[1], slots[2])
            let (a1, a2) = (1 - beta1, 1 - beta2)
            for i in range {
                let g = grads[i]
                m[i] += (g - m[i]) * a1
                v[i] += (g * g - v[i]) * a2
                vh[i] = max(vh[i], v[i])
                params[i] -= m[i] * alpha / (vh[i].squareRoot() + epsilon)
            }
            return
        }
        // The loop itself lives in C (CSequentSupport) where it vectorises, square roots included.
        sequent_adam_update(params + lo, grads + lo, slots[0] + lo, slots[1] + lo, range.count,
                            alpha, 1 - beta1, 1 - beta2, epsilon)
    }

    public var config: [String: JSONValue] {
        withOptions(["type": .string(name), "learning_rate": .number(Double(learningRate)), "beta_1": .number(Double(beta1)),
         "beta_2": .number(Double(beta2)), "epsilon": .number(Double(epsilon)),
         "amsgrad": .bool(amsgrad)])
    }
}
