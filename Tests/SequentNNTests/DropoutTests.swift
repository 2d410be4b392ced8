import Foundation
import Testing
@testable import SequentNN

/// Dropout: the shared layer checks, Keras's numbers at inference, the mask in training.
@Suite struct DropoutTests {
    @Test func harnessAndKerasFixtures() throws {
        // In training the mask is a hash of the context's seed and step, the same in every call: differentiable.
        let r = try LayerHarness.check({ try Dropout(rate: 0.4) }, inputShape: [12], outputShape: [12],
                                       name: "dropout", fixture: "Dropout")
        #expect(r.fixtureCases == 1)
        try LayerHarness.check({ try Dropout(rate: 0.25, seed: 7) }, inputShape: [3, 2, 2], outputShape: [3, 2, 2],
                               name: "dropout")
    }

    @Test func trainingDropsAboutTheRateAndScalesTheRest() throws {
        let layer = try Dropout(rate: 0.4)
        let x = [Float](repeating: 1, count: 2000)
        let r = try runLayer(layer, inputShape: [1000], x: x, n: 2, dy: x, context: LayerHarness.training)
        let kept = r.y.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 1 / 0.6) < 1e-6 })
        // Binomial(2000, 0.6): σ ≈ 22.
        #expect((1100...1300).contains(kept.count), "kept \(kept.count)")
        #expect(r.dx == r.y, "the same mask and scale backward")
        #expect(try runLayer(layer, inputShape: [1000], x: x, n: 2).y == x, "the identity at inference")
    }

    @Test func dropoutAndRescalingInTraining() throws {
        let n = 3
        let model = try Sequential(inputShape: [6], layers: [
            Dense(units: 8, activation: .tanh),
            Dropout(rate: 0.4),
            Rescaling(scale: 0.5, offset: 0.1),
            Dense(units: 2, activation: .softmax),
        ], seed: 2)
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        let context = ForwardContext(training: true, seed: 1234, sampleOffset: 0)
        let r = worstGradientError(model: model, x: randomArray(n * 6, seed: 3), y: labels(n, classes: 2, seed: 5),
                                   n: n, context: context, epsilon: 5e-3)
        #expect(r.error < GradientCheckTests.tolerance, "worst relative error \(r.error)")
    }
}
