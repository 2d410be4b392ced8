import CSequentSupport

/// 2-D convolution over NHWC input with an HWIO kernel `(KH, KW, C, F)` (Keras's layout).
///
/// Implemented as im2col + one sgemm: each output pixel's receptive field becomes a row of
/// `col [OH·OW, KH·KW·C]`, so `Y [OH·OW, F] = col · kernel` lands directly in NHWC. Samples are processed in
/// chunks that keep `col` within a fixed budget, so large images do not need gigabytes of scratch.
public final class Conv2D: Layer, @unchecked Sendable {
    public let typeName = "Conv2D"
    public var name: String
    public let filters: Int
    public let kernelSize: [Int]
    public let strides: [Int]
    public let padding: Padding
    public let activation: Activation
    public let useBias: Bool
    public let kernelInitializer: Initializer
    /// See `Dense`'s properties of the same names.
    public let kernelSeed: UInt64?, biasInitializer: Initializer, biasSeed: UInt64?
    public let kernelRegularizer: Regularizer?, biasRegularizer: Regularizer?
    public let activityRegularizer: Regularizer?
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [ParameterSpec] = []
    private(set) var g = WindowGeometry()

    /// Which passes run on the direct kernels of conv_kernels.c instead of im2col + sgemm (set by `build`).
    private(set) var directForward = false, directFilter = false, directInput = false
    /// Whether the forward pass and the input gradient use Winograd F(4×4, 3×3) (winograd.c; set by `build`).
    public private(set) var winograd = false
    /// Winograd's output tile (2 or 4) for every batch size, instead of the measured choice (tests).
    var forcedWinogradTile: Int?
    /// How the passes are computed; tests and benchmarks force one or the other. Set it before the layer is built.
    public enum KernelChoice: Sendable {
        /// Direct kernels where supported and measured faster, im2col + sgemm elsewhere.
        case automatic
        /// im2col + sgemm for every pass.
        case im2col
        /// Direct kernels wherever the shape allows, never Winograd.
        case direct
        /// Winograd for the forward pass and input gradient wherever the shape allows (any batch size), direct
        /// kernels for the rest.
        case winograd
    }

    /// See `KernelChoice`.
    public var kernels = KernelChoice.automatic

    /// Upper bound on im2col floats per chunk (16 MiB): big enough for a whole Fashion-MNIST batch, so its
    /// GEMMs are large, small enough that 300×300 images do not blow up memory.
    var colBudget = 4 << 20
    /// Upper bound on the floats of convolution-output gradient the pooled Winograd backward pass unpools at once.
    var winogradChunkBudget = 1 << 18

