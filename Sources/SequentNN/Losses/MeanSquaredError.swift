/// Mean of squared differences over the units of a sample.
public struct MeanSquaredError: Loss {
    public let name = "mean_squared_error"
    public var fromLogits: Bool { false }

    public init() {}

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        var total = 0.0
        let scale = 2 * gradScale / Float(width)
        for i in 0..<(n * width) {
            let d = output[i] - target[i]
            total += Double(d * d)
            grad?[i] = scale * d
        }
        return total / Double(width)
    }
}
