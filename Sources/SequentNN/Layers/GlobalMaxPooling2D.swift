/// Maximum over height and width of each channel: `[H, W, C]` → `[C]` (`[1, 1, C]` with `keepdims`).
///
/// The gradient goes to the positions that hold the maximum, shared equally when several do — the gradient
/// of `reduce_max` in TensorFlow and JAX. The positions are found again from `x` and `y` in the backward pass,
/// so the layer keeps nothing between the passes.
public final class GlobalMaxPooling2D: Layer, @unchecked Sendable {
    public let typeName = "GlobalMaxPooling2D"
    public var name: String
    public let keepdims: Bool
    public private(set) var outputShape: [Int] = []
    private var pixels = 0, channels = 0

    public init(keepdims: Bool = false, name: String = "") {
        self.keepdims = keepdims
        self.name = name
    }

    /// Reads `keepdims` and `data_format` (channels_last only) from a Sequent or Keras config.
    static func make(_ r: inout ConfigReader, name: String) throws -> GlobalMaxPooling2D {
        try GlobalPooling.checkDataFormat(&r)
        return GlobalMaxPooling2D(keepdims: try r.bool("keepdims", default: false), name: name)
    }

    public func build(inputShape: [Int]) throws {
        (pixels, channels) = try GlobalPooling.geometry(inputShape)
        outputShape = keepdims ? [1, 1, channels] : [channels]
    }

    public var forwardFlops: Int { pixels * channels }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let c = channels
        for s in 0..<n {
            let out = y + s * c, inp = x + s * pixels * c
            out.update(from: inp, count: c)
            for p in 1..<max(pixels, 1) { for ch in 0..<c { out[ch] = max(out[ch], inp[p * c + ch]) } }
        }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let c = channels
        for s in 0..<n {
            let inp = x + s * pixels * c, out = dx + s * pixels * c, m = y + s * c, g = dy + s * c
            for ch in 0..<c {
                var ties: Float = 0
                for p in 0..<pixels where inp[p * c + ch] == m[ch] { ties += 1 }
                let share = g[ch] / ties
                for p in 0..<pixels { out[p * c + ch] = inp[p * c + ch] == m[ch] ? share : 0 }
            }
        }
    }

    public var config: [String: JSONValue] { ["keepdims": .bool(keepdims), "data_format": "channels_last"] }
}