    public init(filters: Int, kernelSize: [Int], strides: [Int] = [1, 1], padding: Padding = .valid,
                activation: Activation = .linear, useBias: Bool = true,
                kernelInitializer: Initializer = .glorotUniform, kernelSeed: UInt64? = nil,
                biasInitializer: Initializer = .zeros, biasSeed: UInt64? = nil,
                kernelRegularizer: Regularizer? = nil, biasRegularizer: Regularizer? = nil,
                activityRegularizer: Regularizer? = nil, name: String = "") throws {
        guard filters > 0 else { throw ConfigError(field: "filters", detail: "must be > 0, got \(filters)") }
        try WindowGeometry.validatePositive(kernelSize, field: "kernel_size")
        try WindowGeometry.validatePositive(strides, field: "strides")
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
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

    private var patch: Int { g.kh * g.kw * g.c }          // K of the GEMM
    private var pixels: Int { g.oh * g.ow }               // output pixels per sample
    /// Samples per im2col chunk.
    var chunk: Int { max(1, colBudget / max(1, pixels * patch)) }

    public func build(inputShape: [Int]) throws {
        g = try WindowGeometry(input: inputShape, window: kernelSize, strides: strides, padding: padding,
                               what: "kernel_size")
        outputShape = [g.oh, g.ow, filters]
        parameters = [ParameterSpec(name: "kernel", shape: [g.kh, g.kw, g.c, filters], initializer: kernelInitializer,
                                    seed: kernelSeed, regularizer: kernelRegularizer)]
        if useBias {
            parameters.append(ParameterSpec(name: "bias", shape: [filters], initializer: biasInitializer, seed: biasSeed,
                                            regularizer: biasRegularizer))
        }
        chooseKernels()
    }

    /// The direct kernels handle valid, stride-1 windows with 16·k filters (forward, kernel gradient) or
    /// 16·k input channels (input gradient).
    private func chooseKernels() {
        let plain = g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0
            && g.oh == g.h - g.kh + 1 && g.ow == g.w - g.kw + 1
            && kernels != .im2col && sequent_conv2d_direct_available() != 0
        directForward = plain && filters % 16 == 0
        directFilter = plain && filters % 16 == 0
        // The direct input gradient computes every input pixel from a zero-padded gradient, so on small images
        // it does up to 40 % more work than im2col's output pixels (Fashion-MNIST's 13×13 → 11×11: measured
        // 1.7 ms against 1.3 ms); it wins when the border is a small part of the image.
        directInput = plain && g.c % 16 == 0 && (kernels == .direct || 4 * g.h * g.w <= 5 * g.oh * g.ow)
        chooseWinograd(plain: plain)
    }

    private var needsColumns: Bool { !(directForward && directFilter && (directInput || winograd)) }

    public var forwardFlops: Int { 2 * pixels * patch * filters }

    /// col for `min(n, chunk)` samples, then the same again for its gradient; the direct input gradient's
    /// padded image; two rows of output for `forwardPooled`.
    /// …then, for gelu/silu, the pre-activation output that `backward` needs.
    public func scratchCount(batch n: Int) -> Int { scratchCount(batch: n, fusion: []) }
    public func scratchCount(batch n: Int, fusion: LayerFusion) -> Int {
        preActivationOffset(batch: n, fusion) + (keepsPreActivation(fusion) ? n * pixels * filters : 0)
    }

    /// Whether `forward` keeps the pre-activation in scratch for `backward` (gelu, silu).
    private func keepsPreActivation(_ fusion: LayerFusion) -> Bool {
        activation.needsPreActivation && !fusion.contains(.defersActivation)
    }

    private func preActivationOffset(batch n: Int, _ fusion: LayerFusion) -> Int {
        winogradOffset(batch: n, fusion) + winogradScratch(batch: n, fusion)
    }

    /// Where the Winograd kernels' scratch starts: after the columns, the direct input gradient's and the
    /// pooled forward's.
    private func winogradOffset(batch n: Int, _ fusion: LayerFusion) -> Int {
        let pooled = fusion.contains(.computesNextPool)
        return columnScratch(batch: n) + inputScratch(fusion)
            + (pooled ? sequent_conv2d_forward_maxpool2_scratch(g.w, g.kw, filters) : 0)
    }

    private func inputScratch(_ fusion: LayerFusion) -> Int {
        directInput || fusion.contains(.computesNextPool)
            ? sequent_conv2d_backward_input_scratch(g.h, g.w, g.c, g.kh, g.kw, filters) : 0
    }

    /// Whether `forwardPooled` can compute this layer together with `pool`, which follows it, when the plan
    /// leaves this layer's activation to it (`fusion`).
    func canFuse(_ pool: MaxPooling2D, fusion: LayerFusion = []) -> Bool {
        directForward && activation == .relu && !fusion.contains(.defersActivation) && pool.isTwoByTwo
            && g.oh >= 2 && g.ow >= 2
    }

    /// This layer's forward pass followed by `pool`'s (see `canFuse`), without writing this layer's output:
    /// `y` and `argmax` receive what `pool.forward` would write. The convolution's output is the largest
    /// activation of an image network (5.7 MB per 300×300 image for 16 filters), so not storing it and reading
    /// it back saves more than the pooling itself costs. Returns false, doing nothing, when the kernels are
    /// unavailable.
    func forwardPooled(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>,
                       n: Int, params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Bool {
        let rows = scratch + columnScratch(batch: n) + inputScratch(.computesNextPool)
        return argmax.withMemoryRebound(to: UInt8.self, capacity: n * (g.oh / 2) * (g.ow / 2) * filters) { arg in
            if usesWinograd(n) {
                return winogradForward(x: x, y: y, arg: arg, n: n, params: params, relu: true,
                                       scratch: scratch + winogradOffset(batch: n, .computesNextPool))
            }
            return sequent_conv2d_forward_maxpool2(x, params, useBias ? params + patch * filters : nil, y, arg, rows, n,
                                                   g.h, g.w, g.c, g.kh, g.kw, filters, 1) != 0
        }
    }

    private func columnScratch(batch n: Int) -> Int { needsColumns ? 2 * min(n, chunk) * pixels * patch : 0 }

    /// Fills `col` for `count` samples starting at `x` (zeros where the window hangs over the padding).
    func im2col(_ x: UnsafePointer<Float>, count: Int, col: UnsafeMutablePointer<Float>) {
        let (h, w, c) = (g.h, g.w, g.c)
        var row = col
        for s in 0..<count {
            let img = x + s * h * w * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    var dst = row
                    for ky in 0..<g.kh {
                        let iy = oy * g.sh + ky - g.padTop
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: g.kw * c)
                            dst += g.kw * c
                            continue
                        }
                        let ix0 = ox * g.sw - g.padLeft
                        if ix0 >= 0 && ix0 + g.kw <= w {
                            // The whole kernel row is inside the image: one contiguous run of KW·C floats. Short
                            // runs (a first layer's 3 gray pixels) are copied inline: a memcpy call per 12 bytes
                            // cost more than the whole first-layer GEMM.
                            let run = g.kw * c, src = img + (iy * w + ix0) * c
                            if run <= 16 {
                                for k in 0..<run { dst[k] = src[k] }
                            } else {
                                dst.update(from: src, count: run)
                            }
                            dst += run
                        } else {
                            for kx in 0..<g.kw {
                                let ix = ix0 + kx
                                if ix < 0 || ix >= w { dst.update(repeating: 0, count: c) }
                                else { dst.update(from: img + (iy * w + ix) * c, count: c) }
                                dst += c
                            }
                        }
                    }
                    row += patch
                }
            }
        }
    }

    /// Adds `dcol` back into the image gradient `dx` (the adjoint of `im2col`).
    func col2im(_ dcol: UnsafePointer<Float>, count: Int, dx: UnsafeMutablePointer<Float>) {
        let (h, w, c) = (g.h, g.w, g.c)
        var row = dcol
        for s in 0..<count {
            let img = dx + s * h * w * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    var src = row
                    for ky in 0..<g.kh {
                        let iy = oy * g.sh + ky - g.padTop
                        for kx in 0..<g.kw {
                            let ix = ox * g.sw + kx - g.padLeft
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                let d = img + (iy * w + ix) * c
                                for ch in 0..<c { d[ch] += src[ch] }
                            }
                            src += c
                        }
                    }
                    row += patch
                }
            }
        }
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let inCount = g.h * g.w * g.c, outCount = pixels * filters
        let fusion = context.fusion
        let act = fusion.contains(.defersActivation) ? Activation.linear : activation
        let winogradDone = usesWinograd(n)
            && winogradForward(x: x, y: y, arg: nil, n: n, params: params, relu: act == .relu,
                               scratch: scratch + winogradOffset(batch: n, fusion))
        if winogradDone || directForward && sequent_conv2d_forward(x, params, useBias ? params + patch * filters : nil,
                                                                  y, n, g.h, g.w, g.c, g.kh, g.kw, filters,
                                                                  act == .relu ? 1 : 0) != 0 {
            if keepsPreActivation(fusion) {
                (scratch + preActivationOffset(batch: n, fusion)).update(from: y, count: n * outCount)
            }
            if act != .relu && act != .linear { act.apply(y, bias: nil, rows: n * pixels, width: filters) }
            return
        }
        var s0 = 0
        while s0 < n {
            let count = min(chunk, n - s0)
            let m = count * pixels
            let yc = y + s0 * outCount
            // 1×1 stride-1 convolutions need no im2col: the input already is the matrix.
            let a: UnsafePointer<Float>
            if patch == g.c && g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0 {
                a = UnsafePointer(x + s0 * inCount)
            } else {
                im2col(x + s0 * inCount, count: count, col: scratch)
                a = UnsafePointer(scratch)
            }
            BLAS.sgemm(m: m, n: filters, k: patch, a: a, lda: patch, b: params, ldb: filters,
                       beta: 0, c: yc, ldc: filters)
            // Bias and activation while the chunk's output is still in cache.
            if keepsPreActivation(fusion) {
                Activation.linear.apply(yc, bias: useBias ? params + patch * filters : nil, rows: m, width: filters)
                (scratch + preActivationOffset(batch: n, fusion) + s0 * outCount).update(from: yc, count: m * filters)
                act.apply(yc, rows: m, width: filters)
            } else {
                act.apply(yc, bias: useBias ? params + patch * filters : nil, rows: m, width: filters)
            }
            s0 += count
        }
    }

    /// The backward pass of the pool after this layer (see `canFuse`) and of this layer, in one: `dy`, `poolY`
    /// and `argmax` are the pool's output gradient, output and scratch. Returns false, doing nothing, when the
    /// kernels cannot (the caller then runs both backward passes).
    func backwardPooled(x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, poolY: UnsafeMutablePointer<Float>,
                        argmax: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, n: Int,
                        params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                        scratch: UnsafeMutablePointer<Float>) -> Bool {
        guard directFilter && (dx == nil || directInput || winograd) else { return false }
        grads.update(repeating: 0, count: parameterCount)
        let pooledPixels = (g.oh / 2) * (g.ow / 2) * filters
        return argmax.withMemoryRebound(to: UInt8.self, capacity: n * pooledPixels) { arg in
            let winogradFilter = usesWinogradFilter(n), winogradInput = dx != nil && winograd
            if !winogradFilter {
                guard sequent_conv2d_backward_maxpool2(x, params, dy, poolY, arg, grads,
                                                       useBias ? grads + patch * filters : nil,
                                                       winogradInput ? nil : dx, scratch + columnScratch(batch: n), n,
                                                       g.h, g.w, g.c, g.kh, g.kw, filters) != 0 else { return false }
            }
            guard winogradFilter || winogradInput else { return true }
            // Winograd wants the convolution-output gradient itself: unpooled a few samples at a time, so the
            // scratch is bounded by `winogradChunkBudget` (the whole batch's was 43 MB per worker for 300×300).
            let ws = scratch + winogradOffset(batch: n, .computesNextPool)
            let dz = ws + sequent_winograd_scratch(4, g.c, filters)
            let step = winogradChunk(n), inCount = g.h * g.w * g.c
            var s0 = 0
            while s0 < n {
                let count = min(step, n - s0), at = s0 * pooledPixels
                sequent_maxpool2_backward(dy + at, poolY + at, arg + at, dz, count, g.oh, g.ow, filters, 1)
                if winogradFilter && !winogradKernelGradient(x: x + s0 * inCount, dy: dz, n: count, grads: grads,
                                                             scratch: ws) {
                    return false
                }
                if winogradInput, let dx, !winogradInputGradient(dy: dz, dx: dx + s0 * inCount, n: count,
                                                                 params: params, scratch: ws) {
                    return false
                }
                s0 += count
            }
            return true
        }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        let fusion = context.fusion
        if fusion.isDisjoint(with: [.defersActivation, .reluGradientLeftToNext]) {
            let pre = keepsPreActivation(fusion) ? UnsafePointer(scratch + preActivationOffset(batch: n, fusion)) : nil
            activation.backward(x: pre, y: y, dy: dy, rows: n * pixels, width: filters)
        }
        let inCount = g.h * g.w * g.c, outCount = pixels * filters
        let bias = useBias ? grads + patch * filters : nil
        // Both paths accumulate (over bands of rows, over chunks of samples); the kernel is small.
        grads.update(repeating: 0, count: parameterCount)
        let filterDone = usesWinogradFilter(n)
            ? winogradKernelGradient(x: x, dy: dy, n: n, grads: grads, scratch: scratch + winogradOffset(batch: n, fusion))
            : directFilter && sequent_conv2d_backward_filter(x, dy, grads, bias, n, g.h, g.w, g.c, g.kh, g.kw,
                                                            filters) != 0
        var inputDone = dx == nil
        if let dx, winograd {
            inputDone = winogradInputGradient(dy: dy, dx: dx, n: n, params: params,
                                              scratch: scratch + winogradOffset(batch: n, fusion))
        } else if let dx, directInput {
            inputDone = sequent_conv2d_backward_input(dy, params, scratch + columnScratch(batch: n), dx, n, g.h, g.w,
                                                      g.c, g.kh, g.kw, filters) != 0
        }
        if filterDone && inputDone { return }
        if !filterDone, let bias { Kernels.sumRows(dy, rows: n * pixels, width: filters, into: bias) }
        let oneByOne = patch == g.c && g.sh == 1 && g.sw == 1 && g.padTop == 0 && g.padLeft == 0
        let dcol = scratch + min(n, chunk) * pixels * patch
        if let dx, !inputDone { dx.update(repeating: 0, count: n * inCount) }
        // The forward pass left this chunk's columns in scratch only when it used them for a single chunk.
        let haveColumns = !directForward && !winograd && n <= chunk
        var s0 = 0
        while s0 < n {
            let count = min(chunk, n - s0)
            let m = count * pixels
            let dyc = dy + s0 * outCount
            let a: UnsafePointer<Float>
            if oneByOne {
                a = UnsafePointer(x + s0 * inCount)
            } else {
                if !haveColumns && !filterDone { im2col(x + s0 * inCount, count: count, col: scratch) }
                a = UnsafePointer(scratch)
            }
            // dKernel += colᵀ · dZ
            if !filterDone {
                BLAS.sgemm(transA: true, m: patch, n: filters, k: m, a: a, lda: patch, b: dyc, ldb: filters,
                           beta: 1, c: grads, ldc: filters)
            }
            if let dx, !inputDone {
                if oneByOne {
                    BLAS.sgemm(transB: true, m: m, n: patch, k: filters, a: dyc, lda: filters, b: params,
                               ldb: filters, beta: 0, c: dx + s0 * inCount, ldc: patch)
                } else {
                    // dcol = dZ · Kernelᵀ, then scatter-add into dx.
                    BLAS.sgemm(transB: true, m: m, n: patch, k: filters, a: dyc, lda: filters, b: params,
                               ldb: filters, beta: 0, c: dcol, ldc: patch)
                    col2im(dcol, count: count, dx: dx + s0 * inCount)
                }
            }
            s0 += count
        }
    }

    public var config: [String: JSONValue] {
        ["filters": .number(Double(filters)), "kernel_size": .ints(kernelSize), "strides": .ints(strides),
         "padding": .string(padding.rawValue), "activation": .string(activation.rawValue),
         "use_bias": .bool(useBias)]
            .merging(ModelConfig.weightConfig(kernelInitializer, kernelSeed, biasInitializer, biasSeed,
                                              kernelRegularizer, biasRegularizer, activityRegularizer)) { a, _ in a }
    }

    /// Reference kernel for tests: the convolution as six plain loops straight from its definition.
    func referenceForward(x: [Float], kernel: [Float], bias: [Float]?, n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * pixels * filters)
        for s in 0..<n {
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    for f in 0..<filters {
                        var acc: Float = bias?[f] ?? 0
                        for ky in 0..<g.kh {
                            for kx in 0..<g.kw {
                                let iy = oy * g.sh + ky - g.padTop, ix = ox * g.sw + kx - g.padLeft
                                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                                for ch in 0..<g.c {
                                    acc += x[((s * g.h + iy) * g.w + ix) * g.c + ch]
                                        * kernel[((ky * g.kw + kx) * g.c + ch) * filters + f]
                                }
                            }
                        }
                        y[((s * g.oh + oy) * g.ow + ox) * filters + f] = acc
                    }
                }
            }
        }
        return y
    }
}

