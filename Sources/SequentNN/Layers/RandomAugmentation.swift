/// What Keras 3's random image-augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
/// RandomContrast) share: their random draws, the reading of their factors and fill settings, and the
/// geometric layers' per-sample warp.
///
/// The draws, like Dropout's masks, are hashes of (the step's seed, the layer, the sample's index in the whole
/// batch, which draw), so they do not depend on how a batch is split across threads and `backward` recomputes
/// them instead of storing them. They come from Sequent's generator, so they are never Keras's own numbers.

/// A layer's random stream.
struct AugmentationStream: Sendable {
    /// Keras's `seed`, if the layer has one.
    let seed: Int?

    /// Tells this layer's draws from the model's other layers'. A seeded layer is keyed by its seed alone;
    /// otherwise by its name, which the model makes unique (a stable FNV-1a hash: Swift's `Hasher` is seeded
    /// per process).
    func salt(name: String) -> UInt64 {
        if let seed { return SeededGenerator.mix(UInt64(bitPattern: Int64(seed)) ^ 0xA5A5_0D0E) }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return SeededGenerator.mix(h)
    }

    /// The draws of one call: `uniform(sample, k)` is draw `k` (0…3) of sample `sample` of the call.
    struct Draws {
        let key: UInt64, offset: Int
        @inline(__always)
        func uniform(_ sample: Int, _ k: Int) -> Float {
            SeededGenerator.uniform(key, UInt64(offset + sample) &* 4 &+ UInt64(k))
        }
    }

    /// A seeded layer is keyed by its seed and the step alone, so its draws are the same whatever the model's
    /// seed (as a Keras layer's own `seed` makes them); otherwise by `context.seed`, which mixes the model's seed
    /// with the step.
    func draws(_ context: ForwardContext, name: String) -> Draws {
        let step = seed == nil ? context.seed : SeededGenerator.mix(UInt64(bitPattern: Int64(context.step)) &+ 0x5EED)
        return Draws(key: step ^ salt(name: name), offset: context.sampleOffset)
    }
}

/// Keras's factor arguments: a number f or a pair [a, b], validated as the layer's Keras class does, kept in the
/// form it was given (Keras writes RandomZoom's and RandomTranslation's back as given).
public struct AugmentationFactor: Sendable, Equatable {
    /// The range draws are taken from (before the layer's own scaling: turns, zoom − 1, fractions of the size).
    public let lower: Double, upper: Double
    /// The value as given.
    public let json: JSONValue

    /// Reads `value` as a number or a list of two numbers.
    private static func numbers(_ value: JSONValue?, field: String, expectation: String) throws -> [Double] {
        guard let value, !value.isNull else { throw ConfigError(field: field, detail: "is required") }
        if let d = value.doubleValue, value.arrayValue == nil { return [d] }
        if let a = value.arrayValue, a.count == 2, let x = a[0].doubleValue, let y = a[1].doubleValue { return [x, y] }
        throw ConfigError(field: field, detail: "must be \(expectation), got \(value.brief)")
    }

    /// BaseImagePreprocessingLayer's rule (RandomRotation: bounds −1…1, RandomContrast: 0…1): a number must lie in
    /// the bounds and gives (max(−|f|, low), |f|); a pair is sorted and only needs to reach into the bounds.
    static func base(_ value: JSONValue?, field: String, bounds: ClosedRange<Double>) throws -> AugmentationFactor {
        let expectation = "a number (or a list of two numbers) in [\(bounds.lowerBound), \(bounds.upperBound)]"
        let v = try numbers(value, field: field, expectation: expectation)
        let bad = ConfigError(field: field, detail: "must be \(expectation), got \(value!.brief)")
        if v.count == 1 {
            guard bounds.contains(v[0]) else { throw bad }
            let f = abs(v[0])
            return AugmentationFactor(lower: max(-f, bounds.lowerBound), upper: f, json: value!)
        }
        guard v[0] <= bounds.upperBound, v[1] >= bounds.lowerBound else { throw bad }
        return AugmentationFactor(lower: min(v[0], v[1]), upper: max(v[0], v[1]), json: value!)
    }

