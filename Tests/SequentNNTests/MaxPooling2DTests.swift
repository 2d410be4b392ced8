import Foundation
import Testing
@testable import SequentNN

/// MaxPooling2D: the shared layer checks and Keras's numbers; the pool that applies the previous ReLU's gradient
/// (FusedReLUPoolingTests). The 2×2 kernels are also checked in DirectConvolutionTests and ReferenceKernelTests.
@Suite struct MaxPooling2DTests {
    @Test func harnessAndKerasFixtures() throws {
        // Random inputs: no window ties within the finite-difference step, so the pool is differentiable there.
        let r = try LayerHarness.check({ try MaxPooling2D() }, inputShape: [5, 7, 3], outputShape: [2, 3, 3],
                                       name: "max_pooling2d", fixture: "MaxPooling2D")
        #expect(r.fixtureCases == 4)
        try LayerHarness.check({ try MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same) },
                               inputShape: [5, 6, 16], outputShape: [3, 3, 16], name: "max_pooling2d")
        try LayerHarness.check({ try MaxPooling2D(poolSize: [3, 3]) }, inputShape: [6, 6, 16], outputShape: [2, 2, 16],
                               name: "max_pooling2d")
    }
}

@Suite struct FusedReLUPoolingTests {
    /// Conv2D(relu) → MaxPooling2D applies the ReLU gradient inside the pool's backward pass; the gradients
    /// must be exactly those of the separate passes. The convolutions use im2col so that the conv + pool fusion
    /// (tested in DirectConvolutionTests) stays off and each side really runs its own path: the pool's C 2×2
    /// kernels with and without their ReLU flag, or the Swift pooling with and without its mask.
    @Test(arguments: [(16, [2, 2], Padding.valid, true), (16, [2, 2], .valid, false), (16, [3, 3], .same, false),
                      (3, [2, 2], .valid, true)])
    func fusedEqualsSeparate(filters: Int, pool: [Int], padding: Padding, twoByTwoKernels: Bool) throws {
        func make(fused: Bool) throws -> Sequential {
            let conv = try Conv2D(filters: filters, kernelSize: [3, 3], activation: .relu)
            conv.kernels = .im2col
            let mp = try MaxPooling2D(poolSize: pool, padding: padding)
            mp.usesTwoByTwoKernels = twoByTwoKernels
            let m = try Sequential(inputShape: [10, 10, 2], layers: [conv, mp, Flatten(), Dense(units: 3)], seed: 4)
            m.fusionPolicy.reluGradientHandoff = fused
            #expect(m.plan.pooled.allSatisfy { !$0 })
            try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            #expect(m.plan.fusion[0].contains(.reluGradientLeftToNext) == fused)
            #expect(m.plan.fusion[1].contains(.appliesPreviousReLUGradient) == fused)
            return m
        }
        let x = randomArray(3 * 200, seed: 5), y = labels(3, classes: 3, seed: 6)
        let a = try make(fused: true).lossAndGradients(x: x, y: y, n: 3, context: .inference)
        let b = try make(fused: false).lossAndGradients(x: x, y: y, n: 3, context: .inference)
        #expect(a.loss == b.loss)
        #expect(a.grads == b.grads)
    }
}