// MARK: - Winograd (winograd.c)

extension Conv2D {
    /// Winograd for 3×3 stride-1 valid windows over 16·k channels to 16·k filters. Release build, best of 30, ms,
    /// AVX-512 (Zen 4) / forced AVX2 on the same machine, direct → F(2×2, 3×3) → F(4×4, 3×3):
    ///   13×13×64 → 64 + ReLU + 2×2 pool (Fashion-MNIST's second layer), batch 16:
    ///     forward 1.07 → 0.62 → 0.61 / 2.74 → 1.21 → 1.10; input gradient 2.13 → 1.27 → 1.06 / 4.55 → 2.45 → 2.13
    ///   34×34×32 → 64 + pool, batch 16: forward 5.8 → 3.4 → 2.2 / 12.8 → 5.8 → 4.2
    ///   72×72×16 → 32 + pool, batch 16: forward 6.7 → 4.8 → 3.7 / 14.9 → 7.5 → 5.4
    ///   13×13×64 → 64 + pool, batch 1: forward 0.064 → 0.080 → 0.094 / 0.17 → 0.11 → 0.14
    /// (callgrind, AVX2 build, instructions: 13×13×64 batch 16 forward 25.7 M → 8.5 M → 7.5 M, input gradient
    /// 46.0 M → 16.9 M → 13.4 M.) So F(4×4) for large batches, F(2×2) for few tiles, and on AVX-512 the direct
    /// kernel for a single small image (the kernel transform and a mostly empty block of tiles cost more than
    /// the multiplies saved).
    func chooseWinograd(plain: Bool) {
        winograd = plain && g.kh == 3 && g.kw == 3 && g.c % 16 == 0 && filters % 16 == 0
            && (kernels == .automatic || kernels == .winograd) && sequent_winograd_available() != 0
    }

