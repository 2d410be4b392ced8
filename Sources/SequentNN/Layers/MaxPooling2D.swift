/// Max pooling over NHWC windows. The gradient goes to the first maximum of each window, found again in
/// `backward` from the saved input instead of storing argmax indices.
public final class MaxPooling2D: Layer, @unchecked Sendable {
    public let typeName = "MaxPooling2D"
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

    public func build(inputShape: [Int]) throws {
        g = try WindowGeometry(input: inputShape, window: poolSize, strides: strides, padding: padding,
                               what: "pool_size")
        outputShape = [g.oh, g.ow, g.c]
    }

    /// Calls `body(outputIndex, windowInputOffsets)` style iteration without allocating: for each output
    /// pixel, the clipped window bounds.
    @inline(__always)
    private func window(_ oy: Int, _ ox: Int) -> (y0: Int, y1: Int, x0: Int, x1: Int) {
        let y0 = oy * g.sh - g.padTop, x0 = ox * g.sw - g.padLeft
        return (max(y0, 0), min(y0 + g.kh, g.h), max(x0, 0), min(x0 + g.kw, g.w))
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        let c = g.c
        for s in 0..<n {
            let img = x + s * g.h * g.w * c
            var out = y + s * g.oh * g.ow * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let (y0, y1, x0, x1) = window(oy, ox)
                    out.update(repeating: -.infinity, count: c)
                    for iy in y0..<y1 {
                        for ix in x0..<x1 {
                            let p = img + (iy * g.w + ix) * c
                            for ch in 0..<c where p[ch] > out[ch] { out[ch] = p[ch] }
                        }
                    }
                    out += c
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
        dx.update(repeating: 0, count: n * g.h * g.w * c)
        for s in 0..<n {
            let img = x + s * g.h * g.w * c, dimg = dx + s * g.h * g.w * c
            let base = s * g.oh * g.ow * c
            for oy in 0..<g.oh {
                for ox in 0..<g.ow {
                    let (y0, y1, x0, x1) = window(oy, ox)
                    let o = base + (oy * g.ow + ox) * c
                    for ch in 0..<c {
                        let target = y[o + ch]
                        // The first position (row-major) holding the maximum takes the whole gradient.
                        search: for iy in y0..<y1 {
                            for ix in x0..<x1 where img[(iy * g.w + ix) * c + ch] == target {
                                dimg[(iy * g.w + ix) * c + ch] += dy[o + ch]
                                break search
                            }
                        }
                    }
                }
            }
        }
    }

    public var config: [String: JSONValue] {
        ["pool_size": .ints(poolSize), "strides": .ints(strides), "padding": .string(padding.rawValue)]
    }
}
