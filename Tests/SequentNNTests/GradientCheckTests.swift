import Testing
@testable import SequentNN

/// Finite-difference checks of every layer's and every loss's backward pass. Float32 central differences on
/// small smooth networks agree with the analytic gradients to well under 1 %; a wrong index or a missing
/// term shows up as an error of order 1.
@Suite struct GradientCheckTests {
    static let tolerance = 0.02

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
        #expect(r.error < Self.tolerance, "\(activation): worst relative error \(r.error)")
        #expect(r.checked == model.parameterCount)
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
        #expect(r.error < Self.tolerance, "\(padding) \(strides): worst relative error \(r.error)")
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
        #expect(r.error < Self.tolerance, "worst relative error \(r.error)")
    }

    @Test func categoricalCrossentropyWithProbabilitiesAndLogits() throws {
        let n = 4
        for (activation, loss) in [(Activation.softmax, CategoricalCrossentropy()),
                                   (.linear, CategoricalCrossentropy(fromLogits: true)),
                                   (.sigmoid, CategoricalCrossentropy())] {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: activation)], seed: 8)
            try model.compile(optimizer: SGD(), loss: loss)
            let y = oneHot(labels(n, classes: 3, seed: 6), classes: 3)
            let r = worstGradientError(model: model, x: randomArray(n * 4, seed: 9), y: y, n: n, epsilon: 5e-3)
            #expect(r.error < Self.tolerance, "\(activation) from_logits=\(loss.fromLogits): \(r.error)")
        }
    }

    @Test func binaryCrossentropyAndMeanSquaredError() throws {
        let n = 5
        let cases: [(Activation, any Loss)] = [(.sigmoid, BinaryCrossentropy()), (.linear, BinaryCrossentropy(fromLogits: true)),
                                               (.tanh, MeanSquaredError()), (.linear, MeanSquaredError())]
        for (activation, loss) in cases {
            let model = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .tanh),
                                                                 Dense(units: 2, activation: activation)], seed: 4)
            try model.compile(optimizer: SGD(), loss: loss)
            let y = labels(n * 2, classes: 2, seed: 7)
            let r = worstGradientError(model: model, x: randomArray(n * 3, seed: 1), y: y, n: n, epsilon: 5e-3)
            #expect(r.error < Self.tolerance, "\(loss.name) \(activation): \(r.error)")
        }
    }

    @Test func sigmoidBinaryCrossentropyIsFusedAndStable() throws {
        // Huge logits: the fused path stays finite where log(sigmoid) would underflow to -inf.
        let model = try Sequential(inputShape: [1], layers: [Dense(units: 1, activation: .sigmoid)], seed: 1)
        try model.compile(optimizer: SGD(), loss: BinaryCrossentropy())
        #expect(model.fusedOutputActivation)
        try model.setWeights(ofLayer: 0, [Tensor(shape: [1, 1], scalars: [200]), Tensor(shape: [1], scalars: [0])])
        let r = model.lossAndGradients(x: [1], y: [0], n: 1, context: .inference)
        #expect(abs(r.loss - 200) < 1e-3)
        #expect(r.grads.allSatisfy { $0.isFinite })
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
