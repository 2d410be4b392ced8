/// Keras's weight regularizers `L1`, `L2` and `L1L2`: a penalty `l1·Σ|w| + l2·Σw²` added to every batch's loss
/// (the reported one and the differentiated one), whose gradient `l1·sign(w) + 2·l2·w` is added to the weight's.
///
/// As in Keras 3, only trainable weights contribute (a frozen layer's regularizer adds nothing), and the
/// penalty is also part of the validation loss.
public struct Regularizer: Sendable, Equatable {
    public var l1: Float
    public var l2: Float

    public init(l1: Float = 0, l2: Float = 0) {
        self.l1 = l1
        self.l2 = l2
    }

    /// `l1·Σ|w| + l2·Σw²` over `count` values, accumulated in Double so a million weights lose nothing.
    func penalty(_ w: UnsafePointer<Float>, count: Int) -> Double {
        var abs = 0.0, squares = 0.0
        for i in 0..<count {
            let v = Double(w[i])
            abs += Swift.abs(v)
            squares += v * v
        }
        return Double(l1) * abs + Double(l2) * squares
    }

    /// `grads[i] += scale·(l1·sign(w[i]) + 2·l2·w[i])` (sign(0) = 0, as TensorFlow's and JAX's gradients of |w|
    /// at 0). `scale` is 1/batch for an activity regularizer, whose penalty Keras divides by the batch size.
    func addGradient(_ w: UnsafePointer<Float>, _ grads: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        let twoL2 = 2 * l2 * scale, l1 = self.l1 * scale
        if l1 == 0 {
            for i in 0..<count { grads[i] += twoL2 * w[i] }
        } else {
            for i in 0..<count {
                let v = w[i]
                grads[i] += twoL2 * v + (v > 0 ? l1 : v < 0 ? -l1 : 0)
            }
        }
    }

    /// The Keras 3 serialized form (`{"class_name": "L2", "config": {"l2": 0.01}, …}`), which `parse` reads back.
    public var json: JSONValue {
        let (cls, config): (String, [String: JSONValue]) =
            l1 == 0 ? ("L2", ["l2": .number(Double(l2))])
            : l2 == 0 ? ("L1", ["l1": .number(Double(l1))])
            : ("L1L2", ["l1": .number(Double(l1)), "l2": .number(Double(l2))])
        return .object(["module": "keras.regularizers", "class_name": .string(cls), "config": .object(config),
                        "registered_name": .null])
    }

    /// Reads a Keras regularizer: null (none), the strings `"l1"`, `"l2"`, `"l1_l2"` (Keras's defaults: 0.01,
    /// 0.01, and 0 / 0) or the serialized `{"class_name": "L1" | "L2" | "L1L2", "config": {…}}`. Anything else
    /// (OrthogonalRegularizer, custom classes) is refused: ignoring it would train a different model.
    static func parse(_ value: JSONValue?, field: String) throws -> Regularizer? {
        guard let value, !value.isNull else { return nil }
        let supported = "null, \"l1\", \"l2\", \"l1_l2\" or {\"class_name\": \"L1\" | \"L2\" | \"L1L2\", \"config\": {…}}"
        if let s = value.stringValue {
            switch s {
            case "l1", "L1": return Regularizer(l1: 0.01)
            case "l2", "L2": return Regularizer(l2: 0.01)
            case "l1_l2", "L1L2": return Regularizer()
            default: throw ConfigError(field: field, detail: "must be \(supported), got \"\(s)\"")
            }
        }
        var r = try ConfigReader(value, path: field)
        do {
            let cls = try r.requiredString("class_name")
            try ModelConfig.checkKerasModule(&r, expected: "keras.regularizers", className: cls)
            let keys: [String]
            switch cls {
            case "L1": keys = ["l1"]
            case "L2": keys = ["l2"]
            case "L1L2": keys = ["l1", "l2"]
            default: throw ConfigError(field: "class_name", detail: "must be L1, L2 or L1L2 (other regularizers are not supported), got \"\(cls)\"")
            }
            var c = try ConfigReader(r.value("config") ?? .object([:]), path: "config")
            var reg = Regularizer()
            do {
                for key in keys {
                    // Keras's class defaults: L1(0.01), L2(0.01), L1L2(0, 0).
                    let value = try c.double(key, default: cls == "L1L2" ? 0 : 0.01)
                    guard value >= 0 else { throw ConfigError(field: key, detail: "must be >= 0, got \(value)") }
                    if key == "l1" { reg.l1 = Float(value) } else { reg.l2 = Float(value) }
                }
                try ModelConfig.refuseUnread(c)
            } catch let e as ConfigError { throw e.prefixed(by: "config") }
            try ModelConfig.refuseUnread(r)
            return reg
        } catch let e as ConfigError {
            throw e.prefixed(by: field)
        }
    }
}
