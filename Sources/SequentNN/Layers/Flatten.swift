/// Flattens each sample to one dimension. NHWC is already row-major, so this is a reinterpretation: the
/// model aliases the input and output buffers and no data moves.
public final class Flatten: Layer, @unchecked Sendable {
    public let typeName = "Flatten"
    public var name: String
    public private(set) var outputShape: [Int] = []
    public var isReshape: Bool { true }

    public init(name: String = "") { self.name = name }

    public func build(inputShape: [Int]) throws {
        outputShape = [inputShape.reduce(1, *)]
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        if x != y { y.update(from: x, count: n * outputShape[0]) }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        if let dx, dx != dy { dx.update(from: dy, count: n * outputShape[0]) }
    }

    public var config: [String: JSONValue] { [:] }
}
