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

    /// The largest Dense layer's kernel is updated block by block as its gradient is computed, the gradient
    /// never stored whole (`Trainer.updateFusedDense`). A few steps on two threads, with a regularizer and a
    /// stateful optimizer, must land where the plain path (whole gradients, summed, then the update) does, and
    /// the layers below must get the same input gradients.
    @Test(arguments: ["rmsprop", "adam"])
    func fusedDenseUpdateMatchesThePlainUpdate(optimizer: String) throws {
        func trained(fused: Bool) throws -> (weights: [Float], fused: Bool) {
            let model = try Sequential(inputShape: [8, 8, 33], layers: [
                Conv2D(filters: 16, kernelSize: [1, 1], activation: .relu),   // below: needs the input gradient
                Flatten(),
                Dense(units: 1024, activation: .relu, kernelRegularizer: Regularizer(l1: 0, l2: 1e-3)),   // 2²⁰ weights
                Dense(units: 3, activation: .softmax),
            ], seed: 5)
            model.fusionPolicy.largeDense = fused
            let opt: any Optimizer = optimizer == "adam" ? try Adam(learningRate: 1e-3) : try RMSprop(learningRate: 1e-3)
            try model.compile(optimizer: opt, loss: SparseCategoricalCrossentropy())
            model.threads = 2
            let n = 12
            for step in 0..<3 {
                let x = randomArray(n * 8 * 8 * 33, seed: UInt64(10 + step)), y = labels(n, classes: 3, seed: UInt64(step))
                _ = model.trainStep(x: x, y: y, n: n, step: step)
            }
            return (model.weightsSnapshot(), model.plan.largeDense != nil)
        }
        let (fused, plain) = (try trained(fused: true), try trained(fused: false))
        #expect(fused.fused && !plain.fused)
        let worst = zip(fused.weights, plain.weights).map { abs($0 - $1) }.max() ?? 1
        #expect(worst <= 1e-5, "largest difference \(worst)")
        #expect(fused.weights != Array(repeating: 0, count: fused.weights.count))
    }

    @Test func denseSummaryAndFlops() throws {
        let model = try Sequential(inputShape: [28, 28, 1], layers: [Flatten(), Dense(units: 128, activation: .relu),
                                                                     Dense(units: 10, activation: .softmax)])
        #expect(model.parameterCount == 101_770)
        // Forward 2·(784·128 + 128·10); weight gradients the same; input gradient only for the second Dense.
        #expect(model.trainingFlopsPerSample == 2 * (784 * 128 + 128 * 10) * 2 + 2 * 128 * 10)
    }
}
