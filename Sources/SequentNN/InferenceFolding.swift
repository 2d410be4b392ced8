/// BatchNormalization folded away for serving.
///
/// In inference a BatchNormalization is a fixed affine map per channel, `y = x·a + b`. After a Conv2D or Dense
/// without activation it can be merged into that layer's weights — kernel column `f` times `a[f]`, bias
/// `bias[f]·a[f] + b[f]` — which saves a pass over the layer's whole output; a plain ReLU after it then becomes
/// the layer's own activation, so Conv2D → BatchNormalization → ReLU → MaxPooling2D runs as the fused
/// conv + ReLU + pool pass (`FusionPlan`).
extension Sequential {
    /// An inference-only copy of the model with every foldable BatchNormalization merged into the layer before
    /// it, holding the current weights; nil when there is nothing to fold. The copy is not compiled: its last
    /// layer applies its own activation.
    func foldedForInference() -> Sequential? {
        var newLayers: [Layer] = []
        /// Per new layer: the weights it takes.
        var weights: [[Tensor]] = []
        var i = 0
        var folded = false
        while i < layers.count {
            let layer = layers[i]
            if i + 1 < layers.count, let bn = layers[i + 1] as? BatchNormalization,
               let merged = fold(i, bn: bn, params: parameterBlock.pointer + parameterOffsets[i + 1]) {
                var step = 2
                var activation = Activation.linear
                if i + 2 < layers.count, Self.isPlainReLU(layers[i + 2]) {
                    activation = .relu
                    step = 3
                }
                guard let rebuilt = try? Self.rebuild(layers[i], activation: activation) else { return nil }
                newLayers.append(rebuilt)
                weights.append(merged)
                folded = true
                i += step
                continue
            }
            guard let copy = try? ModelConfig.makeLayer(.object(layer.config.merging(
                ["type": .string(layer.typeName), "name": .string(layer.name)]) { a, _ in a }), path: "layers[\(i)]")
            else { return nil }
            newLayers.append(copy)
            weights.append(self.weights(ofLayer: i))
            i += 1
        }
        guard folded, let model = try? Sequential(inputShape: inputShape, layers: newLayers, name: name, seed: seed)
        else { return nil }
        for (j, w) in weights.enumerated() where !w.isEmpty {
            guard (try? model.setWeights(ofLayer: j, w)) != nil else { return nil }
        }
        model.threads = 1
        return model
    }

    /// Layer `i`'s kernel and bias with BatchNormalization `bn` (whose weights are at `params`) merged in, when
    /// layer `i` is a Conv2D or Dense without activation whose units are `bn`'s channels.
    private func fold(_ i: Int, bn: BatchNormalization, params: UnsafePointer<Float>) -> [Tensor]? {
        let width: Int
        switch layers[i] {
        case let conv as Conv2D where conv.activation == .linear: width = conv.filters
        case let dense as Dense where dense.activation == .linear: width = dense.units
        default: return nil
        }
        guard width == bn.channels else { return nil }
        let (a, b) = bn.inferenceAffine(params)
        let current = weights(ofLayer: i)
        var kernel = current[0]
        for k in kernel.scalars.indices { kernel.scalars[k] *= a[k % width] }
        let oldBias = current.count > 1 ? current[1].scalars : [Float](repeating: 0, count: width)
        let bias = (0..<width).map { oldBias[$0] * a[$0] + b[$0] }
        return [kernel, Tensor(shape: [width], scalars: bias)]
    }

    /// Layer `layer` (Conv2D or Dense) again with a bias and `activation`.
    private static func rebuild(_ layer: Layer, activation: Activation) throws -> Layer {
        if let conv = layer as? Conv2D {
            let copy = try Conv2D(filters: conv.filters, kernelSize: conv.kernelSize, strides: conv.strides,
                                  padding: conv.padding, activation: activation, useBias: true, name: conv.name)
            copy.kernels = conv.kernels
            return copy
        }
        let dense = layer as! Dense
        return try Dense(units: dense.units, activation: activation, useBias: true, name: dense.name)
    }

    /// `Activation("relu")` or `ReLU()` with Keras's defaults.
    private static func isPlainReLU(_ layer: Layer) -> Bool {
        if let a = layer as? ActivationLayer { return a.activation == .relu }
        if let r = layer as? ReLU { return r.maxValue == nil && r.negativeSlope == 0 && r.threshold == 0 }
        return false
    }
}
