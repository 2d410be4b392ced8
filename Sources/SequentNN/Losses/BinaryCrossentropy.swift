import Foundation

/// Binary cross-entropy per output unit (targets 0/1), averaged over the units of a sample.
public struct BinaryCrossentropy: Loss {
    public let name = "binary_crossentropy"
    public let fromLogits: Bool
    public var fusableActivation: Activation? { .sigmoid }

    public init(fromLogits: Bool = false) { self.fromLogits = fromLogits }

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        var total = 0.0
        let perUnit = gradScale / Float(width)
        for i in 0..<(n * width) {
            let t = target[i], o = output[i]
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
