import Foundation
import SequentNN

/// On-the-fly image augmentation as Keras's `ImageDataGenerator` does it: a random rotation, shift, shear
/// and zoom combined into one affine map about the image centre, sampled bilinearly with a fill mode, then an
/// optional horizontal flip. Each sample's transform is a pure function of (seed, epoch, step, position in
/// batch), so a run — or a resumed run — sees the same augmented batches.
public struct Augmentation: Sendable, Equatable {
    /// Degrees; the angle is uniform in ±rotationRange.
    public var rotationRange: Double = 0
    /// Fractions of the width / height; the shift is uniform in ±range × size.
    public var widthShiftRange: Double = 0
    public var heightShiftRange: Double = 0
    /// Degrees of shear, uniform in ±shearRange.
    public var shearRange: Double = 0
    /// Zoom factors are uniform in [1 − zoomRange, 1 + zoomRange], drawn separately per axis; as in Keras a
    /// factor above 1 samples a larger area, so the content appears smaller.
    public var zoomRange: Double = 0
    public var horizontalFlip = false
    public var fillMode: FillMode = .nearest
    /// The value `constant` fill uses (in the same units as the pixels after rescaling).
    public var cval: Float = 0

    /// What to sample outside the image (SequentNN's `FillMode`, shared with the random augmentation layers).
    public typealias FillMode = SequentNN.FillMode

    public init() {}

    public var isIdentity: Bool {
        rotationRange == 0 && widthShiftRange == 0 && heightShiftRange == 0 && shearRange == 0 && zoomRange == 0 && !horizontalFlip
    }

    /// One sample's drawn parameters.
    public struct Draw: Sendable, Equatable {
        public var theta = 0.0, tx = 0.0, ty = 0.0, shear = 0.0, zx = 1.0, zy = 1.0
        public var flip = false
        public init() {}
    }

    /// Draws a sample's parameters (Keras's order: rotation, shifts, shear, zoom, flip).
    public func draw(height h: Int, width w: Int, rng: inout SeededGenerator) -> Draw {
        var d = Draw()
        func u(_ r: Double) -> Double { r == 0 ? 0 : Double(rng.uniform(Float(-r), Float(r))) }
        d.theta = u(rotationRange) * .pi / 180
        d.tx = u(heightShiftRange) * Double(h)
        d.ty = u(widthShiftRange) * Double(w)
        d.shear = u(shearRange) * .pi / 180
        if zoomRange != 0 {
            d.zx = 1 + u(zoomRange)
            d.zy = 1 + u(zoomRange)
        }
        if horizontalFlip { d.flip = rng.next() & 1 == 1 }
        return d
    }

    /// Transforms one HWC image from `src` into `dst` (which must not overlap).
    public func transform(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                          channels c: Int, draw d: Draw) {
        let sampler = ImageSampler(fillMode: fillMode, fillValue: cval, interpolation: .bilinear)
        sampler.warp(src, into: dst, height: h, width: w, channels: c, map: Self.map(d, height: h, width: w))
    }

    /// The draw as a map from output (column, row) to input: M = rotation · shift · shear · zoom on
    /// (row, col, 1), input = M · (output − centre) + centre, as scipy.ndimage.affine_transform is called by
    /// Keras's apply_affine_transform; the flip mirrors the output columns afterwards.
    static func map(_ d: Draw, height h: Int, width w: Int) -> AffineMap {
        let (cs, sn) = (cos(d.theta), sin(d.theta))
        let (shs, shc) = (-sin(d.shear), cos(d.shear))
        // rotation · shift
        let r00 = cs, r01 = -sn, r02 = cs * d.tx - sn * d.ty
        let r10 = sn, r11 = cs, r12 = sn * d.tx + cs * d.ty
        // · shear [[1, shs, 0], [0, shc, 0]] · zoom [[zx, 0], [0, zy]]
        let m00 = r00 * d.zx, m01 = (r00 * shs + r01 * shc) * d.zy
        let m10 = r10 * d.zx, m11 = (r10 * shs + r11 * shc) * d.zy
        let cy = Double(h) / 2 - 0.5, cx = Double(w) / 2 - 0.5
        // row_in = m00·row + m01·col + (r02 + cy − m00·cy − m01·cx), and likewise for the column.
        let map = AffineMap(a0: Float(m11), a1: Float(m10), a2: Float(r12 + cx - m10 * cy - m11 * cx),
                            b0: Float(m01), b1: Float(m00), b2: Float(r02 + cy - m00 * cy - m01 * cx))
        return d.flip ? map.mirroredColumns(width: w) : map
    }

    /// Augments a batch in place; `scratch` must hold one image.
    public func apply(batch: UnsafeMutablePointer<Float>, n: Int, height h: Int, width w: Int, channels c: Int,
                      seed: UInt64, epoch: Int, step: Int, scratch: UnsafeMutablePointer<Float>) {
        guard !isIdentity else { return }
        let size = h * w * c
        for s in 0..<n {
            var rng = SeededGenerator.derived(seed: seed ^ 0xA06_3E47, stream: UInt64(epoch), index: UInt64(step) << 16 | UInt64(s))
            let d = draw(height: h, width: w, rng: &rng)
            let img = batch + s * size
            scratch.update(from: img, count: size)
            transform(scratch, img, height: h, width: w, channels: c, draw: d)
        }
    }
}
