import Foundation

/// The activation a layer applies to its output, given as Keras's `activation=` string.
///
/// Formulas and defaults are Keras 3's (`keras.activations`): `leaky_relu` has negative_slope 0.2 (the
/// LeakyReLU *layer*'s default is 0.3), `elu` alpha 1, `gelu` the exact erf form (approximate=False),
/// `hard_sigmoid` is relu6(x + 3) / 6, `swish` is read as `silu`.
///
/// Backward passes are written in terms of the activation's *output* `y`, so layers keep no pre-activation copy;
/// only `gelu` and `silu`, which are not monotonic and so cannot be inverted from `y`, need the pre-activation
/// (`needsPreActivation`), which Dense and Conv2D then keep in their scratch.
public enum Activation: String, Sendable, CaseIterable {
    case linear, relu, sigmoid, softmax, tanh
    case leakyRelu = "leaky_relu", elu, selu, gelu, silu, softplus, relu6
    case hardSigmoid = "hard_sigmoid"

    /// Reads Keras's spelling; `nil`/`"linear"` mean no activation.
    public init(name: String?, field: String = "activation") throws {
        guard let name else { self = .linear; return }
        let key = name.lowercased()
        guard let a = Activation(rawValue: key == "swish" ? "silu" : key) else {
            throw ConfigError(field: field, detail: "must be one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
        }
        self = a
    }

    /// True when the derivative cannot be computed from the output alone (see the type's note).
    public var needsPreActivation: Bool { self == .gelu || self == .silu }

    /// Keras 3's `leaky_relu` default slope.
    static let leakySlope: Float = 0.2
    /// SELU's constants (Klambauer et al.), as Keras 3 writes them.
    static let seluAlpha: Float = 1.6732632423543772848170429916717
    static let seluScale: Float = 1.0507009873554804934193349852946

    /// Applies the activation in place to `rows × width` values (softmax works per row of `width`).
    func apply(_ y: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        apply(y, bias: nil, rows: rows, width: width)
    }

    /// Adds `bias` (one value per column, if given) and applies the activation, in one pass over memory.
    /// The loops are written branch-free so the compiler vectorises them.
    func apply(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows: Int, width: Int) {
        switch self {
        case .linear:
            if let bias { Kernels.addBias(y, bias: bias, rows: rows, width: width) }
        case .relu:
            if let bias { Kernels.biasRelu(y, bias: bias, rows: rows, width: width) }
            else { Kernels.relu(y, count: rows * width) }
        default:
            if let bias { Activation.linear.apply(y, bias: bias, rows: rows, width: width) }
            let count = rows * width
            switch self {
            case .sigmoid: for i in 0..<count { y[i] = Activation.sigmoid(y[i]) }
            case .tanh: for i in 0..<count { y[i] = Foundation.tanh(y[i]) }
            case .softmax: for r in 0..<rows { Activation.softmaxRow(y + r * width, width) }
            default: for i in 0..<count { y[i] = value(y[i]) }
            }
        }
    }

    /// The activation of one value, for the element-wise activations added for Keras fidelity.
    @inline(__always)
    func value(_ x: Float) -> Float {
        switch self {
        case .linear: return x
        case .relu: return max(x, 0)
        case .sigmoid: return Activation.sigmoid(x)
        case .tanh: return Foundation.tanh(x)
        case .leakyRelu: return x >= 0 ? x : Activation.leakySlope * x
        case .elu: return x > 0 ? x : expm1(x)
        case .selu: return Activation.seluScale * (x > 0 ? x : Activation.seluAlpha * expm1(x))
        case .gelu: return 0.5 * x * (1 + erf(x * Float(0.5).squareRoot()))
        case .silu: return x * Activation.sigmoid(x)
        // log(1 + eˣ) without overflow for large x or loss of precision for very negative x.
        case .softplus: return max(x, 0) + log1p(exp(-abs(x)))
        case .relu6: return min(max(x, 0), 6)
        case .hardSigmoid: return min(max(x + 3, 0), 6) / 6
        case .softmax: preconditionFailure("softmax works on rows, not single values")
        }
    }

    /// Derivative of `value` at pre-activation `x` (for `needsPreActivation`) given output `y`.
    @inline(__always)
    func derivative(x: Float, y: Float) -> Float {
        switch self {
        case .linear: return 1
        case .relu: return y > 0 ? 1 : 0
        case .sigmoid: return y * (1 - y)
        case .tanh: return 1 - y * y
        case .leakyRelu: return y > 0 ? 1 : Activation.leakySlope
        case .elu: return y > 0 ? 1 : y + 1                                  // αeˣ = y + α, α = 1
        case .selu: return y > 0 ? Activation.seluScale : y + Activation.seluScale * Activation.seluAlpha
        case .gelu:   // Φ(x) + x·φ(x)
            let cdf = 0.5 * (1 + erf(x * Float(0.5).squareRoot()))
            return cdf + x * exp(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
        case .silu:
            let s = Activation.sigmoid(x)
            return s * (1 + x * (1 - s))
        case .softplus: return -expm1(-y)                                   // σ(x) = 1 − e⁻ʸ
        case .relu6: return y > 0 && y < 6 ? 1 : 0
        case .hardSigmoid: return y > 0 && y < 1 ? 1 / 6 : 0
        case .softmax: preconditionFailure("softmax works on rows, not single values")
        }
    }

    /// Turns `dy` (gradient w.r.t. the output) into the gradient w.r.t. the pre-activation, in place.
    /// `x`, the pre-activation, is needed (only) when `needsPreActivation`.
    func backward(x: UnsafePointer<Float>? = nil, y: UnsafePointer<Float>, dy: UnsafeMutablePointer<Float>,
                  rows: Int, width: Int) {
        backward(x: x, y: y, dy: dy, into: dy, rows: rows, width: width)
    }

    /// As `backward(x:y:dy:rows:width:)`, writing the result to `dx` (which may be `dy`).
    func backward(x: UnsafePointer<Float>?, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                  into dx: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let count = rows * width
        switch self {
        case .linear:
            if dx != dy { dx.update(from: dy, count: count) }
        case .relu:
            if dx != dy { dx.update(from: dy, count: count) }
            Kernels.reluBackward(y: y, dy: dx, count: count)
        case .sigmoid:
            for i in 0..<count { dx[i] = dy[i] * y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<count { dx[i] = dy[i] * (1 - y[i] * y[i]) }
        case .softmax:
            // dz_i = y_i (dy_i − Σ_j dy_j y_j)
            for r in 0..<rows {
                let yr = y + r * width, dr = dy + r * width, out = dx + r * width
                var dot: Float = 0
                for j in 0..<width { dot += dr[j] * yr[j] }
                for j in 0..<width { out[j] = yr[j] * (dr[j] - dot) }
            }
        default:
            if needsPreActivation {
                guard let x else { preconditionFailure("\(rawValue) needs its pre-activation for the gradient") }
                for i in 0..<count { dx[i] = dy[i] * derivative(x: x[i], y: y[i]) }
            } else {
                for i in 0..<count { dx[i] = dy[i] * derivative(x: 0, y: y[i]) }
            }
        }
    }

    /// Numerically stable logistic function.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }

    /// Softmax of one row, shifted by its maximum so `exp` never overflows.
    @inline(__always)
    static func softmaxRow(_ z: UnsafeMutablePointer<Float>, _ width: Int) {
        var m = -Float.infinity
        for j in 0..<width where z[j] > m { m = z[j] }
        var sum: Float = 0
        for j in 0..<width {
            let e = exp(z[j] - m)
            z[j] = e
            sum += e
        }
        let inv = 1 / sum
        for j in 0..<width { z[j] *= inv }
    }
}
