/// A compiled metric: the name it is reported under (`accuracy`, `val_accuracy`) and how it is computed.
public struct Metric: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case binaryAccuracy = "binary_accuracy"
        case sparseCategoricalAccuracy = "sparse_categorical_accuracy"
        case categoricalAccuracy = "categorical_accuracy"
    }

    /// The key in logs and history, as the user wrote it ("accuracy", "acc", "sparse_categorical_accuracy").
    public var name: String
    public var kind: Kind

    /// Resolves a metric name the way Keras does: `"accuracy"`/`"acc"` becomes binary accuracy for a one-unit
    /// output or binary cross-entropy, sparse categorical accuracy when targets are class indices, and
    /// categorical accuracy otherwise.
    public static func resolve(_ name: String, loss: Loss, outputWidth: Int, field: String) throws -> Metric {
        switch name {
        case "accuracy", "acc":
            if outputWidth == 1 || loss is BinaryCrossentropy { return Metric(name: name, kind: .binaryAccuracy) }
            if loss.targetWidth(outputWidth: outputWidth) == 1 {
                return Metric(name: name, kind: .sparseCategoricalAccuracy)
            }
            return Metric(name: name, kind: .categoricalAccuracy)
        default:
            guard let kind = Kind(rawValue: name) else {
                throw ConfigError(field: field, detail: "must be \"accuracy\", \"binary_accuracy\", \"sparse_categorical_accuracy\" or \"categorical_accuracy\", got \"\(name)\"")
            }
            return Metric(name: name, kind: kind)
        }
    }

    /// Sum over `n` samples of the per-sample metric. With `logits` the output holds pre-activation scores:
    /// argmax is unchanged, and the binary threshold 0.5 on probabilities is 0 on logits.
    func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, logits: Bool) -> Double {
        var total = 0.0
        switch kind {
        case .binaryAccuracy:
            let threshold: Float = logits ? 0 : 0.5
            for r in 0..<n {
                var hits = 0
                for j in 0..<width where (output[r * width + j] > threshold) == (target[r * width + j] > 0.5) { hits += 1 }
                total += Double(hits) / Double(width)
            }
        case .sparseCategoricalAccuracy:
            for r in 0..<n where argmax(output + r * width, width) == Int(target[r]) { total += 1 }
        case .categoricalAccuracy:
            for r in 0..<n where argmax(output + r * width, width) == argmax(target + r * width, width) { total += 1 }
        }
        return total
    }
}

/// Index of the first maximum.
@inline(__always)
func argmax(_ p: UnsafePointer<Float>, _ width: Int) -> Int {
    var best = 0
    for j in 1..<max(width, 1) where p[j] > p[best] { best = j }
    return best
}
