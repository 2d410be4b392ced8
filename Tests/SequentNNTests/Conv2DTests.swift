import Foundation
import Testing
@testable import SequentNN

/// Conv2D: the shared layer checks, Keras's numbers, finite differences through small models, chunking and
/// which activations take the pool fusion. The direct kernels are in DirectConvolutionTests.
@Suite struct Conv2DTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: .tanh) },
                                       inputShape: [5, 6, 2], outputShape: [5, 6, 3], parameters: 57, name: "conv2d",
                                       fixture: "Conv2D")
        #expect(r.fixtureCases == 5)
        // 16 filters take the direct kernels where the CPU has them.
        try LayerHarness.check({ try Conv2D(filters: 16, kernelSize: [3, 3], activation: .silu) }, inputShape: [7, 7, 3],
                               outputShape: [5, 5, 16], parameters: 448, name: "conv2d")
        try LayerHarness.check({ try Conv2D(filters: 4, kernelSize: [2, 3], strides: [2, 1], useBias: false) },
                               inputShape: [6, 5, 2], outputShape: [3, 3, 4], parameters: 48, name: "conv2d")
    }

    @Test(arguments: [(Padding.valid, [1, 1]), (Padding.same, [1, 1]), (Padding.same, [2, 2]), (Padding.valid, [2, 1])])
    func conv2DThroughMaxPooling(padding: Padding, strides: [Int]) throws {
        let n = 1
        let model = try Sequential(inputShape: [7, 6, 2], layers: [
            Conv2D(filters: 3, kernelSize: [3, 2], strides: strides, padding: padding, activation: .tanh),
            Conv2D(filters: 4, kernelSize: [2, 2], padding: .same, activation: .tanh),
            MaxPooling2D(poolSize: [2, 2], strides: [1, 2], padding: .same),
            Flatten(),
            Dense(units: 3),
        ], seed: 5)
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        // Pick an input whose pooling windows all have a clear maximum (no kink within the step).
        let x = try #require((UInt64(11)..<UInt64(5000)).lazy.map { randomArray(n * 7 * 6 * 2, seed: $0) }
            .first { smallestPoolingGap(model: model, x: $0, n: n) > 0.01 })
        let r = worstGradientError(model: model, x: x, y: labels(n, classes: 3, seed: 2), n: n, epsilon: 1e-3)
        #expect(r.error < GradientCheckTests.tolerance, "\(padding) \(strides): worst relative error \(r.error)")
    }
    @Test func conv2DChunkedEqualsSingleChunk() throws {
        // Forcing one sample per im2col chunk must not change outputs or gradients.
        func make(budget: Int) throws -> Sequential {
            let conv = try Conv2D(filters: 4, kernelSize: [3, 3], padding: .same, activation: .tanh)
            conv.colBudget = budget
            let conv2 = try Conv2D(filters: 2, kernelSize: [3, 3], activation: .tanh)
            conv2.colBudget = budget
            let m = try Sequential(inputShape: [6, 6, 1], layers: [conv, conv2, Flatten(), Dense(units: 2)], seed: 9)
            try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            return m
        }
        let x = randomArray(3 * 36, seed: 4), y = labels(3, classes: 2, seed: 4)
        let a = try make(budget: 1 << 20).lossAndGradients(x: x, y: y, n: 3, context: .inference)
        let b = try make(budget: 1).lossAndGradients(x: x, y: y, n: 3, context: .inference)
        #expect(abs(a.loss - b.loss) < 1e-6)
        for (g1, g2) in zip(a.grads, b.grads) { #expect(abs(g1 - g2) < 1e-5) }
    }

    @Test func onlyReLUConvolutionsTakeThePoolFusion() throws {
        for activation in [Activation.relu] + ActivationTests.added {
            let model = try Sequential(inputShape: [8, 8, 1], layers: [
                Conv2D(filters: 16, kernelSize: [3, 3], padding: .same, activation: activation), MaxPooling2D(),
            ])
            let conv = model.layers[0] as! Conv2D
            #expect(model.plan.fusion[0].contains(.reluGradientLeftToNext) == (activation == .relu), "\(activation)")
            #expect(model.plan.pooled[0] == (activation == .relu && conv.canFuse(model.layers[1] as! MaxPooling2D)))
        }
    }
}
