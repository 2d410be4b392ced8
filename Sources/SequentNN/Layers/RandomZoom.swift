/// Keras 3's `RandomZoom`: while training, each image is scaled about its centre by 1 + a draw from
/// `height_factor` vertically and from `width_factor` horizontally (the same scale both ways when
/// `width_factor` is null). A negative factor zooms in (the output reads a smaller area, so content looks
/// larger), a positive one zooms out. Identity at inference.
public final class RandomZoom: RandomAffineLayer, @unchecked Sendable {
    override public var typeName: String { "RandomZoom" }
    public let heightFactor: AugmentationFactor
    public let widthFactor: AugmentationFactor?

    /// Factors are a number f (±f) or a pair, each value in (-1, 1], as Keras validates them.
    public init(heightFactor: JSONValue, widthFactor: JSONValue? = nil, fillMode: FillMode = .reflect,
                fillValue: Float = 0, interpolation: Interpolation = .bilinear, seed: Int? = nil,
                name: String = "") throws {
        self.heightFactor = try AugmentationFactor.each(heightFactor, field: "height_factor", excludingMinusOne: true)
        self.widthFactor = try widthFactor.flatMap { $0.isNull ? nil : $0 }.map {
            try AugmentationFactor.each($0, field: "width_factor", excludingMinusOne: true)
        }
        super.init(sampler: ImageSampler(fillMode: fillMode, fillValue: fillValue, interpolation: interpolation),
                   seed: seed, name: name)
    }

    /// Reads `height_factor`, `width_factor`, `fill_mode`, `fill_value`, `interpolation`, `seed`, `data_format`.
    static func make(_ r: inout ConfigReader, name: String) throws -> RandomZoom {
        let (height, width) = (r.value("height_factor") ?? .null, r.value("width_factor"))
        let s = try ImageSampler.make(&r)
        return try RandomZoom(heightFactor: height, widthFactor: width, fillMode: s.fillMode, fillValue: s.fillValue,
                              interpolation: s.interpolation, seed: r.int("seed"), name: name)
    }

    /// Keras's `_get_zoom_matrix`: scales (zx, zy) about ((w − 1)/2, (h − 1)/2).
    func map(zx: Float, zy: Float) -> AffineMap {
        AffineMap(a0: zx, a1: 0, a2: (Float(g.w) - 1) / 2 * (1 - zx), b0: 0, b1: zy, b2: (Float(g.h) - 1) / 2 * (1 - zy))
    }

    override func map(_ d: AugmentationStream.Draws, _ s: Int) -> AffineMap {
        let zy = 1 + heightFactor.value(d.uniform(s, 0))
        return map(zx: widthFactor.map { 1 + $0.value(d.uniform(s, 1)) } ?? zy, zy: zy)
    }

    /// The factors as given, as Keras writes them.
    override var factorConfig: [String: JSONValue] {
        ["height_factor": heightFactor.json, "width_factor": widthFactor?.json ?? .null]
    }
}
