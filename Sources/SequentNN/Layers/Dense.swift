import CSequentSupport

/// Fully connected layer: `y = activation(x · kernel + bias)` over the last axis.
///
/// Kernel `(IN, OUT)` as Keras stores it. Any leading per-sample dimensions are folded into the rows:
/// X [M, IN] with M = N × leading.
public final class Dense: Layer, @unchecked Sendable {
    public let typeName = "Dense"
    public var name: String
    public let units: Int
    public let activation: Activation
    public let useBias: Bool
    public let kernelInitializer: Initializer
    /// How the kernel and the bias are drawn and penalised (Keras's `kernel_initializer`'s seed,
    /// `bias_initializer`, `kernel_regularizer`, `bias_regularizer`).
    public let kernelSeed: UInt64?, biasInitializer: Initializer, biasSeed: UInt64?
    public let kernelRegularizer: Regularizer?, biasRegularizer: Regularizer?
    public let activityRegularizer: Regularizer?
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [ParameterSpec] = []
    private(set) var inputs = 0   // IN
    private(set) var rowsPerSample = 1

    public init(units: Int, activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, kernelSeed: UInt64? = nil,
                biasInitializer: Initializer = .zeros, biasSeed: UInt64? = nil,
                kernelRegularizer: Regularizer? = nil, biasRegularizer: Regularizer? = nil,
                activityRegularizer: Regularizer? = nil, name: String = "") throws {
        guard units > 0 else { throw ConfigError(field: "units", detail: "must be > 0, got \(units)") }
        self.units = units
        self.activation = activation
        self.useBias = useBias
        self.kernelInitializer = kernelInitializer
        self.kernelSeed = kernelSeed
        self.biasInitializer = biasInitializer
        self.biasSeed = biasSeed
        self.kernelRegularizer = kernelRegularizer
        self.biasRegularizer = biasRegularizer
        self.activityRegularizer = activityRegularizer
        self.name = name
    }

    public func build(inputShape: [Int]) throws {
        guard let last = inputShape.last, last > 0 else {
            throw ConfigError(field: "", detail: "needs an input with a last dimension > 0, got \(inputShape)")
        }
        inputs = last
        rowsPerSample = inputShape.dropLast().reduce(1, *)
        outputShape = inputShape.dropLast() + [units]
        parameters = [ParameterSpec(name: "kernel", shape: [inputs, units], initializer: kernelInitializer,
                                    seed: kernelSeed, regularizer: kernelRegularizer)]
        if useBias {
            parameters.append(ParameterSpec(name: "bias", shape: [units], initializer: biasInitializer, seed: biasSeed,
                                            regularizer: biasRegularizer))
        }
    }

    public var forwardFlops: Int { 2 * rowsPerSample * inputs * units }

    /// Whether `forward` keeps the pre-activation in scratch for `backward` (gelu, silu).
    private func keepsPreActivation(_ fusion: LayerFusion) -> Bool {
        activation.needsPreActivation && !fusion.contains(.defersActivation)
    }

    public func scratchCount(batch n: Int) -> Int { scratchCount(batch: n, fusion: []) }
    public func scratchCount(batch n: Int, fusion: LayerFusion) -> Int {
        keepsPreActivation(fusion) ? n * rowsPerSample * units : 0
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        forwardProduct(x: x, y: y, n: n, params: params, columns: 0..<units)
        forwardEpilogue(y: y, n: n, params: params, scratch: scratch, fusion: context.fusion)
    }

    /// Columns `columns` of `x · kernel` into `y` (rows `units` apart; other columns untouched), so threads can
    /// share the product (`Sequential.inferenceForward`).
    func forwardProduct(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, params: UnsafePointer<Float>,
                        columns: Range<Int>) {
        let m = n * rowsPerSample, c0 = columns.lowerBound, width = columns.count
        if m == 1 {
            // One sample (serving): sgemm would first pack the whole kernel — 28 ms for the 300×300 recipe's
            // 40-million-weight layer — and sgemv streams all of it; this reads only the rows of nonzero inputs.
            sequent_dense_forward_row(x, params, inputs, units, c0, columns.upperBound, y)
        } else if let kb = Self.sliceDepth(m: m, inputs: inputs, units: units) {
            var k0 = 0
            while k0 < inputs {
                let k = min(kb, inputs - k0)
                BLAS.sgemm(m: m, n: width, k: k, a: x + k0, lda: inputs, b: params + k0 * units + c0, ldb: units,
                           beta: k0 == 0 ? 0 : 1, c: y + c0, ldc: units)
                k0 += k
            }
        } else {
            BLAS.sgemm(m: m, n: width, k: inputs, a: x, lda: inputs, b: params + c0, ldb: units, beta: 0, c: y + c0,
                       ldc: units)
        }
    }

