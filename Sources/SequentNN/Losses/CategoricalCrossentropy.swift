/// Cross-entropy with one-hot (or soft) target distributions of the output's width.
public struct CategoricalCrossentropy: Loss {
    public let name = "categorical_crossentropy"
    public let fromLogits: Bool
    public var fusableActivation: Activation? { .softmax }

    public init(fromLogits: Bool = false) { self.fromLogits = fromLogits }

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        categoricalCrossentropy(output: output, n: n, width: width, logits: logits, grad: grad,
                                gradScale: gradScale) { r, j in target[r * width + j] }
    }
}
