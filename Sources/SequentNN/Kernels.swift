/// Small explicitly vectorised loops for the memory-bound element-wise work around the GEMMs.
///
/// The compiler does not vectorise the plain-loop versions of these (it cannot rule out aliasing between the
/// pointers, and the selects become branches), and at Fashion-MNIST sizes they otherwise cost as much as the
/// convolutions. Each processes 16 lanes at a time with a scalar tail.
enum Kernels {
    typealias V = SIMD16<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// `dy[i] = y[i] > 0 ? dy[i] : 0`
    static func reluBackward(y: UnsafePointer<Float>, dy: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            var d = load(dy + i)
            d.replace(with: 0, where: load(y + i) .<= 0)
            store(d, dy + i)
            i += 16
        }
        while i < count { if y[i] <= 0 { dy[i] = 0 }; i += 1 }
    }

    /// `y[r, j] = max(y[r, j] + bias[j], 0)`
    static func biasRelu(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = y + r * width
            var j = 0
            while j + 16 <= width {
                // (pointwiseMax compiles to a slow generic loop; the masked replace is a single vector select.)
                var v = load(row + j) + load(bias + j)
                v.replace(with: 0, where: v .< 0)
                store(v, row + j)
                j += 16
            }
            while j < width { row[j] = max(row[j] + bias[j], 0); j += 1 }
        }
    }

    /// `y[i] = max(y[i], 0)`
    static func relu(_ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            var v = load(y + i)
            v.replace(with: 0, where: v .< 0)
            store(v, y + i)
            i += 16
        }
        while i < count { y[i] = max(y[i], 0); i += 1 }
    }

    /// `y[r, j] += bias[j]`
    static func addBias(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = y + r * width
            var j = 0
            while j + 16 <= width { store(load(row + j) + load(bias + j), row + j); j += 16 }
            while j < width { row[j] += bias[j]; j += 1 }
        }
    }

    /// `acc[j] += Σ_r rows[r, j]` (bias gradients).
    static func sumRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, into acc: UnsafeMutablePointer<Float>) {
        var j = 0
        while j + 16 <= width {
            var s = V(repeating: 0)
            for r in 0..<rows { s += load(x + r * width + j) }
            store(load(acc + j) + s, acc + j)
            j += 16
        }
        while j < width {
            var s: Float = 0
            for r in 0..<rows { s += x[r * width + j] }
            acc[j] += s
            j += 1
        }
    }
}
