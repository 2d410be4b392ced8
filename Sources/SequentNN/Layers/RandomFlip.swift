/// Keras 3's `RandomFlip`: while training, each image is flipped with probability ½ — left-right
/// (`horizontal`), top-bottom (`vertical`), or both at once (`horizontal_and_vertical`, Keras's default: one
/// draw flips both axes). Identity at inference.
public final class RandomFlip: Layer, @unchecked Sendable {
    public let typeName = "RandomFlip"
    public var name: String
    public let mode: Mode
    public let seed: Int?
    public private(set) var outputShape: [Int] = []
    private let stream: AugmentationStream
    private var g = ImageGeometry()

    public enum Mode: String, Sendable, CaseIterable {
        case horizontal, vertical
        case horizontalAndVertical = "horizontal_and_vertical"
    }

    public init(mode: Mode = .horizontalAndVertical, seed: Int? = nil, name: String = "") {
        self.mode = mode
        self.seed = seed
        self.name = name
        stream = AugmentationStream(seed: seed)
    }

    /// Reads `mode`, `seed` and `data_format`.
    static func make(_ r: inout ConfigReader, name: String) throws -> RandomFlip {
        try GlobalPooling.checkDataFormat(&r)
        let m = try r.string("mode", default: Mode.horizontalAndVertical.rawValue)
        guard let mode = Mode(rawValue: m) else {
            throw ConfigError(field: "mode", detail: "must be horizontal, vertical or horizontal_and_vertical, got \"\(m)\"")
        }
        return RandomFlip(mode: mode, seed: try r.int("seed"), name: name)
    }

    public func build(inputShape: [Int]) throws {
        g = try ImageGeometry(inputShape, layer: typeName)
        outputShape = inputShape
    }

    /// `dst` = `src` flipped as the mode says (`flipped`) or copied; one image, no overlap.
    func apply(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, flipped: Bool) {
        guard flipped else { dst.update(from: src, count: g.size); return }
        let rows = mode != .horizontal, cols = mode != .vertical
        let c = g.c, row = g.w * c
        for y in 0..<g.h {
            let from = src + (rows ? g.h - 1 - y : y) * row, to = dst + y * row
            guard cols else { to.update(from: from, count: row); continue }
            for x in 0..<g.w { (to + x * c).update(from: from + (g.w - 1 - x) * c, count: c) }
        }
    }

    /// A flip is its own transpose, so `backward` applies the forward's flips to the gradient.
    private func run(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, context: ForwardContext) {
        guard context.training else {
            if src != dst { dst.update(from: src, count: n * g.size) }
            return
        }
        let draws = stream.draws(context, name: name)
        for s in 0..<n {
            // Keras flips when its uniform draw is ≤ 0.5.
            apply(src + s * g.size, dst + s * g.size, flipped: draws.uniform(s, 0) <= 0.5)
        }
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        run(x, y, n: n, context: context)
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        run(dy, dx, n: n, context: context)
    }

    public var config: [String: JSONValue] { ["mode": .string(mode.rawValue), "seed": .seed(seed)] }
}