    /// One row's product over kernel rows `inputs` only: `y = x[inputs] · kernel[inputs, :]`, all units (the
    /// caller sums the parts).
    func forwardProductRows(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, params: UnsafePointer<Float>,
                            inputs rows: Range<Int>) {
        sequent_dense_forward_row(x + rows.lowerBound, params + rows.lowerBound * units, rows.count, units, 0, units, y)
    }

    /// Bias and activation over the whole product in `y`, after `forwardProduct`.
    func forwardEpilogue(y: UnsafeMutablePointer<Float>, n: Int, params: UnsafePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>, fusion: LayerFusion) {
        let m = n * rowsPerSample
        let bias = useBias ? params + inputs * units : nil
        if keepsPreActivation(fusion) {
            Activation.linear.apply(y, bias: bias, rows: m, width: units)
            scratch.update(from: y, count: m * units)
            activation.apply(y, rows: m, width: units)
            return
        }
        // Bias and activation in one pass over the output.
        (fusion.contains(.defersActivation) ? .linear : activation).apply(y, bias: bias, rows: m, width: units)
    }

    /// For a large kernel and a few rows, the depth of the slices `forward` multiplies one at a time, or nil.
    ///
    /// One sgemm over the whole depth makes OpenBLAS pack the kernel into its blocked layout first: for the
    /// 150×150 recipe's 9.5-million-weight layer and a 16-row shard the packing took twice the multiplication's
    /// time. Slices of M·N·K ≤ 2¹⁹ fall under OpenBLAS's small-matrix limit, whose kernels read the kernel in
    /// place (accumulating with beta = 1). Measured, 16 rows: 18496 → 512 from 5.0 to 3.8 ms, 78400 → 512 from
    /// 27 to 24 ms (64-deep slices; 96, 120 and 256 were no better, 1024 no faster than one sgemm).
    static func sliceDepth(m: Int, inputs: Int, units: Int) -> Int? {
        let depth = (1 << 19) / max(1, m * units) / 16 * 16
        guard m <= 16, inputs * units >= 1 << 20, depth >= 16, inputs > depth else { return nil }
        return min(depth, 256)
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        let m = n * rowsPerSample
        backwardPrologue(y: y, dy: dy, n: n, grads: grads, scratch: scratch, fusion: context.fusion)
        if context.fusion.contains(.skipsParameterGradients) {
            if let dx {
                BLAS.sgemm(transB: true, m: m, n: inputs, k: units, a: dy, lda: units, b: params, ldb: units,
                           beta: 0, c: dx, ldc: inputs)
            }
            return
        }
        // dKernel = Xᵀ · dZ
        BLAS.sgemm(transA: true, m: inputs, n: units, k: m, a: x, lda: inputs, b: dy, ldb: units,
                   beta: 0, c: grads, ldc: units)
        // dX = dZ · Kernelᵀ
        if let dx {
            BLAS.sgemm(transB: true, m: m, n: inputs, k: units, a: dy, lda: units, b: params, ldb: units,
                       beta: 0, c: dx, ldc: inputs)
        }
    }

    /// The part of `backward` before the matrix products: the activation's gradient (in place in `dy`) and the
    /// bias gradient. The model runs the products itself for its largest Dense layer (see
    /// `Sequential.updateFusedDense`).
    /// `scratch` is this layer's, as the forward pass left it.
    func backwardPrologue(y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, n: Int,
                          grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, fusion: LayerFusion) {
        let m = n * rowsPerSample
        if !fusion.contains(.defersActivation) {
            activation.backward(x: keepsPreActivation(fusion) ? UnsafePointer(scratch) : nil, y: y, dy: dy, rows: m,
                                width: units)
        }
        if useBias && !fusion.contains(.skipsParameterGradients) {
            (grads + inputs * units).update(repeating: 0, count: units)
            Kernels.sumRows(dy, rows: m, width: units, into: grads + inputs * units)
        }
    }

    public var config: [String: JSONValue] {
        ["units": .number(Double(units)), "activation": .string(activation.rawValue), "use_bias": .bool(useBias)]
            .merging(ModelConfig.weightConfig(kernelInitializer, kernelSeed, biasInitializer, biasSeed,
                                              kernelRegularizer, biasRegularizer, activityRegularizer)) { a, _ in a }
    }

    /// Reference kernel (plain loops, no BLAS) for tests: `y = x · kernel + bias`, before activation.
    static func referenceForward(x: [Float], kernel: [Float], bias: [Float]?, m: Int, inputs: Int, units: Int) -> [Float] {
        var y = [Float](repeating: 0, count: m * units)
        for r in 0..<m {
            for j in 0..<units {
                var s: Float = bias?[j] ?? 0
                for i in 0..<inputs { s += x[r * inputs + i] * kernel[i * units + j] }
                y[r * units + j] = s
            }
        }
        return y
    }
}