    /// Whether a forward pass over `n` samples uses Winograd (see `chooseWinograd`).
    func usesWinograd(_ n: Int) -> Bool {
        winograd && (kernels == .winograd || sequent_kernel_level() == 1 || n * g.oh * g.ow >= 256)
    }

    /// The output tile, 2 or 4, for `n` samples (see `chooseWinograd`); tests set `forcedWinogradTile`.
    func winogradTile(_ n: Int) -> Int { forcedWinogradTile ?? (n * g.oh * g.ow >= 512 ? 4 : 2) }

    /// Winograd's scratch (`winogradOffset` into the layer's): the transformed kernel (or kernel-gradient
    /// accumulators) and blocks, the larger tile's; for the pooled backward pass, one chunk's convolution-output
    /// gradient.
    func winogradScratch(batch n: Int, _ fusion: LayerFusion) -> Int {
        guard winograd else { return 0 }
        return sequent_winograd_scratch(4, g.c, filters)
            + (fusion.contains(.computesNextPool) ? winogradChunk(n) * g.oh * g.ow * filters : 0)
    }

    /// Samples per chunk of the pooled backward pass: as many convolution-output gradients as fit in
    /// `winogradChunkBudget` floats, at least one.
    func winogradChunk(_ n: Int) -> Int { max(1, min(n, winogradChunkBudget / max(1, g.oh * g.ow * filters))) }

