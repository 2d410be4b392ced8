import Foundation

/// A compiled metric: the name it is reported under (`accuracy`, `val_accuracy`) and how it is computed.
public struct Metric: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case binaryAccuracy = "binary_accuracy"
        case sparseCategoricalAccuracy = "sparse_categorical_accuracy"
        case categoricalAccuracy = "categorical_accuracy"
        case sparseTopKCategoricalAccuracy = "sparse_top_k_categorical_accuracy"
        case topKCategoricalAccuracy = "top_k_categorical_accuracy"

        /// Keras 3's class name, for the `{"class_name": …, "config": …}` form.
        var className: String {
            switch self {
            case .binaryAccuracy: return "BinaryAccuracy"
            case .sparseCategoricalAccuracy: return "SparseCategoricalAccuracy"
            case .categoricalAccuracy: return "CategoricalAccuracy"
            case .sparseTopKCategoricalAccuracy: return "SparseTopKCategoricalAccuracy"
            case .topKCategoricalAccuracy: return "TopKCategoricalAccuracy"
            }
        }
    }

    /// The key in logs and history, as the user wrote it ("accuracy", "acc", "sparse_categorical_accuracy"),
    /// or for an object the metric's `name` (Keras's default: the snake-case name of its kind).
    public var name: String
    public var kind: Kind
    /// The top-k metrics' `k` (Keras's default 5).
    public var k: Int = 5
    /// Binary accuracy's `threshold` (Keras's default 0.5), compared with the model's output as Keras gives
    /// it to the metric: probabilities, or the raw scores of a `from_logits` loss.
    public var threshold: Float = 0.5
    /// Whether the compiled loss is `from_logits`: then, as in Keras 3 (`y_pred > threshold` whatever the loss),
    /// binary accuracy thresholds the raw scores; otherwise logits are a fused sigmoid's, and it thresholds
    /// the probability they stand for.
    public var lossFromLogits = false

    /// Keras's serialised form of this metric (`get_config()`), as a saved model keeps it.
    public var config: JSONValue {
        var c: [String: JSONValue] = ["name": .string(name)]
        switch kind {
        case .binaryAccuracy: c["threshold"] = .number(Double("\(threshold)") ?? Double(threshold))
        case .sparseTopKCategoricalAccuracy, .topKCategoricalAccuracy: c["k"] = .number(Double(k))
        default: break
        }
        return .object(["class_name": .string(kind.className), "config": .object(c)])
    }

    /// The name a metric spec logs under, as Keras 3's `get_metric` names it: a string as written, an object by
    /// its `name` or its kind's default name. Nil when the spec is not a metric Sequent knows.
    public static func loggedName(of spec: JSONValue) -> String? {
        if let s = spec.stringValue { return s }
        guard let (kind, options, _) = try? split(spec) else { return nil }
        return options["name"]?.stringValue ?? kind.rawValue
    }

    /// The kind and option keys of an object spec: `{"type": "top_k_categorical_accuracy", "k": 3}` or
    /// Keras's `{"class_name": "TopKCategoricalAccuracy", "config": {"k": 3, "name": …}}`; `path` is where the
    /// options live, for error messages.
    static func split(_ spec: JSONValue) throws -> (Kind, [String: JSONValue], String) {
        var outer = try ConfigReader(spec)
        if outer.has("class_name") {
            let cls = try outer.requiredString("class_name")
            outer.accept("module", "registered_name")
            let config = outer.value("config") ?? .object([:])
            try outer.finish()
            guard let kind = Kind.allCases.first(where: { $0.className == cls || $0.rawValue == cls }) else {
                throw ConfigError(field: "class_name", detail: "must be one of \(Kind.allCases.map(\.className).joined(separator: ", ")), got \"\(cls)\"")
            }
            guard let options = config.objectValue else {
                throw ConfigError(field: "config", detail: "must be a JSON object, got \(config.brief)")
            }
            return (kind, options, "config")
        }
        let type = try outer.requiredString("type")
        guard let kind = Kind(rawValue: type) else {
            throw ConfigError(field: "type", detail: "must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(type)\"")
        }
        var options = outer.object
        options["type"] = nil
        return (kind, options, "")
    }

    /// Resolves a metric spec: a name (see the `String` form) or an object with the metric's options
    /// (`k` for the top-k metrics, `threshold` for binary accuracy, `name`, `dtype` null/float32); other keys
    /// are refused naming `field` and the key.
    public static func resolve(_ spec: JSONValue, loss: Loss, outputWidth: Int, field: String) throws -> Metric {
        var metric = try resolveKind(spec, loss: loss, outputWidth: outputWidth, field: field)
        metric.lossFromLogits = loss.fromLogits
        return metric
    }

    static func resolveKind(_ spec: JSONValue, loss: Loss, outputWidth: Int, field: String) throws -> Metric {
        if let name = spec.stringValue { return try resolve(name, loss: loss, outputWidth: outputWidth, field: field) }
        guard spec.objectValue != nil else {
            throw ConfigError(field: field, detail: "must be a metric name or {\"type\": …} / {\"class_name\": …, \"config\": …}, got \(spec.brief)")
        }
        let kind: Kind, options: [String: JSONValue], path: String
        do { (kind, options, path) = try split(spec) } catch let e as ConfigError { throw e.prefixed(by: field) }
        var metric = Metric(name: kind.rawValue, kind: kind)
        let prefix = path.isEmpty ? field : field + "." + path
        do {
            var r = try ConfigReader(.object(options))
            if let n = try r.string("name") {
                guard !n.isEmpty else { throw ConfigError(field: "name", detail: "must not be empty") }
                metric.name = n
            }
            if let d = try r.string("dtype"), d != "float32" {
                throw ConfigError(field: "dtype", detail: "must be \"float32\" or null, got \"\(d)\"")
            }
            switch kind {
            case .sparseTopKCategoricalAccuracy, .topKCategoricalAccuracy:
                metric.k = try r.int("k", default: 5)
                // Keras takes any k (k ≤ 0 is never a hit); a k that can only give 0 is a typo worth a 400.
                guard metric.k >= 1 else { throw ConfigError(field: "k", detail: "must be ≥ 1, got \(metric.k)") }
                if kind == .sparseTopKCategoricalAccuracy, let v = r.value("from_sorted_ids"), v.boolValue != false {
                    throw ConfigError(field: "from_sorted_ids", detail: "must be false (the model outputs scores, not sorted class ids), got \(v.brief)")
                }
            case .binaryAccuracy:
                let t = try r.double("threshold", default: 0.5)
                metric.threshold = Float(t)
            default: break
            }
            try r.finish()
        } catch let e as ConfigError { throw e.prefixed(by: prefix) }
        try metric.check(loss: loss, outputWidth: outputWidth, field: field)
        return metric
    }

    /// Resolves a metric name the way Keras does: `"accuracy"`/`"acc"` becomes binary accuracy for a one-unit
    /// output or binary cross-entropy, sparse categorical accuracy when targets are class indices, and
    /// categorical accuracy otherwise. A metric named explicitly must read the targets the loss gives it:
    /// `categorical_accuracy` with `sparse_categorical_crossentropy` would compare one class index with ten
    /// one-hot columns (Keras reports a meaningless number), so it is refused naming `field`.
    public static func resolve(_ name: String, loss: Loss, outputWidth: Int, field: String) throws -> Metric {
        var metric = try resolveKind(name, loss: loss, outputWidth: outputWidth, field: field)
        metric.lossFromLogits = loss.fromLogits
        return metric
    }

    static func resolveKind(_ name: String, loss: Loss, outputWidth: Int, field: String) throws -> Metric {
        switch name {
        case "accuracy", "acc":
            if outputWidth == 1 || loss is BinaryCrossentropy { return Metric(name: name, kind: .binaryAccuracy) }
            if loss.targetWidth(outputWidth: outputWidth) == 1 {
                return Metric(name: name, kind: .sparseCategoricalAccuracy)
            }
            return Metric(name: name, kind: .categoricalAccuracy)
        default:
            guard let kind = Kind(rawValue: name) else {
                throw ConfigError(field: field, detail: "must be \"accuracy\", \(Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")) or an object with the metric's options, got \"\(name)\"")
            }
            let metric = Metric(name: name, kind: kind)
            try metric.check(loss: loss, outputWidth: outputWidth, field: field)
            return metric
        }
    }

    /// Refuses a metric that cannot read the targets `loss` gives on `outputWidth` units, naming `field`.
    func check(loss: Loss, outputWidth: Int, field: String) throws {
        let targetWidth = loss.targetWidth(outputWidth: outputWidth)
        guard reads(targetWidth: targetWidth, outputWidth: outputWidth) else {
            let gives = targetWidth == 1 && !(loss is BinaryCrossentropy) && outputWidth > 1
                ? "class indices (1 value per sample)"
                : outputWidth == 1 ? "one 0/1 label per sample" : "\(targetWidth) target values per sample"
            throw ConfigError(field: field, detail: "\"\(name)\" needs \(kind.layout(outputWidth: outputWidth)), \(loss.name) on \(outputWidth) output unit\(outputWidth == 1 ? "" : "s") gives \(gives); use \"accuracy\", which picks the matching accuracy")
        }
    }

    /// Whether this metric can read targets of `targetWidth` values per sample against `outputWidth` outputs.
    func reads(targetWidth: Int, outputWidth: Int) -> Bool {
        switch kind {
        case .binaryAccuracy: return targetWidth == outputWidth
        case .sparseCategoricalAccuracy, .sparseTopKCategoricalAccuracy: return targetWidth == 1 && outputWidth > 1
        case .categoricalAccuracy, .topKCategoricalAccuracy: return targetWidth == outputWidth && outputWidth > 1
        }
    }

    /// Sum over `n` samples of the per-sample metric; `targetWidth` is the stride of `target`'s rows. With
    /// `logits` the output holds pre-activation scores: argmax is unchanged; for a fused sigmoid the binary
    /// threshold t on probabilities is log(t / (1 − t)) on logits (0 for 0.5), while a `from_logits` loss's
    /// scores are compared with t itself, as Keras 3 does (`lossFromLogits`). Reads only `n · width` outputs and `n · targetWidth` targets, whatever the
    /// pairing (`resolve` refuses the mismatched ones; a label that is not a class index never counts as a hit).
    func evaluate(output: UnsafePointer<Float>, target: UnsafePointer<Float>, n: Int, width: Int, targetWidth: Int,
                  logits: Bool) -> Double {
        var total = 0.0
        switch kind {
        case .binaryAccuracy:
            // σ(z) > t ⟺ z > log(t / (1 − t)); t = 0.5 gives 0; t ≤ 0 (always above) and t ≥ 1 (never) give ∓∞.
            let t = self.threshold
            let threshold: Float = !logits || lossFromLogits ? t : t <= 0 ? -.infinity : t >= 1 ? .infinity : log(t / (1 - t))
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
        case .sparseTopKCategoricalAccuracy:
            guard targetWidth > 0 else { return 0 }
            for r in 0..<n {
                let label = target[r * targetWidth]
                guard label.isFinite, label >= 0, label < Float(width) else { continue }
                if inTopK(output + r * width, width, label: Int(label), k: k) { total += 1 }
            }
        case .topKCategoricalAccuracy:
            guard targetWidth > 0 else { return 0 }
            // Keras takes the label as argmax of the one-hot target (the first maximum).
            for r in 0..<n where inTopK(output + r * width, width, label: argmax(target + r * targetWidth, targetWidth), k: k) {
                total += 1
            }
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
        case .categoricalAccuracy, .topKCategoricalAccuracy: return "one-hot targets (\(outputWidth) values per sample) and at least 2 output units"
        case .sparseTopKCategoricalAccuracy: return "class indices (1 value per sample) and at least 2 output units"
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

/// Keras 3's `ops.in_top_k` (JAX backend): the label's rank is 1 + the number of scores strictly greater than
/// its own, so a tie at the k-th place counts as a hit; a NaN score at the label ranks last.
@inline(__always)
func inTopK(_ p: UnsafePointer<Float>, _ width: Int, label: Int, k: Int) -> Bool {
    let own = p[label].isNaN ? -Float.infinity : p[label]
    var greater = 0
    for j in 0..<width where p[j] > own { greater += 1 }
    return greater + 1 <= k
}
