import Foundation

/// A Keras 3 learning-rate schedule (`keras.optimizers.schedules`), evaluated at the optimizer's step count
/// (`iterations`, from 0) before each step, exactly as `BaseOptimizer._get_current_learning_rate` does.
public enum LearningRateSchedule: Sendable, Equatable {
    /// `lr0 · rate^(step / steps)`, the exponent floored when `staircase`.
    case exponentialDecay(initial: Double, decaySteps: Double, decayRate: Double, staircase: Bool, name: String)
    /// `lr0 / (1 + rate · step / steps)`, the quotient floored when `staircase`.
    case inverseTimeDecay(initial: Double, decaySteps: Double, decayRate: Double, staircase: Bool, name: String)
    /// `values[0]` while `step ≤ boundaries[0]`, `values[i]` for `boundaries[i-1] < step ≤ boundaries[i]`, then the last.
    case piecewiseConstant(boundaries: [Double], values: [Double], name: String)
    /// Optional linear warmup from `initial` to `warmupTarget` over `warmupSteps`, then a cosine from the
    /// warmup target (or `initial`) down to `alpha` times it over `decaySteps`, constant afterwards.
    case cosineDecay(initial: Double, decaySteps: Double, alpha: Double, warmupTarget: Double?, warmupSteps: Double,
                     name: String)

    /// The rate at optimizer step `step` (keras/src/optimizers/schedules/learning_rate_schedule.py, `__call__`).
    public func rate(step: Int) -> Double {
        let t = Double(step)
        switch self {
        case let .exponentialDecay(lr0, steps, rate, staircase, _):
            let p = staircase ? (t / steps).rounded(.down) : t / steps
            return lr0 * pow(rate, p)
        case let .inverseTimeDecay(lr0, steps, rate, staircase, _):
            let p = staircase ? (t / steps).rounded(.down) : t / steps
            return lr0 / (1 + rate * p)
        case let .piecewiseConstant(boundaries, values, _):
            for (i, b) in boundaries.enumerated() where t <= b { return values[i] }
            return values[values.count - 1]
        case let .cosineDecay(lr0, steps, alpha, target, warmup, _):
            func decay(_ s: Double, from lr: Double) -> Double {
                lr * ((1 - alpha) * 0.5 * (1 + cos(Double.pi * s / steps)) + alpha)
            }
            guard let target else { return decay(min(t, steps), from: lr0) }
            let s = min(t, steps + warmup)
            return s < warmup ? (target - lr0) * (s / warmup) + lr0 : decay(s - warmup, from: target)
        }
    }

    /// The schedule as Keras 3 serializes it (`keras.saving.serialize_keras_object`).
    public var serialized: JSONValue {
        let (cls, config): (String, [String: JSONValue])
        switch self {
        case let .exponentialDecay(lr0, steps, rate, staircase, name), let .inverseTimeDecay(lr0, steps, rate, staircase, name):
            if case .exponentialDecay = self { cls = "ExponentialDecay" } else { cls = "InverseTimeDecay" }
            config = ["initial_learning_rate": .number(lr0), "decay_steps": .number(steps),
                      "decay_rate": .number(rate), "staircase": .bool(staircase), "name": .string(name)]
        case let .piecewiseConstant(boundaries, values, name):
            cls = "PiecewiseConstantDecay"
            config = ["boundaries": .array(boundaries.map { .number($0) }), "values": .array(values.map { .number($0) }),
                      "name": .string(name)]
        case let .cosineDecay(lr0, steps, alpha, target, warmup, name):
            cls = "CosineDecay"
            config = ["initial_learning_rate": .number(lr0), "decay_steps": .number(steps), "alpha": .number(alpha),
                      "warmup_target": target.map { .number($0) } ?? .null, "warmup_steps": .number(warmup),
                      "name": .string(name)]
        }
        return .object(["module": "keras.optimizers.schedules", "class_name": .string(cls), "config": .object(config),
                        "registered_name": .null])
    }

