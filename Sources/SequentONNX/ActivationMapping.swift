import SequentNN

/// Every `Activation` as opset-17 nodes, with Keras 3's constants (see `Activation`'s notes). GELU has no
/// operator before opset 20, so it is written out from Erf; SiLU (swish) is `x · sigmoid(x)`.
extension GraphBuilder {
    /// `a` applied to `input`. The switch is exhaustive, so an activation added to the engine fails to compile
    /// here until it is mapped rather than being exported wrong.
    mutating func activation(_ a: Activation, _ input: TensorValue, _ base: String) -> TensorValue {
        var v = input
        let x = input.name
        switch a {
        case .linear: return v
        case .relu: v.name = node("Relu", [x], base)
        case .sigmoid: v.name = node("Sigmoid", [x], base)
        case .tanh: v.name = node("Tanh", [x], base)
        case .softmax:
            // Over the channels, as Keras's softmax over the last axis: axis 1 when an image is held channels-first.
            v.name = node("Softmax", [x], base, [.int("axis", input.channelAxis)])
        case .leakyRelu: v.name = node("LeakyRelu", [x], base, [.float("alpha", 0.2)])
        case .elu: v.name = node("Elu", [x], base, [.float("alpha", 1)])
        case .selu:
            v.name = node("Selu", [x], base, [.float("alpha", 1.6732632423543772848170429916717),
                                              .float("gamma", 1.0507009873554804934193349852946)])
        case .gelu:
            // 0.5 · x · (1 + erf(x / √2)), the exact form Keras's gelu uses by default.
            let erf = node("Erf", [node("Mul", [x, scalar("\(base)/inv_sqrt2", Float(0.5).squareRoot())], base)], base)
            let onePlus = node("Add", [erf, scalar("\(base)/one", 1)], base)
            v.name = node("Mul", [node("Mul", [x, onePlus], base), scalar("\(base)/half", 0.5)], base)
        case .silu: v.name = node("Mul", [x, node("Sigmoid", [x], base)], base)
        case .softplus: v.name = node("Softplus", [x], base)
        case .relu6: v.name = node("Clip", [x, scalar("\(base)/min", 0), scalar("\(base)/max", 6)], base)
        case .hardSigmoid:
            // relu6(x + 3) / 6 = max(0, min(1, x/6 + 1/2)).
            v.name = node("HardSigmoid", [x], base, [.float("alpha", 1 / 6), .float("beta", 0.5)])
        }
        return v
    }
}
