import Testing
@testable import SequentNN

/// The BLAS paths against naive loops written straight from the definitions.
@Suite struct ReferenceKernelTests {
    // One sample takes the sgemv path; 2100 × 512 weights for a few rows are multiplied in 64-deep slices
    // (2100 = 32 slices and 52 left over).
    @Test(arguments: [(7, 13, 5), (1, 13, 5), (5, 2100, 512), (16, 2100, 512), (17, 2100, 512)])
    func denseMatchesReference(n: Int, inputs: Int, units: Int) throws {
        let model = try Sequential(inputShape: [inputs], layers: [Dense(units: units)], seed: 3)
        let w = model.weights(ofLayer: 0)
        var bias = w[1]
        bias.scalars = randomArray(units, seed: 2)
        try model.setWeights(ofLayer: 0, [w[0], bias])
        let x = randomArray(n * inputs, seed: 1)
        let fast = try model.predict(Tensor(shape: [n, inputs], scalars: x)).scalars
        let ref = Dense.referenceForward(x: x, kernel: w[0].scalars, bias: bias.scalars, m: n, inputs: inputs, units: units)
        #expect(fast.count == ref.count)
        let tolerance: Float = inputs > 100 ? 1e-4 : 1e-5   // float sums of 2100 products round differently
        for (a, b) in zip(fast, ref) { #expect(abs(a - b) < tolerance * max(1, abs(b))) }
        if inputs == 2100 { #expect((Dense.sliceDepth(m: n, inputs: inputs, units: units) != nil) == (n <= 16)) }
    }

    @Test(arguments: [
        ([9, 8, 3], [3, 3], [1, 1], Padding.valid), ([9, 8, 3], [3, 3], [1, 1], .same), ([9, 8, 3], [3, 2], [2, 3], .same),
        ([10, 10, 1], [5, 5], [2, 2], .valid), ([6, 6, 4], [1, 1], [1, 1], .valid), ([4, 5, 2], [4, 5], [1, 1], .valid),
    ])
    func conv2DMatchesReference(input: [Int], kernel: [Int], strides: [Int], padding: Padding) throws {
        let n = 3
        let conv = try Conv2D(filters: 5, kernelSize: kernel, strides: strides, padding: padding)
        let model = try Sequential(inputShape: input, layers: [conv], seed: 4)
        let w = model.weights(ofLayer: 0)
        let bias = Tensor(shape: [5], scalars: randomArray(5, seed: 8))
        try model.setWeights(ofLayer: 0, [w[0], bias])
        let x = randomArray(n * input.reduce(1, *), seed: 5)
        let fast = try model.predict(Tensor(shape: [n] + input, scalars: x)).scalars
        let ref = conv.referenceForward(x: x, kernel: w[0].scalars, bias: bias.scalars, n: n)
        #expect(fast.count == ref.count)
        for (a, b) in zip(fast, ref) { #expect(abs(a - b) < 1e-4) }
    }

    @Test func sameConvolutionKeepsSizeAndPadsLikeTensorFlow() throws {
        // TensorFlow puts the odd padding pixel after (bottom/right): a 2×2 kernel of ones on a 3×3 input
        // of ones sums 4 at the top-left, 2 on the right edge and 1 at the bottom-right corner.
        let conv = try Conv2D(filters: 1, kernelSize: [2, 2], padding: .same, useBias: false)
        let model = try Sequential(inputShape: [3, 3, 1], layers: [conv])
        try model.setWeights(ofLayer: 0, [Tensor(shape: [2, 2, 1, 1], scalars: [1, 1, 1, 1])])
        let y = try model.predict(Tensor(shape: [1, 3, 3, 1], scalars: Array(repeating: 1, count: 9))).scalars
        #expect(y == [4, 4, 2, 4, 4, 2, 2, 2, 1])
    }

    @Test func maxPoolingPicksWindowMaxima() throws {
        let model = try Sequential(inputShape: [4, 4, 1], layers: [MaxPooling2D(poolSize: [2, 2])])
        let x: [Float] = [1, 2, 5, 3,
                          4, 0, 1, 1,
                          -1, -2, 7, 8,
                          -3, -4, 9, 6]
        let y = try model.predict(Tensor(shape: [1, 4, 4, 1], scalars: x)).scalars
        #expect(y == [4, 5, -1, 9])
    }

    @Test func maxPoolingVectorPathMatchesScalarPath() throws {
        // 16 channels take the SIMD path, 3 channels the scalar one; the results must agree channel by channel.
        let x = randomArray(2 * 6 * 6 * 16, seed: 3)
        let wide = try Sequential(inputShape: [6, 6, 16], layers: [MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same)])
        let yWide = try wide.predict(Tensor(shape: [2, 6, 6, 16], scalars: x)).scalars
        for ch in [0, 5, 15] {
            var single = [Float]()
            for i in stride(from: ch, to: x.count, by: 16) { single.append(x[i]) }
            let narrow = try Sequential(inputShape: [6, 6, 1], layers: [MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same)])
            let yNarrow = try narrow.predict(Tensor(shape: [2, 6, 6, 1], scalars: single)).scalars
            for (k, v) in yNarrow.enumerated() { #expect(yWide[k * 16 + ch] == v) }
        }
    }

    @Test func softmaxIsStableForHugeLogits() {
        var z: [Float] = [1000, 1001, 999]
        z.withUnsafeMutableBufferPointer { Activation.softmax.apply($0.baseAddress!, rows: 1, width: 3) }
        #expect(z.allSatisfy { $0.isFinite })
        #expect(abs(z.reduce(0, +) - 1) < 1e-6)
        #expect(z[1] > z[0] && z[0] > z[2])
    }

    @Test func shardedTrainingEqualsSingleThread() throws {
        // Splitting a batch across replicas must give the same step as running it whole.
        func run(threads: Int) throws -> [Float] {
            // Large enough (28×28, 32 filters, 128 samples) that two threads really split the batch.
            let model = try Sequential(inputShape: [28, 28, 1], layers: [
                Conv2D(filters: 32, kernelSize: [3, 3], activation: .relu), MaxPooling2D(), Flatten(),
                Dense(units: 4, activation: .softmax),
            ], seed: 6)
            try model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: ["accuracy"])
            model.threads = threads
            let n = 128
            let x = randomArray(n * 784, seed: 2), y = labels(n, classes: 4, seed: 3)
            #expect(model.shardCount(for: n) == threads)
            x.withUnsafeBufferPointer { xb in y.withUnsafeBufferPointer { yb in
                for step in 0..<3 { _ = model.trainStep(x: xb.baseAddress!, y: yb.baseAddress!, n: n, step: step) }
            } }
            return model.weightsSnapshot()
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        let worst = zip(one, two).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5, "max weight difference \(worst)")
    }

    @Test(arguments: [(1, Activation.relu), (2, .relu), (2, .gelu)])
    func fusedLargeDenseEqualsPerShardGradients(threads: Int, activation: Activation) throws {
        // The million-weight Dense layer's gradient summed inside one GEMM per block and applied at once must
        // train exactly like per-shard gradients summed afterwards (up to float rounding). gelu keeps its
        // pre-activation in the layer's scratch, which the fused path must hand to the layer's prologue.
        func run(fused: Bool, steps: Int = 3) throws -> [Float] {
            let model = try Sequential(inputShape: [10, 10, 1], layers: [
                Conv2D(filters: 4, kernelSize: [3, 3], activation: .relu), Flatten(),
                Dense(units: 4096, activation: activation), Dense(units: 3),
            ], seed: 6)
            try model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            model.threads = threads
            model.fusionPolicy.largeDense = fused
            #expect(model.plan.largeDense == (fused ? 2 : nil))
            let n = 24
            #expect(model.shardCount(for: n) == threads)
            let x = randomArray(n * 100, seed: 2), y = labels(n, classes: 3, seed: 3)
            x.withUnsafeBufferPointer { xb in y.withUnsafeBufferPointer { yb in
                for step in 0..<steps { _ = model.trainStep(x: xb.baseAddress!, y: yb.baseAddress!, n: n, step: step) }
            } }
            return model.weightsSnapshot()
        }
        let plain = try run(fused: false), fused = try run(fused: true)
        #expect(plain.count == fused.count)
        let worst = zip(plain, fused).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5, "max weight difference \(worst)")
        // Every layer trained, the fused one included.
        let initial = try run(fused: true, steps: 0)
        #expect(zip(initial, fused).filter { $0 != $1 }.count > fused.count / 2)
    }
}