    /// Reads `{"module": "keras.optimizers.schedules", "class_name": …, "config": {…}}`; `field` is the path
    /// for errors (e.g. `learning_rate`).
    public static func parse(_ value: JSONValue, field: String) throws -> LearningRateSchedule {
        var outer = try ConfigReader(value, path: field, ignorable: ["registered_name"])
        do {
            let cls = try outer.requiredString("class_name")
            if let module = try outer.string("module"), module != "keras.optimizers.schedules" {
                throw ConfigError(field: "module", detail: "must be \"keras.optimizers.schedules\", got \"\(module)\"")
            }
            guard let configValue = outer.value("config") else { throw ConfigError(field: "config", detail: "is required") }
            try outer.finish()
            var r = try ConfigReader(configValue, path: "config")
            func positive(_ key: String) throws -> Double {
                guard let v = try r.double(key) else { throw ConfigError(field: "config.\(key)", detail: "is required") }
                guard v > 0 else { throw ConfigError(field: "config.\(key)", detail: "must be > 0, got \(v)") }
                return v
            }
            let schedule: LearningRateSchedule
            do {
                switch cls {
                case "ExponentialDecay", "InverseTimeDecay":
                    let lr0 = try positive("initial_learning_rate"), steps = try positive("decay_steps")
                    guard let rate = try r.double("decay_rate") else { throw ConfigError(field: "decay_rate", detail: "is required") }
                    let staircase = try r.bool("staircase", default: false)
                    let name = try r.string("name", default: cls)
                    schedule = cls == "ExponentialDecay"
                        ? .exponentialDecay(initial: lr0, decaySteps: steps, decayRate: rate, staircase: staircase, name: name)
                        : .inverseTimeDecay(initial: lr0, decaySteps: steps, decayRate: rate, staircase: staircase, name: name)
                case "PiecewiseConstantDecay":
                    func numbers(_ key: String) throws -> [Double] {
                        guard let a = r.value(key)?.arrayValue, a.allSatisfy({ $0.doubleValue != nil }) else {
                            throw ConfigError(field: key, detail: "must be a list of numbers")
                        }
                        return a.map { $0.doubleValue! }
                    }
                    let boundaries = try numbers("boundaries"), values = try numbers("values")
                    // Keras: "The length of boundaries should be 1 less than the length of values".
                    guard values.count == boundaries.count + 1 else {
                        throw ConfigError(field: "values", detail: "must have one more entry than boundaries "
                                          + "(\(boundaries.count)), got \(values.count)")
                    }
                    guard values.allSatisfy({ $0 > 0 }) else {
                        throw ConfigError(field: "values", detail: "must all be > 0, got \(values)")
                    }
                    schedule = .piecewiseConstant(boundaries: boundaries, values: values,
                                                  name: try r.string("name", default: cls))
                case "CosineDecay":
                    let lr0 = try r.double("initial_learning_rate") ?? -1
                    guard lr0 >= 0 else { throw ConfigError(field: "initial_learning_rate", detail: "must be >= 0") }
                    let steps = try positive("decay_steps")
                    let alpha = try r.double("alpha", default: 0)
                    let target = try r.double("warmup_target")
                    let warmup = try r.double("warmup_steps", default: 0)
                    guard warmup >= 0 else { throw ConfigError(field: "warmup_steps", detail: "must be >= 0, got \(warmup)") }
                    schedule = .cosineDecay(initial: lr0, decaySteps: steps, alpha: alpha, warmupTarget: target,
                                            warmupSteps: warmup, name: try r.string("name", default: cls))
                default:
                    throw ConfigError(field: "class_name", detail: "must be one of CosineDecay, ExponentialDecay, "
                                      + "InverseTimeDecay, PiecewiseConstantDecay, got \"\(cls)\"")
                }
                try r.finish()
            } catch let e as ConfigError where e.field != "class_name" && !e.field.hasPrefix("config") {
                throw e.prefixed(by: "config")
            }
            return schedule
        } catch let e as ConfigError {
            throw e.prefixed(by: field)
        }
    }
}
