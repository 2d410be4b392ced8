import Foundation

/// Keras's `ReLU` layer: `f(x) = x` above `threshold` (else 0), clipped to `[0, max_value]` when a maximum is
/// given, minus `negative_slope · max(threshold − x, 0)` — term for term Keras 3's `activations.relu`. As Keras's layer
/// does, it refuses a negative `max_value`, `negative_slope` or `threshold`.
public final class ReLU: Layer, @unchecked Sendable {
    public let typeName = "ReLU"
    public var name: String
    public let maxValue: Float?
    public let negativeSlope: Float
    public let threshold: Float
    public private(set) var outputShape: [Int] = []

    public init(maxValue: Float? = nil, negativeSlope: Float = 0, threshold: Float = 0, name: String = "") throws {
        if let maxValue, !(maxValue >= 0) {
            throw ConfigError(field: "max_value", detail: "must be ≥ 0, got \(maxValue)")
        }
        guard negativeSlope >= 0 else {
            throw ConfigError(field: "negative_slope", detail: "must be ≥ 0, got \(negativeSlope)")
        }
        guard threshold >= 0 else {
            throw ConfigError(field: "threshold", detail: "must be ≥ 0, got \(threshold)")
        }
        self.maxValue = maxValue
        self.negativeSlope = negativeSlope
        self.threshold = threshold
        self.name = name
    }

    static func make(_ r: inout ConfigReader, name: String) throws -> ReLU {
        try ReLU(maxValue: r.double("max_value").map(Float.init), negativeSlope: Float(r.double("negative_slope", default: 0)),
                 threshold: Float(r.double("threshold", default: 0)), name: name)
    }

    public func build(inputShape: [Int]) throws { outputShape = inputShape }

    @inline(__always)
    func value(_ x: Float) -> Float {
        var v = x > threshold ? x : 0
        if let maxValue { v = min(max(v, 0), maxValue) }
        return v - negativeSlope * max(threshold - x, 0)
    }

    @inline(__always)
    func derivative(_ x: Float) -> Float {
        var d: Float = 0
        if x > threshold { d = maxValue.map { x > 0 && x < $0 ? 1 : 0 } ?? 1 }
        if x < threshold { d += negativeSlope }
        return d
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        for i in 0..<(n * outputCount) { y[i] = value(x[i]) }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        for i in 0..<(n * outputCount) { dx[i] = dy[i] * derivative(x[i]) }
    }

    public var config: [String: JSONValue] {
        ["max_value": maxValue.map { .number(Double($0)) } ?? .null, "negative_slope": .number(Double(negativeSlope)),
         "threshold": .number(Double(threshold))]
    }
}
