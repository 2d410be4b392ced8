/// `y = x · scale + offset` (Keras's Rescaling, e.g. `scale = 1/255` for raw pixels).
public final class Rescaling: Layer, @unchecked Sendable {
    public let typeName = "Rescaling"
    public var name: String
    public let scale: Float
    public let offset: Float
    public private(set) var outputShape: [Int] = []

    public init(scale: Float, offset: Float = 0, name: String = "") {
        self.scale = scale
        self.offset = offset
        self.name = name
    }

    public func build(inputShape: [Int]) throws { outputShape = inputShape }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        for i in 0..<(n * outputCount) { y[i] = x[i] * scale + offset }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        for i in 0..<(n * outputCount) { dx[i] = dy[i] * scale }
    }

    public var config: [String: JSONValue] { ["scale": .number(Double(scale)), "offset": .number(Double(offset))] }
}
