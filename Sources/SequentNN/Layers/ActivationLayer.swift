/// Keras's `Activation` layer: applies a named activation (`Activation("gelu")`) to every value.
///
/// It reports the function as its `activation`, so a final `Activation("softmax")` folds into cross-entropy
/// just as `Dense(activation="softmax")` does, and predict applies it the same way.
public final class ActivationLayer: Layer, @unchecked Sendable {
    public let typeName = "Activation"
    public var name: String
    public let activation: Activation
    public private(set) var outputShape: [Int] = []

    public init(_ activation: Activation, name: String = "") {
        self.activation = activation
        self.name = name
    }

    /// Reads `activation` (required; a name, or Keras's `{"class_name": …}` form via `ModelConfig.kerasName`).
    static func make(_ r: inout ConfigReader, name: String) throws -> ActivationLayer {
        guard let v = r.value("activation") else { throw ConfigError(field: "activation", detail: "is required") }
        guard let n = ModelConfig.kerasName(v) else {
            throw ConfigError(field: "activation", detail: "must be a string, got \(v.brief)")
        }
        return ActivationLayer(try Activation(name: n), name: name)
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
        // Softmax works over the last axis, as Keras's does.
        let width = outputShape.last!
        if !context.fusion.contains(.defersActivation) { activation.apply(y, rows: n * outputCount / width, width: width) }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        let width = outputShape.last!
        (context.fusion.contains(.defersActivation) ? .linear : activation).backward(x: x, y: y, dy: dy, into: dx,
                                                          rows: n * outputCount / width, width: width)
    }

    public var config: [String: JSONValue] { ["activation": .string(activation.rawValue)] }
}
