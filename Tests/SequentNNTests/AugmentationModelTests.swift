import Testing
@testable import SequentNN

/// A Keras-JSON model that starts with augmentation layers trains, and predicts as the same model without them.
@Suite struct AugmentationModelTests {
    @Test func augmentedModelTrainsAndPredictsAsTheUnaugmentedOne() throws {
        let head: [(String, JSONValue)] = [
            ("Conv2D", ["filters": 3, "kernel_size": [3, 3], "activation": "relu"]),
            ("Flatten", [:]),
            ("Dense", ["units": 4, "activation": "softmax"]),
        ]
        let augmented = try ModelConfig.makeModel(kerasModelJSON(input: [8, 8, 1], [
            ("RandomFlip", ["mode": "horizontal", "seed": 1]),
            ("RandomRotation", ["factor": 0.1, "fill_mode": "nearest"]),
        ] + head))
        let plain = try ModelConfig.makeModel(kerasModelJSON(input: [8, 8, 1], head))
        #expect(augmented.layers.map(\.name).prefix(2) == ["random_flip", "random_rotation"])
        try augmented.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy())
        let n = 16
        let x = randomArray(n * 64, seed: 31), y = labels(n, classes: 4, seed: 32)
        let before = augmented.weightsSnapshot()
        var losses: [Double] = []
        for step in 0..<5 {
            let r = x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { augmented.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: step) }
            }
            losses.append(r.lossSum / Double(r.count))
        }
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(augmented.weightsSnapshot() != before)
        // Equal weights (the augmentation layers have none), so at inference the outputs are equal.
        for i in 0..<head.count { try plain.setWeights(ofLayer: i, augmented.weights(ofLayer: i + 2)) }
        let input = Tensor(shape: [n, 8, 8, 1], scalars: x)
        #expect(try augmented.predict(input).scalars == plain.predict(input).scalars)
    }
}
