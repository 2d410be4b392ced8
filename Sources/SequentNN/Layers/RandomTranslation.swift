/// Keras 3's `RandomTranslation`: while training, each image is shifted by a draw from `height_factor` × its
/// height and from `width_factor` × its width (positive moves the content down / right). Identity at inference.
public final class RandomTranslation: RandomAffineLayer, @unchecked Sendable {
    override public var typeName: String { "RandomTranslation" }
    public let heightFactor: AugmentationFactor
    public let widthFactor: AugmentationFactor

    /// Factors are a number f (±f) or a pair, each value in [-1, 1], as Keras validates them.
    public init(heightFactor: JSONValue, widthFactor: JSONValue, fillMode: FillMode = .reflect,
                fillValue: Float = 0, interpolation: Interpolation = .bilinear, seed: Int? = nil,
                name: String = "") throws {
        self.heightFactor = try AugmentationFactor.each(heightFactor, field: "height_factor", excludingMinusOne: false)
        self.widthFactor = try AugmentationFactor.each(widthFactor, field: "width_factor", excludingMinusOne: false)
        super.init(sampler: ImageSampler(fillMode: fillMode, fillValue: fillValue, interpolation: interpolation),
                   seed: seed, name: name)
    }

    /// Reads `height_factor`, `width_factor`, `fill_mode`, `fill_value`, `interpolation`, `seed`, `data_format`.
    static func make(_ r: inout ConfigReader, name: String) throws -> RandomTranslation {
        let (height, width) = (r.value("height_factor") ?? .null, r.value("width_factor") ?? .null)
        let s = try ImageSampler.make(&r)
        return try RandomTranslation(heightFactor: height, widthFactor: width, fillMode: s.fillMode,
                                     fillValue: s.fillValue, interpolation: s.interpolation, seed: r.int("seed"),
                                     name: name)
    }

    /// Keras's `_get_translation_matrix`: the output at (x, y) reads the input at (x − dx, y − dy), in pixels.
    func map(dx: Float, dy: Float) -> AffineMap { AffineMap(a0: 1, a1: 0, a2: -dx, b0: 0, b1: 1, b2: -dy) }

    override func map(_ d: AugmentationStream.Draws, _ s: Int) -> AffineMap {
        map(dx: widthFactor.value(d.uniform(s, 1)) * Float(g.w), dy: heightFactor.value(d.uniform(s, 0)) * Float(g.h))
    }

    /// The factors as given, as Keras writes them.
    override var factorConfig: [String: JSONValue] {
        ["height_factor": heightFactor.json, "width_factor": widthFactor.json]
    }
}
