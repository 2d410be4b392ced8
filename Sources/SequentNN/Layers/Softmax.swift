/// Keras's `Softmax` layer over the last axis (the only `axis` Sequent supports: -1).
///
/// Like `ActivationLayer`, it reports `.softmax` as its activation, so as the last layer it folds into
/// cross-entropy.
public final class Softmax: Layer, @unchecked Sendable {
    public let typeName = "Softmax"
    public var name: String
    public var activation: Activation { .softmax }
    public private(set) var outputShape: [Int] = []

    public init(axis: Int = -1, name: String = "") throws {
        guard axis == -1 else {
            throw ConfigError(field: "axis", detail: "must be -1 (softmax over the last axis), got \(axis)")
        }
        self.name = name
    }

    /// Reads `axis` (an integer, or Keras's one-element list).
    static func make(_ r: inout ConfigReader, name: String) throws -> Softmax {
        var axis = -1
        if let v = r.value("axis") {
            guard let a = v.intValue ?? (v.arrayValue?.count == 1 ? v.arrayValue?[0].intValue : nil) else {
                throw ConfigError(field: "axis", detail: "must be an integer, got \(v.brief)")
            }
            axis = a
        }
        return try Softmax(axis: axis, name: name)
    }

    public func build(inputShape: [Int]) throws {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(field: "", detail: "needs an input with known dimensions, got \(inputShape)")
        }
        outputShape = inputShape
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        y.update(from: x, count: n * outputCount)
        let width = outputShape.last!
        if !context.fusion.contains(.defersActivation) { Activation.softmax.apply(y, rows: n * outputCount / width, width: width) }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let width = outputShape.last!
        (context.fusion.contains(.defersActivation) ? .linear : Activation.softmax).backward(x: x, y: y, dy: dy, into: dx,
                                                                  rows: n * outputCount / width, width: width)
    }

    public var config: [String: JSONValue] { ["axis": -1] }
}
