/// Keras's `LeakyReLU` layer: `x` for x ≥ 0, `negative_slope · x` below. The layer's default slope is 0.3
/// (Keras 3), unlike the `leaky_relu` activation's 0.2. Keras 2 configs spell the slope `alpha`.
public final class LeakyReLU: Layer, @unchecked Sendable {
    public let typeName = "LeakyReLU"
    public var name: String
    public let negativeSlope: Float
    public private(set) var outputShape: [Int] = []

    public init(negativeSlope: Float = 0.3, name: String = "") throws {
        guard negativeSlope >= 0 else {
            throw ConfigError(field: "negative_slope", detail: "must be ≥ 0, got \(negativeSlope)")
        }
        self.negativeSlope = negativeSlope
        self.name = name
    }

    static func make(_ r: inout ConfigReader, name: String) throws -> LeakyReLU {
        if r.has("alpha") && r.has("negative_slope") {
            throw ConfigError(field: "alpha", detail: "is the old name of negative_slope; give one of them")
        }
        let slope = try r.double("negative_slope") ?? r.double("alpha") ?? 0.3
        return try LeakyReLU(negativeSlope: Float(slope), name: name)
    }

    public func build(inputShape: [Int]) throws { outputShape = inputShape }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        for i in 0..<(n * outputCount) { y[i] = x[i] >= 0 ? x[i] : negativeSlope * x[i] }
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        guard let dx else { return }
        for i in 0..<(n * outputCount) { dx[i] = x[i] > 0 ? dy[i] : negativeSlope * dy[i] }
    }

    public var config: [String: JSONValue] { ["negative_slope": .number(Double(negativeSlope))] }
}
