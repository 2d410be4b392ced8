import Foundation
import Testing
@testable import SequentNN

/// Dense: the shared layer checks, Keras's numbers, finite differences through small models.
@Suite struct DenseTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try Dense(units: 5, activation: .tanh) }, inputShape: [7], outputShape: [5],
                                       parameters: 40, name: "dense", fixture: "Dense")
        #expect(r.fixtureCases == 3)
        // A 2-D input: the kernel applies to the last axis, row by row, as in Keras.
        try LayerHarness.check({ try Dense(units: 3, activation: .sigmoid, useBias: false) }, inputShape: [2, 4],
                               outputShape: [2, 3], parameters: 12, name: "dense")
        try LayerHarness.check({ try Dense(units: 4, activation: .gelu, kernelRegularizer: Regularizer(l1: 0, l2: 0.01)) },
                               inputShape: [6], outputShape: [4], parameters: 28, name: "dense")
    }

    @Test(arguments: [Activation.linear, .sigmoid, .tanh, .relu, .softmax])
    func denseActivations(activation: Activation) throws {
        let n = 4
        let model = try Sequential(inputShape: [5], layers: [
            Dense(units: 6, activation: activation),
            Dense(units: 3, activation: .softmax),
        ], seed: 3)
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        let x = randomArray(n * 5, seed: 7)
        let r = worstGradientError(model: model, x: x, y: labels(n, classes: 3, seed: 1), n: n, epsilon: 5e-3)
        #expect(r.error < GradientCheckTests.tolerance, "\(activation): worst relative error \(r.error)")
        #expect(r.checked == model.parameterCount)
    }

    @Test func denseSummaryAndFlops() throws {
        let model = try Sequential(inputShape: [28, 28, 1], layers: [Flatten(), Dense(units: 128, activation: .relu),
                                                                     Dense(units: 10, activation: .softmax)])
        #expect(model.parameterCount == 101_770)
        // Forward 2·(784·128 + 128·10); weight gradients the same; input gradient only for the second Dense.
        #expect(model.trainingFlopsPerSample == 2 * (784 * 128 + 128 * 10) * 2 + 2 * 128 * 10)
    }
}
