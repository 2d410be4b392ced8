import Foundation

/// Keras's `ELU` layer: `x` for x > 0, `alpha · (eˣ − 1)` otherwise (alpha 1 by default).
public final class ELU: Layer, @unchecked Sendable {
    public let typeName = "ELU"
    public var name: String
    public let alpha: Float
    public private(set) var outputShape: [Int] = []

    public init(alpha: Float = 1, name: String = "") {
        self.alpha = alpha
        self.name = name
    }

    static func make(_ r: inout ConfigReader, name: String) throws -> ELU {
        ELU(alpha: Float(try r.double("alpha", default: 1)), name: name)
    }

    public func build(inputShape: [Int]) throws { outputShape = inputShape }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        for i in 0..<(n * outputCount) { y[i] = x[i] > 0 ? x[i] : alpha * expm1(x[i]) }
    }

    /// Below zero the derivative α·eˣ is y + α.
    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        for i in 0..<(n * outputCount) { dx[i] = x[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha) }
    }

    public var config: [String: JSONValue] { ["alpha": .number(Double(alpha))] }
}
