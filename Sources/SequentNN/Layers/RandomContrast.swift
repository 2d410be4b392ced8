/// Keras 3's `RandomContrast`: while training, each image's channels are pulled towards or pushed away from
/// their own mean over the image, `y = clip((x − mean) · f + mean, value_range)`, with one contrast f per image
/// drawn from [1 − lower, 1 + upper] (`factor` read as Keras reads it: a number f gives (0, f), so f ∈ [1, 1 + f];
/// a pair (a, b) gives [1 − a, 1 + b]). Identity at inference.
public final class RandomContrast: Layer, @unchecked Sendable {
    public let typeName = "RandomContrast"
    public var name: String
    public let factor: AugmentationFactor
    /// The output is clipped to this range (Keras's default 0…255).
    public let valueRange: (lower: Float, upper: Float)
    public let seed: Int?
    public private(set) var outputShape: [Int] = []
    private let stream: AugmentationStream
    private var g = ImageGeometry()

    /// `factor` is a number in [0, 1] or a pair, as Keras validates it.
    public init(factor: JSONValue, valueRange: (Float, Float) = (0, 255), seed: Int? = nil, name: String = "") throws {
        self.factor = try AugmentationFactor.base(factor, field: "factor", bounds: 0...1)
        guard valueRange.0 < valueRange.1 else {
            throw ConfigError(field: "value_range",
                              detail: "must be [low, high] with low < high, got [\(valueRange.0), \(valueRange.1)]")
        }
        self.valueRange = valueRange
        self.seed = seed
        self.name = name
        stream = AugmentationStream(seed: seed)
    }

    /// Reads `factor`, `value_range`, `seed` and `data_format`.
    static func make(_ r: inout ConfigReader, name: String) throws -> RandomContrast {
        try GlobalPooling.checkDataFormat(&r)
        var range: (Float, Float) = (0, 255)
        if let v = r.value("value_range") {
            guard let a = v.arrayValue, a.count == 2, let lo = a[0].doubleValue, let hi = a[1].doubleValue else {
                throw ConfigError(field: "value_range", detail: "must be a list of two numbers, got \(v.brief)")
            }
            range = (Float(lo), Float(hi))
        }
        return try RandomContrast(factor: r.value("factor") ?? .null, valueRange: range, seed: r.int("seed"), name: name)
    }

    public func build(inputShape: [Int]) throws {
        g = try ImageGeometry(inputShape, layer: typeName)
        outputShape = inputShape
    }

    public var forwardFlops: Int { outputCount * 4 }

    /// Per-channel means of one image into `mean` (accumulated in Double: an image may have 10⁵ pixels).
    private func means(_ x: UnsafePointer<Float>, _ mean: inout [Double]) {
        for ch in 0..<g.c { mean[ch] = 0 }
        for p in 0..<(g.h * g.w) { for ch in 0..<g.c { mean[ch] += Double(x[p * g.c + ch]) } }
        for ch in 0..<g.c { mean[ch] /= Double(g.h * g.w) }
    }

    /// The contrast of sample `s` of a call.
    private func contrast(_ d: AugmentationStream.Draws, _ s: Int) -> Float {
        let lo = 1 - Float(factor.lower), hi = 1 + Float(factor.upper)
        return lo + (hi - lo) * d.uniform(s, 0)
    }

    /// One image with contrast `f`.
    func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, contrast f: Float, mean: inout [Double]) {
        means(x, &mean)
        for p in 0..<(g.h * g.w) {
            for ch in 0..<g.c {
                let m = Float(mean[ch]), i = p * g.c + ch
                y[i] = min(max((x[i] - m) * f + m, valueRange.lower), valueRange.upper)
            }
        }
    }

    /// The gradient of one image: where the output is not clipped, ∂y_i/∂x_j = f·δij + (1 − f)/P over the P
    /// pixels of the channel, so dx = f·g + (1 − f)·mean(g), with g the gradient masked by the clipping.
    func applyTranspose(_ x: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                        contrast f: Float, mean: inout [Double], gradientMean: inout [Double]) {
        means(x, &mean)
        let pixels = g.h * g.w
        for ch in 0..<g.c { gradientMean[ch] = 0 }
        for p in 0..<pixels {
            for ch in 0..<g.c {
                let m = Float(mean[ch]), i = p * g.c + ch
                let z = (x[i] - m) * f + m
                let grad = z > valueRange.lower && z < valueRange.upper ? dy[i] : 0
                dx[i] = f * grad
                gradientMean[ch] += Double(grad)
            }
        }
        for ch in 0..<g.c {
            let shift = (1 - f) * Float(gradientMean[ch] / Double(pixels))
            for p in 0..<pixels { dx[p * g.c + ch] += shift }
        }
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        guard context.training else {
            if x != y { y.update(from: x, count: n * g.size) }
            return
        }
        let draws = stream.draws(context, name: name)
        var mean = [Double](repeating: 0, count: g.c)
        for s in 0..<n { apply(x + s * g.size, y + s * g.size, contrast: contrast(draws, s), mean: &mean) }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        guard context.training else {
            dx.update(from: dy, count: n * g.size)
            return
        }
        let draws = stream.draws(context, name: name)
        var mean = [Double](repeating: 0, count: g.c), gradientMean = mean
        for s in 0..<n {
            applyTranspose(x + s * g.size, dy + s * g.size, dx + s * g.size, contrast: contrast(draws, s), mean: &mean,
                           gradientMean: &gradientMean)
        }
    }

    /// Keras writes the factor as the sorted pair.
    public var config: [String: JSONValue] {
        ["factor": .array([.number(factor.lower), .number(factor.upper)]),
         "value_range": .array([.number(Double(valueRange.lower)), .number(Double(valueRange.upper))]),
         "seed": .seed(seed)]
    }
}
