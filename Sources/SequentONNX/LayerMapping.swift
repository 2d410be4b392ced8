import SequentNN

/// Each Sequent layer as ONNX nodes, computing what the layer computes at inference.
///
/// Shapes: `N` batch, `H, W` image, `C` channels, `F` filters. Keras's weights are HWIO for Conv2D (ONNX wants
/// OIHW, so the kernel is transposed here once) and `[IN, OUT]` for Dense (Gemm's B as it is).
extension GraphBuilder {
    /// Emits `layer` (whose weights are `weights`, in Keras's order) applied to `input`, whose per-sample shape
    /// is `inputShape`, and returns the layer's output.
    mutating func emit(_ layer: Layer, weights: [Tensor], input: TensorValue, inputShape: [Int]) throws -> TensorValue {
        let base = layer.name
        switch layer {
        case let dense as Dense:
            var v = channelsLast(input)
            let kernel = weight("\(base)/kernel", shape: weights[0].shape, values: weights[0].scalars)
            let bias = dense.useBias ? weight("\(base)/bias", shape: weights[1].shape, values: weights[1].scalars) : nil
            if v.shape.count == 1 {
                v.name = node("Gemm", [v.name, kernel] + (bias.map { [$0] } ?? []), base)
            } else {
                // Keras applies the kernel along the last axis of any rank; MatMul broadcasts the same way.
                v.name = node("MatMul", [v.name, kernel], base)
                if let bias { v.name = node("Add", [v.name, bias], base) }
            }
            v.shape = layer.outputShape
            return activation(dense.activation, v, base)

        case let conv as Conv2D:
            var v = channelsFirst(input)
            let k = weights[0]   // [KH, KW, C, F]
            let (kh, kw, c, f) = (k.shape[0], k.shape[1], k.shape[2], k.shape[3])
            var oihw = [Float](repeating: 0, count: k.scalars.count)
            for y in 0..<kh { for x in 0..<kw { for ch in 0..<c { for o in 0..<f {
                oihw[((o * c + ch) * kh + y) * kw + x] = k.scalars[((y * kw + x) * c + ch) * f + o]
            } } } }
            var inputs = [v.name, weight("\(base)/kernel", shape: [f, c, kh, kw], values: oihw)]
            if conv.useBias { inputs.append(weight("\(base)/bias", shape: [f], values: weights[1].scalars)) }
            v.name = node("Conv", inputs, base, [
                .ints("kernel_shape", conv.kernelSize), .ints("strides", conv.strides),
                .ints("dilations", [1, 1]), .int("group", 1),
                .ints("pads", Self.pads(inputShape, conv.kernelSize, conv.strides, conv.padding)),
            ])
            v.shape = layer.outputShape
            return activation(conv.activation, v, base)

        case let pool as MaxPooling2D:
            var v = channelsFirst(input)
            v.name = node("MaxPool", [v.name], base, [
                .ints("kernel_shape", pool.poolSize), .ints("strides", pool.strides),
                .ints("pads", Self.pads(inputShape, pool.poolSize, pool.strides, pool.padding)),
            ])
            v.shape = layer.outputShape
            return v

        case let pool as AveragePooling2D:
            var v = channelsFirst(input)
            // Keras divides by the values a window covers, not counting the padding: count_include_pad = 0.
            v.name = node("AveragePool", [v.name], base, [
                .ints("kernel_shape", pool.poolSize), .ints("strides", pool.strides),
                .ints("pads", Self.pads(inputShape, pool.poolSize, pool.strides, pool.padding)),
                .int("count_include_pad", 0),
            ])
            v.shape = layer.outputShape
            return v

        case let gap as GlobalAveragePooling2D:
            return globalPool("GlobalAveragePool", input, keepdims: gap.keepdims, base, layer.outputShape)

        case let gmp as GlobalMaxPooling2D:
            return globalPool("GlobalMaxPool", input, keepdims: gmp.keepdims, base, layer.outputShape)

        case is Flatten:
            // Flattened in channel-last order, as Keras does, so a Dense after it sees the same features.
            var v = channelsLast(input)
            v.name = node("Flatten", [v.name], base, [.int("axis", 1)])
            v.shape = layer.outputShape
            return v

        case let bn as BatchNormalization:
            return batchNormalization(bn, weights: weights, input, base)

        case let r as Rescaling:
            var v = input
            v.name = node("Mul", [v.name, scalar("\(base)/scale", r.scale)], base)
            if r.offset != 0 { v.name = node("Add", [v.name, scalar("\(base)/offset", r.offset)], base) }
            return v

        case let a as ActivationLayer:
            return activation(a.activation, input, base)

        case is Softmax:
            return activation(.softmax, input, base)

        case let r as ReLU:
            return reluLayer(r, input, base)

        case let leaky as LeakyReLU:
            var v = input
            v.name = node("LeakyRelu", [v.name], base, [.float("alpha", leaky.negativeSlope)])
            return v

        case let elu as ELU:
            var v = input
            v.name = node("Elu", [v.name], base, [.float("alpha", elu.alpha)])
            return v

        // Identities at inference: Dropout drops nothing, and the augmentation layers only act in training.
        case is Dropout, is RandomFlip, is RandomContrast, is RandomAffineLayer:
            var v = input
            v.name = node("Identity", [v.name], base)
            return v

        default:
            throw ONNXExportError(layer: layer.name, type: layer.typeName, reason: "no ONNX mapping for this layer type")
        }
    }

