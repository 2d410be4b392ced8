import Foundation

/// A training objective. The model's reported loss is the mean of per-sample losses over the batch
/// (Keras's `sum_over_batch_size`), so gradients are per-sample gradients scaled by `1/N`.
public protocol Loss: Sendable {
    /// Keras's name, e.g. "sparse_categorical_crossentropy".
    var name: String { get }
    /// The model outputs raw scores rather than probabilities.
    var fromLogits: Bool { get }
    /// The output activation this loss can fold into its gradient (softmax or sigmoid), avoiding the
    /// ill-conditioned `∂log p / ∂p` path and its clipping.
    var fusableActivation: Activation? { get }
    /// Target values per sample for an output of `width`: 1 for sparse labels, `width` otherwise.
    func targetWidth(outputWidth: Int) -> Int
    /// Sum over `n` samples of the per-sample loss. When `grad` is given, writes `gradScale · ∂loss/∂output`
    /// there. With `logits` the output holds pre-activation scores (from_logits, or a fused activation).
    func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                  grad: UnsafeMutablePointer<Float>?, gradScale: Float) -> Double
}

extension Loss {
    public var fusableActivation: Activation? { nil }
    public func targetWidth(outputWidth: Int) -> Int { outputWidth }
    /// Checks that the loss can be used on the model's output; `width` is the per-sample output size.
    func validate(outputWidth width: Int) throws {}
}

/// Keras's `backend.epsilon()`: probabilities are clipped to [ε, 1 − ε] before taking logs.
let probabilityEpsilon: Float = 1e-7

/// Builds a loss from its Keras name, `{"type": name, "from_logits": bool, "label_smoothing": x}`, or the
/// Keras-serialised `{"class_name": "CategoricalCrossentropy", "config": {…}}` (`get_config()`'s keys: `name`
/// is accepted, `reduction` must be "sum_over_batch_size", `axis` -1, `dtype` null/float32, the sparse loss's
/// `ignore_class` null — the only forms Sequent computes). `label_smoothing` exists only where Keras 3 has it
/// (categorical and binary cross-entropy); on the others it is refused.
public func makeLoss(_ value: JSONValue, field: String = "loss") throws -> Loss {
    if let name = value.stringValue { return try buildLoss(name, nameField: field, options: nil, prefix: field) }
    guard value.objectValue != nil else {
        throw ConfigError(field: field, detail: "must be a loss name or {\"type\": …, \"from_logits\": …}, got \(value.brief)")
    }
    var outer = try ConfigReader(value, path: field)
    guard outer.has("class_name") else {
        let name: String
        do { name = try outer.requiredString("type") } catch let e as ConfigError { throw e.prefixed(by: field) }
        return try buildLoss(name, nameField: field + ".type", options: outer, prefix: field)
    }
    let prefix = field + ".config"
    let name: String
    var r: ConfigReader
    do {
        name = try outer.requiredString("class_name")
        outer.accept("module", "registered_name")
        let config = outer.value("config") ?? .object([:])
        try outer.finish()
        r = try ConfigReader(config, path: prefix)
    } catch let e as ConfigError { throw e.prefixed(by: field) }
    do {
        // Keras's get_config() keys that do not change the computation, held to the values Sequent computes.
        _ = try r.string("name")
        if let red = try r.string("reduction"), red != "sum_over_batch_size" {
            throw ConfigError(field: "reduction", detail: "must be \"sum_over_batch_size\" (the only reduction Sequent computes), got \"\(red)\"")
        }
        if let axis = try r.int("axis"), axis != -1 { throw ConfigError(field: "axis", detail: "must be -1, got \(axis)") }
        if let d = try r.string("dtype"), d != "float32" {
            throw ConfigError(field: "dtype", detail: "must be \"float32\" or null, got \"\(d)\"")
        }
    } catch let e as ConfigError { throw e.prefixed(by: prefix) }
    return try buildLoss(name, nameField: field + ".class_name", options: r, prefix: prefix)
}

