import CSequentSupport
import Testing
@testable import SequentNN

/// The Winograd kernels (winograd.c) against the reference convolution and against im2col + sgemm: forward
/// (bias, ReLU, the fused 2×2 max-pool), the input gradient and the kernel gradient (alone and in the fused pool's
/// backward pass, in chunks of samples), on output sizes that leave partial edge tiles, at both instruction-set
/// levels.
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

    /// Runs `body` at every kernel level this CPU has (2 = AVX-512, 1 = AVX2), then restores the detected one.
    func atEveryLevel(_ body: (Int) throws -> Void) throws {
        let detected = Int(sequent_conv2d_limit_level(2))
        try #require(detected >= 1, "this CPU has no AVX2: Winograd is off")
        defer { _ = sequent_conv2d_limit_level(2) }
        for level in (1...detected).reversed() {
            #expect(Int(sequent_conv2d_limit_level(Int32(level))) == level)
            try body(level)
        }
    }

    /// The largest difference between `a` and `b` relative to `b`'s largest magnitude (NaN fails).
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.map { abs($0) }.max() ?? 1
        var worst: Float = 0
        for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) / scale) }
        return a.contains { $0.isNaN } || a.count != b.count ? .infinity : worst
    }

    /// The kernel and bias gradient of `c`'s layer (linear: only the kernel gradient differs) from a random output
    /// gradient, against the definition summed in Double.
    func kernelGradientError(_ c: Case, tile: Int) throws -> Float {
        let layer = try Conv2D(filters: c.filters, kernelSize: [3, 3], useBias: c.bias)
        layer.kernels = .winograd
        layer.forcedWinogradTile = tile
        try layer.build(inputShape: c.input)
        #expect(layer.usesWinogradFilter(c.n))
        let (h, w, ch, f) = (c.input[0], c.input[1], c.input[2], c.filters), (oh, ow) = (h - 2, w - 2)
        var x = randomArray(c.n * h * w * ch, seed: 21)
        var dy = randomArray(c.n * oh * ow * f, seed: 22)
        let params = randomArray(layer.parameterCount, seed: 23, scale: 0.2)
        var want = [Double](repeating: 0, count: layer.parameterCount)
        for s in 0..<c.n {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for o in 0..<f {
                        let d = Double(dy[((s * oh + oy) * ow + ox) * f + o])
                        if c.bias { want[9 * ch * f + o] += d }
                        for k in 0..<9 {
                            for i in 0..<ch {
                                want[(k * ch + i) * f + o] += d * Double(x[((s * h + oy + k / 3) * w + ox + k % 3) * ch + i])
                            }
                        }
                    }
                }
            }
        }
        var y = [Float](repeating: 0, count: dy.count), grads = [Float](repeating: .nan, count: want.count)
        var scratch = [Float](repeating: 0, count: layer.scratchCount(batch: c.n))
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                dy.withUnsafeMutableBufferPointer { dp in
                    grads.withUnsafeMutableBufferPointer { gp in
                        scratch.withUnsafeMutableBufferPointer { sp in
                            layer.backward(x: xp.baseAddress!, y: yp.baseAddress!, dy: dp.baseAddress!, dx: nil, n: c.n,
                                           params: params, grads: gp.baseAddress!, scratch: sp.baseAddress!,
                                           context: .inference)
                        }
                    }
                }
            }
        }
        return relativeError(grads, want.map { Float($0) })
    }

    @Test func kernelGradientEqualsReference() throws {
        try atEveryLevel { level in
            for c in Self.cases {
                for tile in [2, 4] {
                    let worst = try kernelGradientError(c, tile: tile)
                    #expect(worst < 1e-4, "level \(level) \(c) F(\(tile)×\(tile)): worst difference \(worst)")
                }
            }
        }
    }

    /// The fused ReLU + pool backward pass on Winograd (kernel and input gradient, unpooled `chunk` samples at a
    /// time) against the direct kernels', from the same pooled forward pass (so both see the same positions).
    func pooledBackwardError(input: [Int], filters: Int, n: Int, tile: Int, chunk: Int) throws -> (Float, Float) {
        func layer(_ kernels: Conv2D.KernelChoice) throws -> Conv2D {
            let l = try Conv2D(filters: filters, kernelSize: [3, 3], activation: .relu)
            l.kernels = kernels
            l.forcedWinogradTile = tile
            try l.build(inputShape: input)
            return l
        }
        let fast = try layer(.winograd), slow = try layer(.direct)
        fast.winogradChunkBudget = chunk * (input[0] - 2) * (input[1] - 2) * filters
        #expect(fast.winogradChunk(n) == min(n, chunk) && fast.usesWinogradFilter(n) && !slow.winograd)
        let pooled = n * ((input[0] - 2) / 2) * ((input[1] - 2) / 2) * filters, inCount = n * input.reduce(1, *)
        var x = randomArray(inCount, seed: 31), dy = randomArray(pooled, seed: 32)
        let params = randomArray(slow.parameterCount, seed: 33, scale: 0.2)
        var poolY = [Float](repeating: 0, count: pooled), argmax = [Float](repeating: 0, count: pooled / 4 + 1)
        func run(_ l: Conv2D, forward: Bool) -> (grads: [Float], dx: [Float]) {
            var grads = [Float](repeating: .nan, count: l.parameterCount), dx = [Float](repeating: .nan, count: inCount)
            var scratch = [Float](repeating: 0, count: l.scratchCount(batch: n, fusion: .computesNextPool))
            var done = false
            x.withUnsafeMutableBufferPointer { xp in
                dy.withUnsafeMutableBufferPointer { dp in
                    poolY.withUnsafeMutableBufferPointer { yp in
                        argmax.withUnsafeMutableBufferPointer { ap in
                            grads.withUnsafeMutableBufferPointer { gp in
                                dx.withUnsafeMutableBufferPointer { dxp in
                                    scratch.withUnsafeMutableBufferPointer { sp in
                                        if forward {
                                            _ = l.forwardPooled(x: xp.baseAddress!, y: yp.baseAddress!,
                                                                argmax: ap.baseAddress!, n: n, params: params,
                                                                scratch: sp.baseAddress!)
                                        }
                                        done = l.backwardPooled(x: xp.baseAddress!, dy: dp.baseAddress!,
                                                                poolY: yp.baseAddress!, argmax: ap.baseAddress!,
                                                                dx: dxp.baseAddress!, n: n, params: params,
                                                                grads: gp.baseAddress!, scratch: sp.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            #expect(done)
            return (grads, dx)
        }
        let want = run(slow, forward: true), got = run(fast, forward: false)
        #expect(want.grads.contains { $0 != 0 } && want.dx.contains { $0 != 0 })
        return (relativeError(got.grads, want.grads), relativeError(got.dx, want.dx))
    }

    @Test func pooledBackwardEqualsDirect() throws {
        try atEveryLevel { level in
            // Fashion-MNIST's second layer in one chunk and in chunks of 2 (an odd batch: 2, 2, 1); odd sizes with
            // a dropped pool row and column.
            for (input, filters, n, chunk) in [([13, 13, 64], 64, 5, 8), ([13, 13, 64], 64, 5, 2),
                                               ([12, 9, 16], 32, 3, 1), ([9, 12, 32], 16, 1, 1)] {
                for tile in [2, 4] {
                    let (dw, dx) = try pooledBackwardError(input: input, filters: filters, n: n, tile: tile, chunk: chunk)
                    #expect(dw < 1e-4 && dx < 1e-4,
                            "level \(level) \(input) → \(filters) n=\(n) chunk \(chunk) F(\(tile)×\(tile)): \(dw) \(dx)")
                }
            }
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
