import CSequentSupport

/// Max pooling over NHWC windows.
///
/// The forward pass records, per output value, where in its window the first maximum was; the backward pass
/// routes the gradient there. Keras's default — 2×2 windows, stride 2, valid padding — runs on the vector
/// kernels of conv_kernels.c, which record the position as one byte (0–3) and write the whole input gradient
/// in one pass; other windows record the input offset (branch-free compare-and-select across channels, which
/// vectorises) and scatter to it. The positions live in this thread's scratch.
public final class MaxPooling2D: Layer, @unchecked Sendable {
    public let typeName = "MaxPooling2D"
    public var name: String
    public let poolSize: [Int]
    public let strides: [Int]
    public let padding: Padding
    public private(set) var outputShape: [Int] = []
    private var g = WindowGeometry()

    /// `strides` defaults to `poolSize`, as in Keras.
    public init(poolSize: [Int] = [2, 2], strides: [Int]? = nil, padding: Padding = .valid, name: String = "") throws {
        try WindowGeometry.validatePositive(poolSize, field: "pool_size")
        if let strides { try WindowGeometry.validatePositive(strides, field: "strides") }
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        self.name = name
    }

    public func build(inputShape: [Int]) throws {
        g = try WindowGeometry(input: inputShape, window: poolSize, strides: strides, padding: padding,
                               what: "pool_size")
        outputShape = [g.oh, g.ow, g.c]
    }

    /// Tests turn this off to compare the byte-position kernels with the general path.
    var usesTwoByTwoKernels = true

    /// 2×2 windows, stride 2, no padding: the case the byte-position kernels handle.
    var isTwoByTwo: Bool {
        usesTwoByTwoKernels && poolSize == [2, 2] && strides == [2, 2] && g.padTop == 0 && g.padLeft == 0 && g.oh == g.h / 2 && g.ow == g.w / 2
    }

    /// One Int32 input offset per output value (same size as a Float), or one byte for 2×2 windows.
    public func scratchCount(batch n: Int) -> Int { isTwoByTwo ? (n * outputCount + 3) / 4 : n * outputCount }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        if isTwoByTwo {
            scratch.withMemoryRebound(to: UInt8.self, capacity: n * outputCount) { arg in
                sequent_maxpool2_forward(x, y, arg, n, g.h, g.w, g.c)
            }
            return
        }
        scratch.withMemoryRebound(to: Int32.self, capacity: n * outputCount) { argmax in
            pool(x: x, y: y, argmax: argmax, n: n)
        }
    }

    private func pool(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>,
                      argmax: UnsafeMutablePointer<Int32>, n: Int) {
        let c = g.c, inCount = g.h * g.w * c
        let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        var out = y, idx = argmax
        for s in 0..<n {
            let base = s * inCount
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let y0 = max(oy * g.sh - g.padTop, 0), y1 = min(oy * g.sh - g.padTop + g.kh, g.h)
                    let x0 = max(ox * g.sw - g.padLeft, 0), x1 = min(ox * g.sw - g.padLeft + g.kw, g.w)
                    // Start from the window's first position, then keep the first strictly greater value.
                    let first = base + (y0 * g.w + x0) * c
                    var ch = 0
                    while ch + 16 <= c {
                        var m = Kernels.load(x + first + ch)
                        var id = SIMD16<Int32>(repeating: Int32(first + ch)) &+ lanes
                        for iy in y0..<y1 {
                            for ix in x0..<x1 where iy != y0 || ix != x0 {
                                let off = base + (iy * g.w + ix) * c + ch
                                let v = Kernels.load(x + off)
                                let better = v .> m
                                m.replace(with: v, where: better)
                                id.replace(with: SIMD16<Int32>(repeating: Int32(off)) &+ lanes, where: better)
                            }
                        }
                        Kernels.store(m, out + ch)
                        UnsafeMutableRawPointer(idx + ch).storeBytes(of: id, as: SIMD16<Int32>.self)
                        ch += 16
                    }
                    while ch < c {
                        var m = x[first + ch], id = Int32(first + ch)
                        for iy in y0..<y1 {
                            for ix in x0..<x1 {
                                let off = base + (iy * g.w + ix) * c + ch
                                if x[off] > m { m = x[off]; id = Int32(off) }
                            }
                        }
                        out[ch] = m
                        idx[ch] = id
                        ch += 1
                    }
                    out += c
                    idx += c
                }
            }
        }
    }

    /// Windows tile the input exactly (no overlap, no padding, nothing left over): every input value belongs
    /// to one window, so the backward pass can write `dx` directly instead of zeroing and scattering.
    private var tiles: Bool {
        g.sh == g.kh && g.sw == g.kw && g.padTop == 0 && g.padLeft == 0 && g.oh * g.kh == g.h && g.ow * g.kw == g.w
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        // With `appliesPreviousReLUGradient` a window's gradient passes only when its maximum, the previous ReLU's
        // output there, is positive.
        let appliesReLUGradient = context.fusion.contains(.appliesPreviousReLUGradient)
        if isTwoByTwo {
            scratch.withMemoryRebound(to: UInt8.self, capacity: n * outputCount) { arg in
                sequent_maxpool2_backward(dy, y, arg, dx, n, g.h, g.w, g.c, appliesReLUGradient ? 1 : 0)
            }
            return
        }
        let total = n * outputCount, c = g.c
        scratch.withMemoryRebound(to: Int32.self, capacity: total) { argmax in
            guard tiles, c % 16 == 0 else {
                dx.update(repeating: 0, count: n * g.h * g.w * c)
                if appliesReLUGradient {
                    for o in 0..<total where y[o] > 0 { dx[Int(argmax[o])] += dy[o] }
                } else {
                    for o in 0..<total { dx[Int(argmax[o])] += dy[o] }
                }
                return
            }
            let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let zero = SIMD16<Float>(repeating: 0)
            for s in 0..<n {
                let base = s * g.h * g.w * c
                for oy in 0..<g.oh {
                    for ox in 0..<g.ow {
                        let o = ((s * g.oh + oy) * g.ow + ox) * c
                        for ch in stride(from: 0, to: c, by: 16) {
                            var grad = Kernels.load(dy + o + ch)
                            if appliesReLUGradient { grad.replace(with: 0, where: Kernels.load(y + o + ch) .<= 0) }
                            let id = UnsafeRawPointer(argmax + o + ch).loadUnaligned(as: SIMD16<Int32>.self)
                            for iy in (oy * g.kh)..<((oy + 1) * g.kh) {
                                for ix in (ox * g.kw)..<((ox + 1) * g.kw) {
                                    let off = base + (iy * g.w + ix) * c + ch
                                    let here = SIMD16<Int32>(repeating: Int32(off)) &+ lanes
                                    Kernels.store(zero.replacing(with: grad, where: id .== here), dx + off)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    public var config: [String: JSONValue] {
        ["pool_size": .ints(poolSize), "strides": .ints(strides), "padding": .string(padding.rawValue)]
    }
}
