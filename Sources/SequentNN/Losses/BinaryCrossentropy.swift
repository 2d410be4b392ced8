import Foundation

/// Binary cross-entropy per output unit (targets 0/1), averaged over the units of a sample.
public struct BinaryCrossentropy: Loss {
    public let name = "binary_crossentropy"
    public let fromLogits: Bool
    /// Keras's `label_smoothing` in [0, 1]: targets become `t·(1 − ls) + ls / 2`.
    public let labelSmoothing: Float
    public var fusableActivation: Activation? { .sigmoid }

    /// `labelSmoothing` must be in [0, 1] (`makeLoss` refuses other values with a field path).
    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.fromLogits = fromLogits
        self.labelSmoothing = labelSmoothing
    }

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        var total = 0.0
        let perUnit = gradScale / Float(width)
        // With ls = 0 this is t·1 + 0, exact, so the default costs one fused multiply-add per unit.
        let keep = 1 - labelSmoothing, spread = labelSmoothing / 2
        for i in 0..<(n * width) {
            let t = target[i] * keep + spread, o = output[i]
            var loss: Float
            if logits {
                // max(z, 0) − z·t + log(1 + e^−|z|): exact and overflow-free for any z.
                loss = max(o, 0) - o * t + log1p(exp(-abs(o)))
                grad?[i] = perUnit * (Activation.sigmoid(o) - t)
            } else {
                let p = min(max(o, probabilityEpsilon), 1 - probabilityEpsilon)
                loss = -(t * log(p) + (1 - t) * log(1 - p))
                grad?[i] = perUnit * (p - t) / (p * (1 - p))
            }
            total += Double(loss)
        }
        return total / Double(width)
    }
}
