import CSequentSupport
import Testing
@testable import SequentNN

/// The Winograd kernels (winograd.c) against the reference convolution and against im2col + sgemm: forward
/// (bias, ReLU, the fused 2×2 max-pool) and the input gradient, on output sizes that leave partial edge tiles,
/// at both instruction-set levels.
@Suite struct WinogradTests {
    struct Case: Sendable, CustomStringConvertible {
        var input: [Int], filters: Int, n: Int, bias: Bool, relu: Bool
        var description: String { "\(input) → \(filters) n=\(n) bias=\(bias) relu=\(relu)" }
    }

    static let cases = [
        // Fashion-MNIST's second layer: 11×11 outputs, two partial tiles per row and column.
        Case(input: [13, 13, 64], filters: 64, n: 3, bias: true, relu: true),
        Case(input: [13, 13, 64], filters: 16, n: 1, bias: false, relu: false),
        // Odd, unequal sizes: 7×10 outputs; one 16-filter vector (the 1-vector blocks).
        Case(input: [9, 12, 16], filters: 16, n: 3, bias: true, relu: false),
        Case(input: [9, 12, 32], filters: 64, n: 1, bias: false, relu: true),
        // More tiles than one block (24), across samples; a single output row.
        Case(input: [23, 5, 32], filters: 16, n: 3, bias: true, relu: true),
        Case(input: [3, 19, 16], filters: 64, n: 3, bias: true, relu: false),
    ]