    /// ONNX's `pads` `[top, left, bottom, right]` for a window over `inputShape` `[H, W, C]`: none for `valid`;
    /// for `same`, Keras's (TensorFlow's) split, the odd extra row or column going to the bottom or right.
    static func pads(_ inputShape: [Int], _ window: [Int], _ strides: [Int], _ padding: Padding) -> [Int] {
        guard padding == .same else { return [0, 0, 0, 0] }
        var before: [Int] = [], after: [Int] = []
        for axis in 0..<2 {
            let n = inputShape[axis], k = window[axis], s = strides[axis]
            let out = (n + s - 1) / s
            let total = max((out - 1) * s + k - n, 0)
            before.append(total / 2)
            after.append(total - total / 2)
        }
        return before + after
    }

    private mutating func globalPool(_ op: String, _ input: TensorValue, keepdims: Bool, _ base: String,
                                     _ outputShape: [Int]) -> TensorValue {
        var v = channelsFirst(input)
        v.name = node(op, [v.name], base)        // [N, C, 1, 1]
        if !keepdims { v.name = node("Flatten", [v.name], base, [.int("axis", 1)]) }
        v.shape = outputShape
        return v
    }

    /// ONNX BatchNormalization (inference: the moving statistics) where the channels are axis 1 — images held
    /// channels-first, and `[N, C]` — otherwise the same per-channel affine map as Mul + Add on the last axis.
    private mutating func batchNormalization(_ bn: BatchNormalization, weights: [Tensor], _ input: TensorValue,
                                             _ base: String) -> TensorValue {
        var named: [String: [Float]] = [:]
        for (spec, t) in zip(bn.parameters, weights) { named[spec.name] = t.scalars }
        let mean = named["moving_mean"]!, variance = named["moving_variance"]!
        let channels = mean.count
        let gamma = named["gamma"] ?? [Float](repeating: 1, count: channels)
        let beta = named["beta"] ?? [Float](repeating: 0, count: channels)
        if input.shape.count == 3 || input.shape.count == 1 {
            var v = channelsFirst(input)
            v.name = node("BatchNormalization", [
                v.name, weight("\(base)/gamma", shape: [channels], values: gamma),
                weight("\(base)/beta", shape: [channels], values: beta),
                weight("\(base)/moving_mean", shape: [channels], values: mean),
                weight("\(base)/moving_variance", shape: [channels], values: variance),
            ], base, [.float("epsilon", bn.epsilon)])
            return v
        }
        var a = [Float](repeating: 0, count: channels), b = a
        for ch in 0..<channels {
            let scale = Double(gamma[ch]) / (Double(variance[ch]) + Double(bn.epsilon)).squareRoot()
            a[ch] = Float(scale)
            b[ch] = Float(Double(beta[ch]) - Double(mean[ch]) * scale)
        }
        var v = input
        v.name = node("Mul", [v.name, weight("\(base)/scale", shape: [channels], values: a)], base)
        v.name = node("Add", [v.name, weight("\(base)/offset", shape: [channels], values: b)], base)
        return v
    }

    /// Keras's ReLU layer: `x` above `threshold` (else 0), clipped to `max_value`, minus
    /// `negative_slope · max(threshold − x, 0)`. The plain cases are one Relu (and a Clip); the rest is spelled out.
    private mutating func reluLayer(_ r: ReLU, _ input: TensorValue, _ base: String) -> TensorValue {
        var v = input
        if r.threshold == 0 && r.negativeSlope == 0 {
            v.name = node("Relu", [v.name], base)
        } else if r.threshold == 0 && r.maxValue == nil {
            v.name = node("LeakyRelu", [v.name], base, [.float("alpha", r.negativeSlope)])
            return v
        } else {
            let t = scalar("\(base)/threshold", r.threshold)
            let above = node("Greater", [input.name, t], base)
            v.name = node("Where", [above, input.name, scalar("\(base)/zero", 0)], base)
        }
        if let maxValue = r.maxValue {
            v.name = node("Clip", [v.name, scalar("\(base)/min", 0), scalar("\(base)/max", maxValue)], base)
        }
        if r.negativeSlope != 0 {
            let below = node("Relu", [node("Sub", [scalar("\(base)/threshold", r.threshold), input.name], base)], base)
            let leak = node("Mul", [below, scalar("\(base)/negative_slope", r.negativeSlope)], base)
            v.name = node("Sub", [v.name, leak], base)
        }
        return v
    }
}
