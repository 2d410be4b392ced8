import Testing
@testable import SequentNN

/// AveragePooling2D, GlobalAveragePooling2D and GlobalMaxPooling2D: shapes, configs, exact small cases and
/// finite-difference gradients. Keras's own numbers for the same layers are in KerasFixtureTests.
@Suite struct PoolingLayerTests {
    /// 1…9 as a 3×3 single-channel image.
    static let nine: [Float] = (1...9).map(Float.init)

    @Test func averagePoolingValidAndSameByHand() throws {
        let valid = try AveragePooling2D(poolSize: [2, 2])
        #expect(try runLayer(valid, inputShape: [3, 3, 1], x: Self.nine, n: 1).y == [3])
        #expect(valid.outputShape == [1, 1, 1] && valid.strides == [2, 2])
        // 'same' pads at the bottom/right; the edge windows divide by the values they cover (2 and 1), not 4.
        let same = try AveragePooling2D(poolSize: [2, 2], padding: .same)
        #expect(try runLayer(same, inputShape: [3, 3, 1], x: Self.nine, n: 1).y == [3, 4.5, 7.5, 9])
        // Overlapping windows (stride 1): each input's gradient is the sum of its windows' shares.
        let overlap = try AveragePooling2D(poolSize: [2, 2], strides: [1, 1])
        let r = try runLayer(overlap, inputShape: [3, 3, 1], x: Self.nine, n: 1, dy: [1, 1, 1, 1])
        #expect(r.y == [3, 4, 6, 7])
        #expect(r.dx == [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25])
    }

    @Test func globalPoolingByHand() throws {
        // 2×2 pixels, 2 channels: channel 0 = 1, 2, 3, 4; channel 1 = 5, 5, 1, 0 (a tie for the maximum).
        let x: [Float] = [1, 5, 2, 5, 3, 1, 4, 0]
        let avg = GlobalAveragePooling2D()
        let a = try runLayer(avg, inputShape: [2, 2, 2], x: x, n: 1, dy: [4, 8])
        #expect(a.y == [2.5, 2.75] && avg.outputShape == [2])
        #expect(a.dx == [1, 2, 1, 2, 1, 2, 1, 2])
        let mx = GlobalMaxPooling2D(keepdims: true)
        let m = try runLayer(mx, inputShape: [2, 2, 2], x: x, n: 1, dy: [4, 8])
        #expect(m.y == [4, 5] && mx.outputShape == [1, 1, 2])
        // The tied maximum shares its gradient, as reduce_max's gradient does in TensorFlow and JAX.
        #expect(m.dx == [0, 4, 0, 4, 0, 0, 4, 0])
    }

    @Test(arguments: [([2, 2], nil, Padding.valid), ([3, 3], [2, 2], .same), ([2, 3], [1, 1], .same),
                      ([3, 2], [1, 2], .valid)] as [([Int], [Int]?, Padding)])
    func averagePoolingGradient(pool: [Int], strides: [Int]?, padding: Padding) throws {
        let layer = try AveragePooling2D(poolSize: pool, strides: strides, padding: padding)
        let err = try worstInputGradientError(layer, inputShape: [5, 6, 3], x: randomArray(2 * 90, seed: 3), n: 2)
        #expect(err < 0.01, "\(pool) \(padding): worst relative error \(err)")
    }

    @Test func globalPoolingGradients() throws {
        for layer in [GlobalAveragePooling2D(), GlobalAveragePooling2D(keepdims: true), GlobalMaxPooling2D(),
                      GlobalMaxPooling2D(keepdims: true)] as [Layer] {
            let err = try worstInputGradientError(layer, inputShape: [4, 3, 5], x: randomArray(2 * 60, seed: 8), n: 2)
            #expect(err < 0.01, "\(layer.typeName): worst relative error \(err)")
        }
    }

    /// In a model, between trainable layers: the parameter gradients of the Conv2D before the pool depend on
    /// the pool's input gradient.
    @Test func poolsInATrainedModel() throws {
        let n = 2
        let model = try Sequential(inputShape: [6, 6, 2], layers: [
            Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: .tanh),
            AveragePooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same),
            Conv2D(filters: 4, kernelSize: [2, 2], activation: .tanh),
            GlobalMaxPooling2D(),
            Dense(units: 3),
        ], seed: 4)
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        let r = worstGradientError(model: model, x: randomArray(n * 72, seed: 12), y: labels(n, classes: 3, seed: 3),
                                   n: n, epsilon: 1e-3)
        #expect(r.error < GradientCheckTests.tolerance, "worst relative error \(r.error)")
    }

    @Test func shapesParametersSummaryAndRoundTrip() throws {
        let model = try Sequential(inputShape: [9, 8, 3], layers: [
            AveragePooling2D(poolSize: [2, 2], padding: .same),
            AveragePooling2D(poolSize: [3, 2], strides: [1, 1]),
            GlobalMaxPooling2D(keepdims: true),
            GlobalAveragePooling2D(),
        ])
        #expect(model.layers.map(\.outputShape) == [[5, 4, 3], [3, 3, 3], [1, 1, 3], [3]])
        #expect(model.parameterCount == 0)
        #expect(model.layers.map(\.name) == ["average_pooling2d", "average_pooling2d_1", "global_max_pooling2d",
                                             "global_average_pooling2d"])
        let text = model.summary()
        #expect(text.contains("│ average_pooling2d (AveragePooling2D)"))
        #expect(text.contains("│ global_max_pooling2d (GlobalMaxPooling2D)         │ (None, 1, 1, 3)        │             0 │"))
        #expect(text.contains("│ global_average_pooling2d (GlobalAveragePooling2D) │ (None, 3)              │             0 │"))
        let back = try roundTrip(model)
        #expect(back.architecture == model.architecture)
        #expect(back.layers.map(\.outputShape) == model.layers.map(\.outputShape))
    }

    @Test func kerasConfigsBuildAndBadOnesAreRefused() throws {
        let model = try ModelConfig.makeModel(kerasModelJSON(input: [6, 6, 4], [
            ("AveragePooling2D", ["name": "avg", "trainable": true, "pool_size": [3, 3], "strides": [3, 3],
                                  "padding": "valid", "data_format": "channels_last"]),
            ("GlobalAveragePooling2D", ["name": "gap", "data_format": "channels_last", "keepdims": true]),
        ]))
        #expect(model.layers.map(\.outputShape) == [[2, 2, 4], [1, 1, 4]])
        func error(_ layer: JSONValue) -> String? {
            do { _ = try ModelConfig.makeModel(["input_shape": [4, 4, 2], "layers": [layer]]); return nil }
            catch { return "\(error)" }
        }
        #expect(error(["type": "GlobalMaxPooling2D", "data_format": "channels_first"])
            == "model.layers[0].data_format must be \"channels_last\", got \"channels_first\"")
        #expect(error(["type": "GlobalAveragePooling2D", "keepdims": "yes"])
            == "model.layers[0].keepdims must be true or false, got \"yes\"")
        #expect(error(["type": "AveragePooling2D", "pool_size": [0, 2]]) == "model.layers[0].pool_size must be positive, got [0, 2]")
        #expect(error(["type": "AveragePooling2D", "pool_size": 5])
            == "model.layers[0].pool_size (5, 5) is larger than the input (4, 4) with padding \"valid\"")
        #expect(error(["type": "GlobalAveragePooling2D", "axis": 1]) == "model.layers[0].axis is not a known field, got 1")
    }
}