    /// The largest difference from the reference relative to the reference output's largest magnitude.
    func forwardError(_ c: Case, tile: Int) throws -> Float {
        let layer = try Conv2D(filters: c.filters, kernelSize: [3, 3], activation: c.relu ? .relu : .linear,
                               useBias: c.bias)
        layer.kernels = .winograd
        layer.forcedWinogradTile = tile
        try layer.build(inputShape: c.input)
        #expect(layer.winograd && layer.usesWinograd(c.n))
        let channels = c.input[2]
        let kernel = randomArray(9 * channels * c.filters, seed: 11, scale: 0.2)
        let bias = c.bias ? randomArray(c.filters, seed: 12) : nil
        var x = randomArray(c.n * c.input.reduce(1, *), seed: 13)
        let params = kernel + (bias ?? [])
        var want = layer.referenceForward(x: x, kernel: kernel, bias: bias, n: c.n)
        if c.relu { want = want.map { max($0, 0) } }
        var y = [Float](repeating: .nan, count: want.count)
        var scratch = [Float](repeating: 0, count: layer.scratchCount(batch: c.n))
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                scratch.withUnsafeMutableBufferPointer { sp in
                    layer.forward(x: xp.baseAddress!, y: yp.baseAddress!, n: c.n, params: params, scratch: sp.baseAddress!,
                                  context: .inference)
                }
            }
        }
        let scale = want.map { abs($0) }.max() ?? 1
        var worst: Float = 0
        for (a, b) in zip(y, want) { worst = max(worst, abs(a - b) / scale) }  // NaN (an unwritten output) fails
        return y.contains { $0.isNaN } ? .infinity : worst
    }

    @Test(arguments: cases)
    func forwardEqualsReference(_ c: Case) throws {
        try #require(sequent_kernel_level() > 0, "this CPU has no AVX2: Winograd is off")
        for tile in [2, 4] {
            let worst = try forwardError(c, tile: tile)
            #expect(worst < 1e-4, "F(\(tile)×\(tile)): worst difference \(worst) of the largest output")
        }
    }

    @Test func avx2BuildEqualsReferenceToo() throws {
        try #require(sequent_conv2d_limit_level(2) >= 1, "this CPU has no AVX2")
        #expect(sequent_conv2d_limit_level(1) == 1)
        defer { _ = sequent_conv2d_limit_level(2) }
        for c in Self.cases {
            for tile in [2, 4] {
                let worst = try forwardError(c, tile: tile)
                #expect(worst < 1e-4, "\(c) F(\(tile)×\(tile)): worst difference \(worst) of the largest output")
            }
        }
    }

    /// Two Winograd convolutions (the second's input gradient is Winograd's too), optionally each followed by a
    /// fused 2×2 max-pool, against the same model on im2col + sgemm: predictions, loss and every gradient.
    func modelsAgree(input: [Int], f1: Int, f2: Int, pool: Bool, n: Int, tile: Int) throws {
        func model(winograd: Bool) throws -> (Sequential, [Conv2D]) {
            let a = try Conv2D(filters: f1, kernelSize: [3, 3], activation: .relu)
            let b = try Conv2D(filters: f2, kernelSize: [3, 3], activation: .relu)
            a.kernels = winograd ? .winograd : .im2col
            b.kernels = winograd ? .winograd : .im2col
            a.forcedWinogradTile = tile
            b.forcedWinogradTile = tile
            let layers: [Layer] = pool ? [a, try MaxPooling2D(), b, try MaxPooling2D(), Flatten(), try Dense(units: 3)]
                : [a, b, Flatten(), try Dense(units: 3)]
            let m = try Sequential(inputShape: input, layers: layers, seed: 5)
            try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            for (i, layer) in m.layers.enumerated() where layer is Conv2D {
                var w = m.weights(ofLayer: i)
                w[1].scalars = randomArray(w[1].scalars.count, seed: UInt64(30 + i), scale: 0.1)
                try m.setWeights(ofLayer: i, w)
            }
            return (m, [a, b])
        }
        let (fast, convs) = try model(winograd: true), (slow, _) = try model(winograd: false)
        #expect(convs[0].winograd == (input[2] % 16 == 0) && convs[1].winograd)
        if pool { #expect(fast.plan.pooled == [true, false, true, false, false, false]) }
        let x = randomArray(n * input.reduce(1, *), seed: 8), y = labels(n, classes: 3, seed: 9)
        let yFast = try fast.predict(Tensor(shape: [n] + input, scalars: x)).scalars
        let ySlow = try slow.predict(Tensor(shape: [n] + input, scalars: x)).scalars
        for (a, b) in zip(yFast, ySlow) { #expect(abs(a - b) <= 1e-4 * max(1, abs(b))) }
        let a = fast.lossAndGradients(x: x, y: y, n: n, context: .inference)
        let b = slow.lossAndGradients(x: x, y: y, n: n, context: .inference)
        #expect(b.grads.contains { $0 != 0 })
        #expect(abs(a.loss - b.loss) < 1e-5)
        let scale = b.grads.map { abs($0) }.max() ?? 1
        var worst: Float = 0
        for (g1, g2) in zip(a.grads, b.grads) { worst = max(worst, abs(g1 - g2) / scale) }
        #expect(worst < 1e-4, "worst gradient difference \(worst) of the largest")
    }

    @Test(arguments: [false, true])
    func trainingEqualsIm2col(pool: Bool) throws {
        try #require(sequent_kernel_level() > 0, "this CPU has no AVX2: Winograd is off")
        // 16 → 32 → 64 channels, odd sizes (partial tiles, a dropped pool row and column); 3 channels first: that
        // layer is not Winograd's.
        for tile in [2, 4] {
            try modelsAgree(input: [15, 13, 16], f1: 32, f2: 64, pool: pool, n: 3, tile: tile)
            try modelsAgree(input: [16, 11, 3], f1: 16, f2: 16, pool: pool, n: 1, tile: tile)
        }
    }

    @Test func trainingAVX2BuildEqualsIm2col() throws {
        try #require(sequent_conv2d_limit_level(2) >= 1, "this CPU has no AVX2")
        #expect(sequent_conv2d_limit_level(1) == 1)
        defer { _ = sequent_conv2d_limit_level(2) }
        for pool in [false, true] {
            for tile in [2, 4] { try modelsAgree(input: [15, 13, 16], f1: 32, f2: 64, pool: pool, n: 3, tile: tile) }
        }
    }

    @Test func automaticChoice() throws {
        try #require(sequent_kernel_level() > 0, "this CPU has no AVX2: Winograd is off")
        let fashion = try Conv2D(filters: 64, kernelSize: [3, 3], activation: .relu)
        let first = try Conv2D(filters: 64, kernelSize: [3, 3])
        let five = try Conv2D(filters: 64, kernelSize: [5, 5])
        let strided = try Conv2D(filters: 64, kernelSize: [3, 3], strides: [2, 2])
        let direct = try Conv2D(filters: 64, kernelSize: [3, 3])
        direct.kernels = .direct
        try fashion.build(inputShape: [13, 13, 64])
        try first.build(inputShape: [28, 28, 1])
        for layer in [five, strided, direct] { try layer.build(inputShape: [13, 13, 64]) }
        #expect(fashion.winograd && fashion.usesWinograd(16) && fashion.winogradTile(16) == 4)
        #expect(fashion.winogradTile(1) == 2)
        // One 13×13 image: on AVX-512 the direct kernel is faster.
        #expect(fashion.usesWinograd(1) == (sequent_kernel_level() == 1))
        #expect(!first.winograd && !five.winograd && !strided.winograd && !direct.winograd)
    }
}
