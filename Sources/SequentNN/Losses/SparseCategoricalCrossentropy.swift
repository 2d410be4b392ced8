/// Cross-entropy with integer class labels (targets hold the class index as a float).
public struct SparseCategoricalCrossentropy: Loss {
    public let name = "sparse_categorical_crossentropy"
    public let fromLogits: Bool
    public var fusableActivation: Activation? { .softmax }

    public init(fromLogits: Bool = false) { self.fromLogits = fromLogits }

    public func targetWidth(outputWidth: Int) -> Int { 1 }

    public func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                         grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double {
        categoricalCrossentropy(output: output, n: n, width: width, logits: logits, grad: grad,
                                gradScale: gradScale) { r, j in Int(target[r]) == j ? 1 : 0 }
    }
}