/// The loss named `name`; `options` holds the remaining keys of an object form, reported under `prefix`.
private func buildLoss(_ name: String, nameField: String, options: ConfigReader?, prefix: String) throws -> Loss {
    var r = options
    let loss: Loss?
    do {
        let fromLogits = try r?.bool("from_logits", default: false) ?? false
        func labelSmoothing() throws -> Float {
            guard let ls = try r?.double("label_smoothing") else { return 0 }
            guard ls >= 0 && ls <= 1 else {
                throw ConfigError(field: "label_smoothing", detail: "must be in [0, 1], got \(ls)")
            }
            return Float(ls)
        }
        switch name.lowercased() {
        case "sparse_categorical_crossentropy", "sparsecategoricalcrossentropy":
            // Keras 3's SparseCategoricalCrossentropy has no label_smoothing argument (it would be a TypeError).
            if let v = r?.value("label_smoothing") {
                throw ConfigError(field: "label_smoothing", detail: "is not an argument of Keras 3's SparseCategoricalCrossentropy, got \(v.brief); use categorical_crossentropy with one-hot targets to smooth labels")
            }
            // get_config() writes `ignore_class: null`; a class to ignore would mask samples Sequent counts.
            if let v = r?.value("ignore_class") {
                throw ConfigError(field: "ignore_class", detail: "must be null (not supported), got \(v.brief)")
            }
            loss = SparseCategoricalCrossentropy(fromLogits: fromLogits)
        case "categorical_crossentropy", "categoricalcrossentropy":
            loss = CategoricalCrossentropy(fromLogits: fromLogits, labelSmoothing: try labelSmoothing())
        case "binary_crossentropy", "binarycrossentropy":
            loss = BinaryCrossentropy(fromLogits: fromLogits, labelSmoothing: try labelSmoothing())
        case "mean_squared_error", "mse", "meansquarederror":
            loss = MeanSquaredError()
        default:
            loss = nil
        }
        if loss != nil { try r?.finish() }
    } catch let e as ConfigError { throw e.prefixed(by: prefix) }
    guard let loss else {
        throw ConfigError(field: nameField, detail:
            "must be one of sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, mean_squared_error, got \"\(name)\"")
    }
    return loss
}

/// log Σ exp(z_j) for one row, shifted by the maximum so it never overflows.
@inline(__always)
func logSumExp(_ z: UnsafePointer<Float>, _ width: Int) -> Float {
    var m = -Float.infinity
    for j in 0..<width where z[j] > m { m = z[j] }
    var s: Float = 0
    for j in 0..<width { s += exp(z[j] - m) }
    return m + log(s)
}

/// Shared body of the two categorical cross-entropies: `target(row, j)` gives the target distribution.
@inline(__always)
func categoricalCrossentropy(output: UnsafePointer<Float>, n: Int, width: Int, logits: Bool,
                             grad: UnsafeMutablePointer<Float>?, gradScale: Float,
                             target: (Int, Int) -> Float) -> Double {
    var total = 0.0
    for r in 0..<n {
        let o = output + r * width
        if logits {
            // loss = LSE(z) − Σ t_j z_j (for a distribution t); ∂/∂z_j = softmax(z)_j · Σt − t_j
            let lse = logSumExp(o, width)
            var loss: Float = 0, tsum: Float = 0
            for j in 0..<width {
                let t = target(r, j)
                loss -= t * (o[j] - lse)
                tsum += t
            }
            total += Double(loss)
            if let g = grad?.advanced(by: r * width) {
                for j in 0..<width { g[j] = gradScale * (exp(o[j] - lse) * tsum - target(r, j)) }
            }
        } else {
            // Keras: p = y / Σy, clipped to [ε, 1 − ε]; loss = −Σ t_j log p_j.
            var sum: Float = 0
            for j in 0..<width { sum += o[j] }
            sum = max(sum, probabilityEpsilon)
            var loss: Float = 0, tsum: Float = 0
            for j in 0..<width {
                let t = target(r, j)
                let p = min(max(o[j] / sum, probabilityEpsilon), 1 - probabilityEpsilon)
                loss -= t * log(p)
                tsum += t
            }
            total += Double(loss)
            if let g = grad?.advanced(by: r * width) {
                // ∂/∂y_j of −Σ t_k log(y_k / S) = −t_j / y_j + Σt / S (the clip's flat region aside).
                for j in 0..<width {
                    let t = target(r, j)
                    let y = max(o[j], probabilityEpsilon * sum)
                    g[j] = gradScale * (-t / y + tsum / sum)
                }
            }
        }
    }
    return total
}
