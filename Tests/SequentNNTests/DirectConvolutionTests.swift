import CSequentSupport
import Testing
@testable import SequentNN

/// The direct convolution kernels (conv_kernels.c) against im2col + sgemm, which the reference and
/// finite-difference tests cover: same outputs, same loss, same gradients for every parameter, across the
/// block shapes and remainders the kernels instantiate.
@Suite struct DirectConvolutionTests {
    struct Case: Sendable, CustomStringConvertible {
        var input: [Int], filters: Int, kernel: [Int], filters2: Int, kernel2: [Int], activation: Activation
        var description: String { "\(input) \(filters)@\(kernel) → \(filters2)@\(kernel2) \(activation)" }
    }

    static let cases = [
        // Fashion-MNIST's first layers: 1 channel, 64 filters (4 vectors), then 64 → 64.
        Case(input: [28, 28, 1], filters: 64, kernel: [3, 3], filters2: 64, kernel2: [3, 3], activation: .relu),
        // Colour photos: 3 channels, 16 filters (1 vector); input gradient over 16 channels.
        Case(input: [15, 17, 3], filters: 16, kernel: [3, 3], filters2: 32, kernel2: [2, 3], activation: .relu),
        // 48 filters (three 1-vector blocks), 32 input channels (2 vectors), odd widths, tanh applied afterwards.
        Case(input: [9, 30, 2], filters: 32, kernel: [3, 3], filters2: 48, kernel2: [3, 3], activation: .tanh),
        // A kernel as large as the input: one output pixel, every input pixel is a border pixel.
        Case(input: [7, 6, 1], filters: 16, kernel: [3, 2], filters2: 16, kernel2: [5, 5], activation: .linear),
    ]

    func model(_ c: Case, direct: Bool) throws -> (Sequential, [Conv2D]) {
        let a = try Conv2D(filters: c.filters, kernelSize: c.kernel, activation: c.activation)
        let b = try Conv2D(filters: c.filters2, kernelSize: c.kernel2, activation: .relu)
        a.kernels = direct ? .direct : .im2col
        b.kernels = direct ? .direct : .im2col
        let m = try Sequential(inputShape: c.input, layers: [a, b, Flatten(), Dense(units: 3)], seed: 7)
        try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        // Non-zero biases, so a dropped or doubled bias shows.
        for i in 0..<2 {
            var w = m.weights(ofLayer: i)
            w[1].scalars = randomArray(w[1].scalars.count, seed: UInt64(20 + i), scale: 0.1)
            try m.setWeights(ofLayer: i, w)
        }
        return (m, [a, b])
    }

    @Test(arguments: cases)
    func directEqualsIm2col(_ c: Case) throws {
        try #require(sequent_conv2d_direct_available() != 0, "this CPU has no AVX2: the direct kernels are off")
        let n = 3
        let (fast, convs) = try model(c, direct: true)
        let (slow, plain) = try model(c, direct: false)
        #expect(convs[0].directForward && convs[0].directFilter && convs[1].directInput)
        #expect(!plain[0].directForward && !plain[1].directInput)
        let x = randomArray(n * c.input.reduce(1, *), seed: 3), y = labels(n, classes: 3, seed: 4)
        let yFast = try fast.predict(Tensor(shape: [n] + c.input, scalars: x)).scalars
        let ySlow = try slow.predict(Tensor(shape: [n] + c.input, scalars: x)).scalars
        for (a, b) in zip(yFast, ySlow) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
        let a = fast.lossAndGradients(x: x, y: y, n: n, context: .inference)
        let b = slow.lossAndGradients(x: x, y: y, n: n, context: .inference)
        #expect(abs(a.loss - b.loss) < 1e-5)
        let scale = b.grads.map { abs($0) }.max() ?? 1
        var worst: Float = 0
        for (g1, g2) in zip(a.grads, b.grads) { worst = max(worst, abs(g1 - g2) / scale) }
        #expect(worst < 1e-4, "worst gradient difference \(worst) of the largest")
    }

    @Test func avx2BuildEqualsIm2colToo() throws {
        // This machine runs the AVX-512 kernels; the AVX2 ones (other block widths) must agree as well.
        let detected = sequent_conv2d_limit_level(2)
        try #require(detected >= 1, "this CPU has no AVX2")
        #expect(sequent_conv2d_limit_level(1) == 1)
        defer { _ = sequent_conv2d_limit_level(2) }
        for c in Self.cases { try directEqualsIm2col(c) }
    }

