/// Mean over height and width of each channel: `[H, W, C]` → `[C]` (`[1, 1, C]` with `keepdims`).
public final class GlobalAveragePooling2D: Layer, @unchecked Sendable {
    public let typeName = "GlobalAveragePooling2D"
    public var name: String
    public let keepdims: Bool
    public private(set) var outputShape: [Int] = []
    private var pixels = 0, channels = 0

    public init(keepdims: Bool = false, name: String = "") {
        self.keepdims = keepdims
        self.name = name
    }

    /// Reads `keepdims` and `data_format` (channels_last only) from a Sequent or Keras config.
    static func make(_ r: inout ConfigReader, name: String) throws -> GlobalAveragePooling2D {
        try GlobalPooling.checkDataFormat(&r)
        return GlobalAveragePooling2D(keepdims: try r.bool("keepdims", default: false), name: name)
    }

    public func build(inputShape: [Int]) throws {
        (pixels, channels) = try GlobalPooling.geometry(inputShape)
        outputShape = keepdims ? [1, 1, channels] : [channels]
    }

    public var forwardFlops: Int { pixels * channels }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let c = channels, scale = 1 / Float(pixels)
        for s in 0..<n {
            let out = y + s * c, inp = x + s * pixels * c
            out.update(repeating: 0, count: c)
            for p in 0..<pixels { for ch in 0..<c { out[ch] += inp[p * c + ch] } }
            for ch in 0..<c { out[ch] *= scale }
        }
    }

    /// Every input value contributed 1/(H·W) of its channel's mean.
    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let c = channels, scale = 1 / Float(pixels)
        for s in 0..<n {
            let g = dy + s * c, out = dx + s * pixels * c
            for p in 0..<pixels { for ch in 0..<c { out[p * c + ch] = g[ch] * scale } }
        }
    }

    public var config: [String: JSONValue] { ["keepdims": .bool(keepdims), "data_format": "channels_last"] }
}

/// What the global pooling layers share: the input check and the `data_format` rule.
enum GlobalPooling {
    /// `[H, W, C]` → (H·W, C).
    static func geometry(_ inputShape: [Int]) throws -> (pixels: Int, channels: Int) {
        guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(field: "", detail: "needs a 3-D input (height, width, channels), got \(inputShape)")
        }
        return (inputShape[0] * inputShape[1], inputShape[2])
    }

    static func checkDataFormat(_ r: inout ConfigReader) throws {
        let df = try r.string("data_format", default: "channels_last")
        guard df == "channels_last" else {
            throw ConfigError(field: "data_format", detail: "must be \"channels_last\", got \"\(df)\"")
        }
    }
}
