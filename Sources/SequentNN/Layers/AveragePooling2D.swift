/// Average pooling over NHWC windows.
///
/// With `same` padding a window that hangs over the edge is divided by the number of input values it covers,
/// not by its full size: the padding is not counted, as in Keras (TensorFlow's `avg_pool`).
public final class AveragePooling2D: Layer, @unchecked Sendable {
    public let typeName = "AveragePooling2D"
    public var name: String
    public let poolSize: [Int]
    public let strides: [Int]
    public let padding: Padding
    public private(set) var outputShape: [Int] = []
    private var g = WindowGeometry()

    /// `strides` defaults to `poolSize`, as in Keras.
    public init(poolSize: [Int] = [2, 2], strides: [Int]? = nil, padding: Padding = .valid, name: String = "") throws {
        try WindowGeometry.validatePositive(poolSize, field: "pool_size")
        if let strides { try WindowGeometry.validatePositive(strides, field: "strides") }
        self.poolSize = poolSize
        self.strides = strides ?? poolSize
        self.padding = padding
        self.name = name
    }

    /// Reads `pool_size`, `strides`, `padding` and `data_format` (channels_last only).
    static func make(_ r: inout ConfigReader, name: String) throws -> AveragePooling2D {
        try GlobalPooling.checkDataFormat(&r)
        return try AveragePooling2D(poolSize: r.ints("pool_size", count: 2) ?? [2, 2], strides: r.ints("strides", count: 2),
                                    padding: Padding(name: r.string("padding", default: "valid")), name: name)
    }

    public func build(inputShape: [Int]) throws {
        g = try WindowGeometry(input: inputShape, window: poolSize, strides: strides, padding: padding,
                               what: "pool_size")
        outputShape = [g.oh, g.ow, g.c]
    }

    public var forwardFlops: Int { g.oh * g.ow * g.c * g.kh * g.kw }

    /// The input rows and columns window (oy, ox) covers, clipped to the image.
    @inline(__always)
    private func window(_ oy: Int, _ ox: Int) -> (y0: Int, y1: Int, x0: Int, x1: Int) {
        (max(oy * g.sh - g.padTop, 0), min(oy * g.sh - g.padTop + g.kh, g.h),
         max(ox * g.sw - g.padLeft, 0), min(ox * g.sw - g.padLeft + g.kw, g.w))
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let c = g.c
        for s in 0..<n {
            let inp = x + s * g.h * g.w * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let out = y + ((s * g.oh + oy) * g.ow + ox) * c
                    let (y0, y1, x0, x1) = window(oy, ox)
                    out.update(repeating: 0, count: c)
                    for iy in y0..<y1 { for ix in x0..<x1 {
                        let p = inp + (iy * g.w + ix) * c
                        for ch in 0..<c { out[ch] += p[ch] }
                    } }
                    let scale = 1 / Float((y1 - y0) * (x1 - x0))
                    for ch in 0..<c { out[ch] *= scale }
                }
            }
        }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let c = g.c
        // Windows may overlap (stride < pool size), so the input gradient is accumulated.
        dx.update(repeating: 0, count: n * g.h * g.w * c)
        for s in 0..<n {
            let out = dx + s * g.h * g.w * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let grad = dy + ((s * g.oh + oy) * g.ow + ox) * c
                    let (y0, y1, x0, x1) = window(oy, ox)
                    let scale = 1 / Float((y1 - y0) * (x1 - x0))
                    for iy in y0..<y1 { for ix in x0..<x1 {
                        let p = out + (iy * g.w + ix) * c
                        for ch in 0..<c { p[ch] += grad[ch] * scale }
                    } }
                }
            }
        }
    }

    public var config: [String: JSONValue] {
        ["pool_size": .ints(poolSize), "strides": .ints(strides), "padding": .string(padding.rawValue)]
    }
}