    /// Whether the kernel gradient over `n` samples uses Winograd. Release build, best of 30, ms, kernel gradient
    /// alone, AVX-512 / forced AVX2, direct → F(2×2) → F(4×4) (noisy: a shared machine):
    ///   13×13×64 → 64, batch 16: 1.29 → 0.92 → 0.77 / 2.72 → 1.42 → 0.95; batch 2: 0.16 → 0.12 → 0.14 /
    ///     0.39 → 0.21 → 0.16; batch 1: 0.082 → 0.079 → 0.104 / 0.19 → 0.14 → 0.13
    ///   7×7×64 → 64 (25 outputs a sample), batch 16: 0.27 → 0.24 → 0.30 / 0.54 → 0.51 → 0.45; batch 1: 0.019 →
    ///     0.039 → 0.082 / 0.041 → 0.046 → 0.097
    ///   36×36×32 → 64, batch 16: 8.9 → 4.7 → 4.2 / 20.9 → 6.5 → 4.3; 74×74×16 → 32: 11.9 → 11.7 → 5.3 / 16.5 →
    ///     8.6 → 6.4
    /// The fixed cost (zeroing and inverse-transforming α²·C·F accumulators) loses on few outputs, so: Winograd
    /// from 192 outputs per call, F(4×4) from 512 (as `winogradTile`).
    func usesWinogradFilter(_ n: Int) -> Bool { winograd && (kernels == .winograd || n * g.oh * g.ow >= 192) }