    /// RandomZoom's and RandomTranslation's rule: every number in `range` (RandomZoom's excludes −1); a number f
    /// gives (−|f|, |f|), a pair is sorted.
    static func each(_ value: JSONValue?, field: String, excludingMinusOne: Bool) throws -> AugmentationFactor {
        let expectation = "a number (or a list of two numbers) in \(excludingMinusOne ? "(" : "[")-1, 1]"
        let v = try numbers(value, field: field, expectation: expectation)
        for x in v where x > 1 || x < -1 || (excludingMinusOne && x == -1) {
            throw ConfigError(field: field, detail: "must be \(expectation), got \(value!.brief)")
        }
        if v.count == 1 { return AugmentationFactor(lower: -abs(v[0]), upper: abs(v[0]), json: value!) }
        return AugmentationFactor(lower: min(v[0], v[1]), upper: max(v[0], v[1]), json: value!)
    }

    /// A draw u ∈ [0, 1) mapped onto [lower, upper), as `keras.random.uniform(minval, maxval)`.
    @inline(__always)
    func value(_ u: Float) -> Float { Float(lower) + (Float(upper) - Float(lower)) * u }
}

extension ImageSampler {
    /// Reads `fill_mode` (Keras's default reflect), `fill_value` and `interpolation` (bilinear), and checks
    /// `data_format` (channels_last only).
    static func make(_ r: inout ConfigReader) throws -> ImageSampler {
        try GlobalPooling.checkDataFormat(&r)
        let fill = try r.string("fill_mode", default: "reflect")
        guard let mode = FillMode(rawValue: fill) else {
            throw ConfigError(field: "fill_mode", detail: "must be one of reflect, wrap, constant, nearest, got \"\(fill)\"")
        }
        let interp = try r.string("interpolation", default: "bilinear")
        guard let interpolation = Interpolation(rawValue: interp) else {
            throw ConfigError(field: "interpolation", detail: "must be bilinear or nearest, got \"\(interp)\"")
        }
        return ImageSampler(fillMode: mode, fillValue: Float(try r.double("fill_value", default: 0)),
                            interpolation: interpolation)
    }

    /// The keys `make` reads, for a layer's config.
    var config: [String: JSONValue] {
        ["fill_mode": .string(fillMode.rawValue), "fill_value": .number(Double(fillValue)),
         "interpolation": .string(interpolation.rawValue)]
    }
}

/// The per-sample image geometry of an augmentation layer: per-sample input [H, W, C], output the same.
struct ImageGeometry: Sendable {
    var h = 0, w = 0, c = 0
    var size: Int { h * w * c }

    init() {}

    init(_ inputShape: [Int], layer: String) throws {
        guard inputShape.count == 3 else {
            throw ConfigError(field: "input_shape",
                              detail: "\(layer) needs [height, width, channels] images, got \(inputShape)")
        }
        (h, w, c) = (inputShape[0], inputShape[1], inputShape[2])
    }
}

/// RandomRotation, RandomZoom and RandomTranslation: one affine map per sample, from that sample's draws,
/// through the sampler; the identity when not training. A subclass gives its type name, its map and its factors'
/// config.
public class RandomAffineLayer: Layer, @unchecked Sendable {
    public var typeName: String { preconditionFailure("a subclass names the layer") }
    public var name: String
    /// Keras's `seed`.
    public let seed: Int?
    public private(set) var outputShape: [Int] = []
    public let sampler: ImageSampler
    let stream: AugmentationStream
    var g = ImageGeometry()

    init(sampler: ImageSampler, seed: Int?, name: String) {
        self.sampler = sampler
        self.seed = seed
        self.name = name
        stream = AugmentationStream(seed: seed)
    }

    /// Sample `s`'s map, from its draws.
    func map(_ draws: AugmentationStream.Draws, _ s: Int) -> AffineMap { .identity }

    /// The layer's own config keys (its factors).
    var factorConfig: [String: JSONValue] { [:] }

    public func build(inputShape: [Int]) throws {
        g = try ImageGeometry(inputShape, layer: typeName)
        outputShape = inputShape
    }

    public var forwardFlops: Int { outputCount * 8 }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        guard context.training else {
            if x != y { y.update(from: x, count: n * g.size) }
            return
        }
        let draws = stream.draws(context, name: name)
        for s in 0..<n {
            sampler.warp(x + s * g.size, into: y + s * g.size, height: g.h, width: g.w, channels: g.c, map: map(draws, s))
        }
    }

    /// The warp is linear in the image for fixed draws, so the input gradient is its transpose with the same draws.
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
        for s in 0..<n {
            sampler.warpTranspose(dy + s * g.size, into: dx + s * g.size, height: g.h, width: g.w, channels: g.c,
                                  map: map(draws, s))
        }
    }

    public var config: [String: JSONValue] {
        var c = sampler.config.merging(factorConfig) { $1 }
        c["seed"] = .seed(seed)
        return c
    }
}

extension JSONValue {
    /// Keras's optional integer `seed`.
    static func seed(_ seed: Int?) -> JSONValue { seed.map { .number(Double($0)) } ?? .null }
}
