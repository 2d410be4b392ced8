import Foundation
import Testing
@testable import SequentNN

/// Softmax: the shared layer checks, Keras's numbers, exact values, the fusion with cross-entropy.
@Suite struct SoftmaxTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try Softmax() }, inputShape: [2, 4], outputShape: [2, 4], name: "softmax",
                                       fixture: "Softmax")
        #expect(r.fixtureCases == 1)
        try LayerHarness.check({ try Softmax() }, inputShape: [5], outputShape: [5], name: "softmax")
    }

    @Test func softmaxLayerByHandAndFusedWithCrossentropy() throws {
        let y = try runLayer(Softmax(), inputShape: [3], x: [1, 2, 3], n: 1).y
        #expect(zip(y, [0.09003057, 0.24472847, 0.66524096] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(throws: ConfigError.self) { try Softmax(axis: 1) }
        let err = try worstInputGradientError(Softmax(), inputShape: [2, 4], x: randomArray(16, seed: 2, scale: 2), n: 2)
        #expect(err < 0.01, "worst relative error \(err)")
        // As the last layer the softmax folds into the loss, like Dense(activation="softmax"), and predict still
        // returns probabilities.
        for last in [try Softmax() as Layer, ActivationLayer(.softmax)] {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3), last], seed: 3)
            try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
            #expect(model.plan.fusion[1].contains(.defersActivation))
            let r = worstGradientError(model: model, x: randomArray(8, seed: 1), y: labels(2, classes: 3, seed: 1), n: 2)
            #expect(r.error < GradientCheckTests.tolerance)
            let p = try model.predict(Tensor(shape: [1, 4], scalars: [0.1, -0.2, 0.3, 0.5])).scalars
            #expect(abs(p.reduce(0, +) - 1) < 1e-6 && p.allSatisfy { $0 > 0 })
        }
    }
}
