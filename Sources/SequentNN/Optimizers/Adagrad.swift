/// Adagrad, Keras 3's rule (keras/src/optimizers/adagrad.py): `a += g²`, `w −= lr·g/√(a + ε)`, with the
/// accumulator starting at `initial_accumulator_value`.
public final class Adagrad: Optimizer, @unchecked Sendable {
    public let name = "adagrad"
    public var learningRate: Float
    public let initialAccumulatorValue: Float, epsilon: Float
    public var iterations = 0 { didSet { applySchedule() } }
    public var options = OptimizerOptions() { didSet { applySchedule() } }
    private let slots = Slots()
    private var preparedCount = -1

    public init(learningRate: Float = 0.001, initialAccumulatorValue: Float = 0.1, epsilon: Float = 1e-7) throws {
        try checkRate(learningRate, "learning_rate")
        guard initialAccumulatorValue >= 0, initialAccumulatorValue.isFinite else {
            throw ConfigError(field: "initial_accumulator_value", detail: "must be >= 0, got \(initialAccumulatorValue)")
        }
        try checkRate(epsilon, "epsilon")
        self.learningRate = learningRate
        self.initialAccumulatorValue = initialAccumulatorValue
        self.epsilon = epsilon
    }

    public let slotNames = ["accumulator"]
    public func prepare(parameterCount count: Int) {
        // Fill only on (re)allocation: later calls must keep the accumulated state (and a restored one).
        guard count != preparedCount else { return }
        slots.prepare(count: count, slots: 1)
        slots.buffer(0).update(repeating: initialAccumulatorValue)
        preparedCount = count
    }
    public func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float> { slots.buffer(index) }

    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>) {
        let a = slots[0], lr = learningRate, eps = epsilon
        for i in range {
            let g = grads[i]
            a[i] += g * g
            params[i] -= lr * g / (a[i] + eps).squareRoot()
        }
    }

    public var config: [String: JSONValue] {
        withOptions(["type": "adagrad", "learning_rate": .number(Double(learningRate)),
                     "initial_accumulator_value": .number(Double(initialAccumulatorValue)),
                     "epsilon": .number(Double(epsilon))])
    }
}
