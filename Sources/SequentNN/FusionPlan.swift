/// Which fusions the model may use. Tests turn them off to compare a fused path with the separate one.
struct FusionPolicy: Sendable, Equatable {
    /// Conv2D(relu) → MaxPooling2D: the pool applies the ReLU's gradient.
    var reluGradientHandoff = true
    /// Conv2D(relu) → 2×2 MaxPooling2D in one pass of the direct kernels.
    var pooledConvolution = true
    /// The largest Dense layer's backward products fused with its update (`Trainer.updateFusedDense`).
    var largeDense = true
}

/// Every decision to compute two things in one pass, or to skip one, made once from the layers, which of them
/// are frozen and the compiled loss. The passes (`Sequential.forward` / `backward`, the `Trainer`) consult the
/// plan and hand each layer its `LayerFusion`; the layers themselves carry no flags set from outside.
struct FusionPlan: Sendable, Equatable {
    /// Per layer, what it is asked to do (passed in `ForwardContext.fusion`).
    private(set) var fusion: [LayerFusion]
    /// Per layer: a Conv2D that computes the max pool after it in one pass (`Conv2D.forwardPooled`).
    private(set) var pooled: [Bool]
    /// The Dense layer whose kernel gradient the training step computes over the whole batch and applies at
    /// once: the largest trainable one, when it has at least a million weights.
    private(set) var largeDense: Int?
    /// BatchNormalization layers that use the batch's statistics in training (those not frozen), ascending: the
    /// training step synchronises its shards at each of them (see `Trainer.trainStep`).
    private(set) var batchCoupled: [Int]
    /// True when the last layer's activation is folded into the loss (softmax/sigmoid + cross-entropy).
    var defersOutputActivation: Bool { fusion.last?.contains(.defersActivation) ?? false }

    /// `frozen` is Keras's `trainable=False` per layer; `trainable` whether a layer has weights the optimizer
    /// updates (not so for a frozen layer, nor for one whose only weights are statistics).
    init(layers: [Layer], frozen: [Bool], trainable: [Bool], firstTrainable: Int, defersOutputActivation: Bool,
         policy: FusionPolicy = FusionPolicy()) {
        var fusion = Array(repeating: LayerFusion(), count: layers.count)
        var pooled = Array(repeating: false, count: layers.count)
        if defersOutputActivation { fusion[layers.count - 1].insert(.defersActivation) }
        for (i, layer) in layers.enumerated() {
            if frozen[i] { fusion[i].insert(.frozen) }
            if !trainable[i] && layer.parameterCount > 0 { fusion[i].insert(.skipsParameterGradients) }
        }
        for i in layers.indices.dropLast() {
            // An activity regularizer's gradient joins at every position of the layer's output, which the
            // handoff and the pooled pass never see.
            guard let conv = layers[i] as? Conv2D, let pool = layers[i + 1] as? MaxPooling2D,
                  conv.activation == .relu, !fusion[i].contains(.defersActivation),
                  conv.activityRegularizer == nil else { continue }
            if policy.reluGradientHandoff {
                fusion[i].insert(.reluGradientLeftToNext)
                fusion[i + 1].insert(.appliesPreviousReLUGradient)
                // The pooled pass applies the ReLU gradient inside the pool's, so it needs the handoff.
                if policy.pooledConvolution, conv.canFuse(pool, fusion: fusion[i]) {
                    pooled[i] = true
                    fusion[i].insert(.computesNextPool)
                }
            }
        }
        self.fusion = fusion
        self.pooled = pooled
        batchCoupled = layers.indices.filter { layers[$0] is BatchNormalization && !frozen[$0] }
        // The blocked update of the large Dense layer runs inside the backward pass, which the BatchNormalization
        // synchronisation points would have to interleave with; models with both keep the plain update.
        let coupled = !batchCoupled.isEmpty
        let candidates = layers.indices.filter { i in
            guard policy.largeDense, !coupled, i >= firstTrainable, trainable[i], let d = layers[i] as? Dense,
                  d.activityRegularizer == nil else { return false }
            return d.parameterCount >= 1 << 20 && d.rowsPerSample == 1
        }
        largeDense = candidates.max { layers[$0].parameterCount < layers[$1].parameterCount }
    }
}
