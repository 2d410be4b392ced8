/// Stochastic gradient descent, Keras 3's rule:
/// without momentum `w −= lr·g`; with it `v = μ·v − lr·g`, then `w += v` (or `w += μ·v − lr·g` with Nesterov).
public final class SGD: Optimizer, @unchecked Sendable {
    public let name = "sgd"
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public var iterations = 0 { didSet { applySchedule() } }
    public var options = OptimizerOptions() { didSet { applySchedule() } }
    private let slots = Slots()

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false) throws {
        try checkRate(learningRate, "learning_rate")
        try checkUnit(momentum, "momentum", closed: true)
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public var slotNames: [String] { momentum > 0 ? ["momentum"] : [] }
    public func prepare(parameterCount count: Int) { slots.prepare(count: count, slots: slotNames.count) }
    public func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float> { slots.buffer(index) }

    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>) {
        let lr = learningRate
        guard momentum > 0 else {
            for i in range { params[i] -= lr * grads[i] }
            return
        }
        let v = slots[0], mu = momentum
        for i in range {
            v[i] = mu * v[i] - lr * grads[i]
            params[i] += nesterov ? mu * v[i] - lr * grads[i] : v[i]
        }
    }

    public var config: [String: JSONValue] {
        withOptions(["type": "sgd", "learning_rate": .number(Double(learningRate)), "momentum": .number(Double(momentum)),
         "nesterov": .bool(nesterov)])
    }
}
