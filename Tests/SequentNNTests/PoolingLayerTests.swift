import Testing
@testable import SequentNN

/// AveragePooling2D, GlobalAveragePooling2D and GlobalMaxPooling2D together: in a trained model, a model's
/// shapes, summary and round trip, Keras configs and refusals. Each layer's own tests are in <Layer>Tests.
@Suite struct PoolingLayerTests {
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
