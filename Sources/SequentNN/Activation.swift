import Foundation

/// The activation a layer applies to its output, given as Keras's `activation=` string.
///
/// Backward passes are written in terms of the activation's *output* `y`, so layers keep no pre-activation copy.
public enum Activation: String, Sendable, CaseIterable {
    case linear, relu, sigmoid, softmax, tanh

    /// Reads Keras's spelling; `nil`/`"linear"` mean no activation.
    public init(name: String?, field: String = "activation") throws {
        guard let name else { self = .linear; return }
        guard let a = Activation(rawValue: name.lowercased()) else {
            throw ConfigError(field: field, detail: "must be one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(name)\"")
        }
        self = a
    }

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
        case .sigmoid, .tanh, .softmax:
            if let bias { Activation.linear.apply(y, bias: bias, rows: rows, width: width) }
            let count = rows * width
            switch self {
            case .sigmoid: for i in 0..<count { y[i] = Activation.sigmoid(y[i]) }
            case .tanh: for i in 0..<count { y[i] = Foundation.tanh(y[i]) }
            default: for r in 0..<rows { Activation.softmaxRow(y + r * width, width) }
            }
        }
    }

    /// Turns `dy` (gradient w.r.t. the output) into the gradient w.r.t. the pre-activation, in place.
    func backward(y: UnsafePointer<Float>, dy: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let count = rows * width
        switch self {
        case .linear: return
        case .relu:
            Kernels.reluBackward(y: y, dy: dy, count: count)
        case .sigmoid:
            for i in 0..<count { dy[i] *= y[i] * (1 - y[i]) }
        case .tanh:
            for i in 0..<count { dy[i] *= 1 - y[i] * y[i] }
        case .softmax:
            // dz_i = y_i (dy_i − Σ_j dy_j y_j)
            for r in 0..<rows {
                let yr = y + r * width, dr = dy + r * width
                var dot: Float = 0
                for j in 0..<width { dot += dr[j] * yr[j] }
                for j in 0..<width { dr[j] = yr[j] * (dr[j] - dot) }
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
