/// Cross-entropy with one-hot (or soft) target distributions of the output's width.
public struct CategoricalCrossentropy: Loss {
    public let name = "categorical_crossentropy"
    public let fromLogits: Bool
    /// Keras's `label_smoothing` in [0, 1]: targets become `t·(1 − ls) + ls / K` for `K` classes.
    public let labelSmoothing: Float
    public var fusableActivation: Activation? { .softmax }

    /// `labelSmoothing` must be in [0, 1] (`makeLoss` refuses other values with a field path).
    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.fromLogits = fromLogits
        self.labelSmoothing = labelSmoothing
    }

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        if labelSmoothing == 0 {
            // The default keeps the unsmoothed closure so the hot path does no extra arithmetic per target.
            return categoricalCrossentropy(output: output, n: n, width: width, logits: logits, grad: grad,
                                           gradScale: gradScale) { r, j in target[r * width + j] }
        }
        let keep = 1 - labelSmoothing, spread = labelSmoothing / Float(width)
        return categoricalCrossentropy(output: output, n: n, width: width, logits: logits, grad: grad,
                                       gradScale: gradScale) { r, j in target[r * width + j] * keep + spread }
    }
}
