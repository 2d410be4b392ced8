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
    /// categorical accuracy otherwise. A metric named explicitly must read the targets the loss gives it:
    /// `categorical_accuracy` with `sparse_categorical_crossentropy` would compare one class index with ten
    /// one-hot columns (Keras reports a meaningless number), so it is refused naming `field`.
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
            let metric = Metric(name: name, kind: kind)
            let targetWidth = loss.targetWidth(outputWidth: outputWidth)
            guard metric.reads(targetWidth: targetWidth, outputWidth: outputWidth) else {
                let gives = targetWidth == 1 && !(loss is BinaryCrossentropy) && outputWidth > 1
                    ? "class indices (1 value per sample)"
                    : outputWidth == 1 ? "one 0/1 label per sample" : "\(targetWidth) target values per sample"
                throw ConfigError(field: field, detail: "\"\(name)\" needs \(kind.layout(outputWidth: outputWidth)), \(loss.name) on \(outputWidth) output unit\(outputWidth == 1 ? "" : "s") gives \(gives); use \"accuracy\", which picks the matching accuracy")
            }
            return metric
        }
    }

    /// Whether this metric can read targets of `targetWidth` values per sample against `outputWidth` outputs.
    func reads(targetWidth: Int, outputWidth: Int) -> Bool {
        switch kind {
        case .binaryAccuracy: return targetWidth == outputWidth
        case .sparseCategoricalAccuracy: return targetWidth == 1 && outputWidth > 1
        case .categoricalAccuracy: return targetWidth == outputWidth && outputWidth > 1
        }
    }

    /// Sum over `n` samples of the per-sample metric; `targetWidth` is the stride of `target`'s rows. With
    /// `logits` the output holds pre-activation scores: argmax is unchanged, and the binary threshold 0.5 on
    /// probabilities is 0 on logits. Reads only `n · width` outputs and `n · targetWidth` targets, whatever the
    /// pairing (`resolve` refuses the mismatched ones; a label that is not a class index never counts as a hit).
    func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, targetWidth: Int,
                  logits: Bool) -> Double {
        var total = 0.0
        switch kind {
        case .binaryAccuracy:
            let threshold: Float = logits ? 0 : 0.5
            let columns = min(width, targetWidth)
            guard columns > 0 else { return 0 }
            for r in 0..<n {
                var hits = 0
                for j in 0..<columns where (output[r * width + j] > threshold) == (target[r * targetWidth + j] > 0.5) { hits += 1 }
                total += Double(hits) / Double(columns)
            }
        case .sparseCategoricalAccuracy:
            guard targetWidth > 0 else { return 0 }
            for r in 0..<n {
                let label = target[r * targetWidth]
                // Int(_:) traps on NaN or out-of-range values; a label like that is simply not a hit.
                guard label.isFinite, label >= 0, label < Float(width) else { continue }
                if argmax(output + r * width, width) == Int(label) { total += 1 }
            }
        case .categoricalAccuracy:
            guard targetWidth > 0 else { return 0 }
            for r in 0..<n where argmax(output + r * width, width) == argmax(target + r * targetWidth, targetWidth) { total += 1 }
        }
        return total
    }
}

extension Metric.Kind {
    /// The targets this metric reads, for error messages.
    func layout(outputWidth: Int) -> String {
        switch self {
        case .binaryAccuracy: return "one 0/1 label per output unit (\(outputWidth) per sample)"
        case .sparseCategoricalAccuracy: return "class indices (1 value per sample) and at least 2 output units"
        case .categoricalAccuracy: return "one-hot targets (\(outputWidth) values per sample) and at least 2 output units"
        }
    }
}

/// Index of the first maximum.
@inline(__always)
func argmax(_ p: UnsafePointer<Float>, _ width: Int) -> Int {
    var best = 0
    for j in 1..<max(width, 1) where p[j] > p[best] { best = j }
    return best
}
