/// Resampling one HWC image through an affine map, as Keras 3's `ops.image.affine_transform` does on the JAX
/// backend (`jax.scipy.ndimage.map_coordinates`): every output pixel reads the input at a mapped point, with
/// bilinear or nearest interpolation, and each interpolation corner outside the image is folded back in by the
/// fill mode (or, for `constant`, replaced by the fill value) on its own. The random augmentation layers and
/// SequentData's `Augmentation` both sample through here.

/// What to read outside the image: `reflect` mirrors about the edge (abcd|dcba), `wrap` tiles (abcd|abcd),
/// `constant` uses the fill value, `nearest` repeats the edge pixel (abcd|dddd).
public enum FillMode: String, Sendable, CaseIterable {
    case reflect, wrap, constant, nearest
}

/// How a point between pixels is read: `bilinear` weighs the four neighbours, `nearest` takes the closest pixel
/// (a half rounds away from zero, as `lax.round`).
public enum Interpolation: String, Sendable, CaseIterable {
    case bilinear, nearest
}

/// Where output pixel (x, y) — column, row — reads the input: (a0·x + a1·y + a2, b0·x + b1·y + b2). Keras's
/// 8-number transform without its projective terms.
public struct AffineMap: Sendable, Equatable {
    public var a0: Float, a1: Float, a2: Float
    public var b0: Float, b1: Float, b2: Float

    public init(a0: Float, a1: Float, a2: Float, b0: Float, b1: Float, b2: Float) {
        (self.a0, self.a1, self.a2, self.b0, self.b1, self.b2) = (a0, a1, a2, b0, b1, b2)
    }

    public static let identity = AffineMap(a0: 1, a1: 0, a2: 0, b0: 0, b1: 1, b2: 0)

    /// The same map, after mirroring the output columns of an image `width` wide (output x reads as w − 1 − x).
    public func mirroredColumns(width w: Int) -> AffineMap {
        let e = Float(w - 1)
        return AffineMap(a0: -a0, a1: a1, a2: a2 + a0 * e, b0: -b0, b1: b1, b2: b2 + b0 * e)
    }
}

/// Samples images through affine maps with one fill mode and interpolation.
public struct ImageSampler: Sendable, Equatable {
    public var fillMode: FillMode
    /// The value `constant` fill reads outside the image.
    public var fillValue: Float
    public var interpolation: Interpolation

    public init(fillMode: FillMode, fillValue: Float = 0, interpolation: Interpolation = .bilinear) {
        self.fillMode = fillMode
        self.fillValue = fillValue
        self.interpolation = interpolation
    }

    /// Maps an index outside 0..<n into range for the fill mode; nil means "read the fill value".
    @inline(__always)
    static func fold(_ i: Int, _ n: Int, _ mode: FillMode) -> Int? {
        if i >= 0 && i < n { return i }
        switch mode {
        case .constant: return nil
        case .nearest: return min(max(i, 0), n - 1)
        case .wrap: return ((i % n) + n) % n
        case .reflect:
            // Period 2n, the second half mirrored.
            let m = ((i % (2 * n)) + 2 * n) % (2 * n)
            return m < n ? m : 2 * n - 1 - m
        }
    }

    /// The up-to-four (pixel offset, weight) pairs output pixel (ox, oy) reads; offsets are pixel indices
    /// (y·w + x), -1 for a corner that reads the fill value. Returns how many pairs are set.
    @inline(__always)
    private func taps(_ m: AffineMap, _ ox: Int, _ oy: Int, _ h: Int, _ w: Int,
                      _ index: inout (Int, Int, Int, Int), _ weight: inout (Float, Float, Float, Float)) -> Int {
        let fx = Float(ox), fy = Float(oy)
        // The order of Keras's einsum: the row term, the column term, then the offset.
        let sx = (m.a1 * fy + m.a0 * fx) + m.a2
        let sy = (m.b1 * fy + m.b0 * fx) + m.b2
        @inline(__always) func at(_ y: Int, _ x: Int) -> Int {
            guard let yy = Self.fold(y, h, fillMode), let xx = Self.fold(x, w, fillMode) else { return -1 }
            return yy * w + xx
        }
        if interpolation == .nearest {
            index.0 = at(Int(sy.rounded()), Int(sx.rounded()))
            weight.0 = 1
            return 1
        }
        let x0f = sx.rounded(.down), y0f = sy.rounded(.down)
        let ux = sx - x0f, uy = sy - y0f
        let x0 = Int(x0f), y0 = Int(y0f)
        if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
            let p = y0 * w + x0
            index = (p, p + 1, p + w, p + w + 1)
        } else {
            index = (at(y0, x0), at(y0, x0 + 1), at(y0 + 1, x0), at(y0 + 1, x0 + 1))
        }
        weight = ((1 - uy) * (1 - ux), (1 - uy) * ux, uy * (1 - ux), uy * ux)
        return 4
    }

    /// `dst = warp(src)` for one image; `src` and `dst` must not overlap.
    public func warp(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                     channels c: Int, map m: AffineMap) {
        var index = (0, 0, 0, 0), weight: (Float, Float, Float, Float) = (0, 0, 0, 0)
        for oy in 0..<h {
            for ox in 0..<w {
                let out = dst + (oy * w + ox) * c
                let count = taps(m, ox, oy, h, w, &index, &weight)
                out.update(repeating: 0, count: c)
                for k in 0..<count {
                    let (i, wt) = k == 0 ? (index.0, weight.0) : k == 1 ? (index.1, weight.1)
                        : k == 2 ? (index.2, weight.2) : (index.3, weight.3)
                    if i < 0 {
                        let v = wt * fillValue
                        for ch in 0..<c { out[ch] += v }
                    } else {
                        let p = src + i * c
                        for ch in 0..<c { out[ch] += wt * p[ch] }
                    }
                }
            }
        }
    }

    /// The transpose of `warp` (the fill value is a constant, so it has no gradient): `dx = warpᵀ(dy)`, where
    /// `dx` is overwritten. `dy` and `dx` must not overlap.
    public func warpTranspose(_ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, height h: Int,
                              width w: Int, channels c: Int, map m: AffineMap) {
        dx.update(repeating: 0, count: h * w * c)
        var index = (0, 0, 0, 0), weight: (Float, Float, Float, Float) = (0, 0, 0, 0)
        for oy in 0..<h {
            for ox in 0..<w {
                let g = dy + (oy * w + ox) * c
                let count = taps(m, ox, oy, h, w, &index, &weight)
                for k in 0..<count {
                    let (i, wt) = k == 0 ? (index.0, weight.0) : k == 1 ? (index.1, weight.1)
                        : k == 2 ? (index.2, weight.2) : (index.3, weight.3)
                    guard i >= 0 else { continue }
                    let p = dx + i * c
                    for ch in 0..<c { p[ch] += wt * g[ch] }
                }
            }
        }
    }
}