    /// `grads` (kernel, then bias) += the kernel gradient from the convolution-output gradient `dy`.
    func winogradKernelGradient(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int,
                                grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Bool {
        sequent_winograd_backward_filter(x, dy, grads, useBias ? grads + 9 * g.c * filters : nil, scratch, n, g.h, g.w,
                                         g.c, filters, winogradTile(n)) != 0
    }

    /// The forward pass, with `arg` 2×2 max-pooled (see `forwardPooled`).
    func winogradForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, arg: UnsafeMutablePointer<UInt8>?,
                         n: Int, params: UnsafePointer<Float>, relu: Bool, scratch: UnsafeMutablePointer<Float>) -> Bool {
        let bias = useBias ? params + 9 * g.c * filters : nil
        return sequent_winograd_forward(x, params, bias, y, arg, scratch, n, g.h, g.w, g.c, filters, 0, winogradTile(n),
                                        relu ? 1 : 0, arg == nil ? 0 : 1, 0) != 0
    }

    /// `dx` (overwritten) from the convolution-output gradient `dy`: the same 3×3 machinery over `dy` padded by 2.
    func winogradInputGradient(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, n: Int,
                               params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) -> Bool {
        sequent_winograd_forward(dy, params, nil, dx, nil, scratch, n, g.oh, g.ow, g.c, filters, 2, winogradTile(n), 0,
                                 0, 1) != 0
    }
}
