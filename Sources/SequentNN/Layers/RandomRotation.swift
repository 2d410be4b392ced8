import Foundation

/// Keras 3's `RandomRotation`: while training, each image is rotated about its centre by an angle drawn
/// uniformly from `factor` × 360°; identity at inference. The output at (x, y) (x right, y down) reads the input
/// at the point turned by +θ about the centre, so a positive angle turns the content counter-clockwise on
/// screen, as Keras documents.
public final class RandomRotation: RandomAffineLayer, @unchecked Sendable {
    override public var typeName: String { "RandomRotation" }
    /// Fractions of a full turn.
    public let factor: AugmentationFactor

    /// `factor` is a number f (angles in ±f turns) or a pair, as Keras validates it (a number in [-1, 1]).
    public init(factor: JSONValue, fillMode: FillMode = .reflect, fillValue: Float = 0,
                interpolation: Interpolation = .bilinear, seed: Int? = nil, name: String = "") throws {
        self.factor = try AugmentationFactor.base(factor, field: "factor", bounds: -1...1)
        super.init(sampler: ImageSampler(fillMode: fillMode, fillValue: fillValue, interpolation: interpolation),
                   seed: seed, name: name)
    }

    /// Reads `factor`, `fill_mode`, `fill_value`, `interpolation`, `seed` and `data_format`.
    static func make(_ r: inout ConfigReader, name: String) throws -> RandomRotation {
        let factor = r.value("factor") ?? .null
        let s = try ImageSampler.make(&r)
        return try RandomRotation(factor: factor, fillMode: s.fillMode, fillValue: s.fillValue,
                                  interpolation: s.interpolation, seed: r.int("seed"), name: name)
    }

    /// Keras's `_compute_affine_matrix` for a rotation about ((w − 1)/2, (h − 1)/2), in float32 as Keras does it.
    func map(degrees: Float) -> AffineMap {
        let theta = degrees * (Float.pi / 180)
        let (cs, sn) = (cos(theta), sin(theta))
        let cx = 0.5 * Float(g.w - 1), cy = 0.5 * Float(g.h - 1)
        return AffineMap(a0: cs, a1: -sn, a2: cx - cx * cs - cy * -sn, b0: sn, b1: cs, b2: cy - cx * sn - cy * cs)
    }

    override func map(_ d: AugmentationStream.Draws, _ s: Int) -> AffineMap {
        let lower = Float(factor.lower * 360), upper = Float(factor.upper * 360)
        return map(degrees: lower + (upper - lower) * d.uniform(s, 0))
    }

    /// Keras writes the factor as the sorted pair.
    override var factorConfig: [String: JSONValue] {
        ["factor": .array([.number(factor.lower), .number(factor.upper)])]
    }
}