    /// Conv2D(relu) → 2×2 max-pool, twice: the fused passes (`forwardPooled`, `backwardPooled`, byte positions)
    /// against im2col + sgemm and the general pooling path. Odd sizes drop a row and a column; 48 filters take
    /// the one-vector blocks, 32 the two-vector ones.
    @Test(arguments: [([15, 17, 3], 16, 32), ([12, 11, 16], 48, 32), ([9, 9, 1], 32, 16)])
    func fusedPoolingEqualsSeparate(input: [Int], f1: Int, f2: Int) throws {
        try #require(sequent_conv2d_direct_available() != 0, "this CPU has no AVX2: the direct kernels are off")
        // `poolKernels` alone: the byte-position pooling kernels after im2col convolutions, unfused.
        func model(fused: Bool, poolKernels: Bool? = nil) throws -> Sequential {
            let layers: [Layer] = [
                try Conv2D(filters: f1, kernelSize: [3, 3], activation: .relu), try MaxPooling2D(),
                try Conv2D(filters: f2, kernelSize: [2, 2], activation: .relu), try MaxPooling2D(), Flatten(),
                try Dense(units: 3),
            ]
            for case let conv as Conv2D in layers { conv.kernels = fused ? .direct : .im2col }
            for case let pool as MaxPooling2D in layers { pool.usesTwoByTwoKernels = poolKernels ?? fused }
            let m = try Sequential(inputShape: input, layers: layers, seed: 5)
            try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            for i in [0, 2] {
                var w = m.weights(ofLayer: i)
                w[1].scalars = randomArray(w[1].scalars.count, seed: UInt64(30 + i), scale: 0.1)
                try m.setWeights(ofLayer: i, w)
            }
            return m
        }
        let fast = try model(fused: true), slow = try model(fused: false)
        let pooled = try model(fused: false, poolKernels: true)
        #expect(fast.plan.pooled == [true, false, true, false, false, false])
        #expect(slow.plan.pooled.allSatisfy { !$0 } && pooled.plan.pooled.allSatisfy { !$0 })
        let n = 4
        let x = randomArray(n * input.reduce(1, *), seed: 8), y = labels(n, classes: 3, seed: 9)
        let ySlow = try slow.predict(Tensor(shape: [n] + input, scalars: x)).scalars
        let b = slow.lossAndGradients(x: x, y: y, n: n, context: .inference)
        #expect(b.grads.contains { $0 != 0 })
        let scale = b.grads.map { abs($0) }.max() ?? 1
        for candidate in [fast, pooled] {
            let yFast = try candidate.predict(Tensor(shape: [n] + input, scalars: x)).scalars
            for (a, b) in zip(yFast, ySlow) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
            let a = candidate.lossAndGradients(x: x, y: y, n: n, context: .inference)
            #expect(abs(a.loss - b.loss) < 1e-5)
            var worst: Float = 0
            for (g1, g2) in zip(a.grads, b.grads) { worst = max(worst, abs(g1 - g2) / scale) }
            #expect(worst < 1e-4, "worst gradient difference \(worst) of the largest")
        }
        // Every layer's output as the dashboard shows them: the convolutions' own outputs are computed too.
        let actsFast = fast.activations(for: Array(x[0..<input.reduce(1, *)]))
        let actsSlow = slow.activations(for: Array(x[0..<input.reduce(1, *)]))
        for (p, q) in zip(actsFast, actsSlow) {
            for (u, v) in zip(p.values, q.values) { #expect(abs(u - v) <= 1e-4 * max(1, abs(v)), "\(p.name)") }
        }
    }

    @Test func fusedPoolingAVX2BuildEqualsSeparate() throws {
        let detected = sequent_conv2d_limit_level(2)
        try #require(detected >= 1, "this CPU has no AVX2")
        #expect(sequent_conv2d_limit_level(1) == 1)
        defer { _ = sequent_conv2d_limit_level(2) }
        try fusedPoolingEqualsSeparate(input: [15, 17, 3], f1: 16, f2: 32)
        try fusedPoolingEqualsSeparate(input: [12, 11, 16], f1: 48, f2: 32)
    }

    @Test func unsupportedShapesUseIm2col() throws {
        let strided = try Conv2D(filters: 16, kernelSize: [3, 3], strides: [2, 2])
        let same = try Conv2D(filters: 16, kernelSize: [3, 3], padding: .same)
        let few = try Conv2D(filters: 5, kernelSize: [3, 3])
        _ = try Sequential(inputShape: [9, 9, 16], layers: [strided])
        _ = try Sequential(inputShape: [9, 9, 16], layers: [same])
        _ = try Sequential(inputShape: [9, 9, 3], layers: [few])
        #expect(!strided.directForward && !same.directForward && !few.directForward && !few.directInput)
    }
}
