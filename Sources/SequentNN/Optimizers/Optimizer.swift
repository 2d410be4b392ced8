import Foundation

/// An update rule over the model's single parameter block.
///
/// Parameters, gradients and every per-parameter state array ("slot") are one contiguous block each, so an
/// optimizer is one loop; `update` takes a range so the model can split that loop across threads.
/// Callers go through `step`, which applies the base-optimizer options (`options`) first, as Keras's
/// `BaseOptimizer.apply` does before `update_step`.
public protocol Optimizer: AnyObject, Sendable {
    /// Keras's name: "adam", "adamw", "nadam", "adagrad", "rmsprop", "sgd".
    var name: String { get }
    /// The rate of the next step. With a schedule it is derived from `iterations` (see `options.schedule`).
    var learningRate: Float { get set }
    /// Steps taken so far (Keras's `optimizer.iterations`); `update` uses `iterations + 1` as the step number.
    /// Implementations re-evaluate the schedule when it changes (each step, and on checkpoint restore).
    var iterations: Int { get set }
    /// Keras's base-optimizer keywords: weight decay, gradient clipping, learning-rate schedule.
    var options: OptimizerOptions { get set }
    /// Names of the state arrays, each as long as the parameter block ("m", "v", …).
    var slotNames: [String] { get }
    /// Allocates (zeroed) state for `count` parameters.
    func prepare(parameterCount count: Int)
    /// Applies the update rule alone to `params[range]` given `grads[range]` (no clipping or weight decay).
    func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>)
    /// State array `index` (for checkpoints).
    func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float>
    /// Keras-style config (learning rate and hyper-parameters).
    var config: [String: JSONValue] { get }
}

/// The keywords every Keras 3 optimizer takes from `BaseOptimizer`, applied in Keras's order each step:
/// clip the gradients (only one of `clipnorm`, `clipvalue`, `globalClipnorm`), then decay the weights
/// (`w −= w·wd·lr`), then the optimizer's own rule.
public struct OptimizerOptions: Sendable, Equatable {
    /// Decoupled weight decay (Keras's `weight_decay`): `w −= w·wd·lr` before the update.
    public var weightDecay: Float?
    /// Each variable's gradient is rescaled to at most this L2 norm (per weight array, as Keras's `clipnorm`).
    public var clipnorm: Float?
    /// Every gradient element is clamped to ±clipvalue.
    public var clipvalue: Float?
    /// All gradients together are rescaled to at most this L2 norm.
    public var globalClipnorm: Float?
    /// A Keras `LearningRateSchedule` evaluated at `iterations` before every step.
    public var schedule: LearningRateSchedule?

    public init(weightDecay: Float? = nil, clipnorm: Float? = nil, clipvalue: Float? = nil,
                globalClipnorm: Float? = nil, schedule: LearningRateSchedule? = nil) {
        self.weightDecay = weightDecay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.globalClipnorm = globalClipnorm
        self.schedule = schedule
    }

    /// True when the gradients must be complete (summed over shards, every variable) before any update,
    /// because a norm is taken over a whole variable or over all of them.
    public var clipsByNorm: Bool { clipnorm != nil || globalClipnorm != nil }
    /// True when `step` has elementwise work before the rule (checked once per piece, so plain optimizers
    /// pay nothing per element).
    var hasElementwise: Bool { clipvalue != nil || weightDecay != nil }

    /// The keys as Keras's `get_config` writes them (only those set).
    var config: [String: JSONValue] {
        var c: [String: JSONValue] = [:]
        if let v = weightDecay { c["weight_decay"] = .number(Double(v)) }
        if let v = clipnorm { c["clipnorm"] = .number(Double(v)) }
        if let v = clipvalue { c["clipvalue"] = .number(Double(v)) }
        if let v = globalClipnorm { c["global_clipnorm"] = .number(Double(v)) }
        return c
    }
}

extension Optimizer {
    /// One step on `params[range]`: clip by value and decay the weights if asked (norm clipping, which needs
    /// whole variables, is done by the model beforehand, see `clipGradientNorms`), then the rule.
    public func step(params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>, range: Range<Int>) {
        let o = options
        if o.hasElementwise {
            if let c = o.clipvalue { for i in range { grads[i] = min(max(grads[i], -c), c) } }
            if let wd = o.weightDecay {
                let k = wd * learningRate
                for i in range { params[i] -= params[i] * k }
            }
        }
        update(params: params, grads: UnsafePointer(grads), range: range)
    }

    /// Sets the learning rate from the schedule at the current step; called whenever `iterations` changes.
    func applySchedule() {
        if let s = options.schedule { learningRate = Float(s.rate(step: iterations)) }
    }

    /// Keras-style config with the common options merged in and the schedule in place of a fixed rate.
    func withOptions(_ c: [String: JSONValue]) -> [String: JSONValue] {
        var c = c
        c.merge(options.config) { _, new in new }
        if let s = options.schedule { c["learning_rate"] = s.serialized }
        return c
    }
}

/// Rescales gradients in place to Keras's `clipnorm` (each variable to at most that norm) or
/// `global_clipnorm` (all of them together). `variables` are the trainable weight arrays' ranges.
func clipGradientNorms(_ grads: UnsafeMutablePointer<Float>, variables: [Range<Int>], options: OptimizerOptions) {
    func sumSquares(_ r: Range<Int>) -> Double {
        var s: Double = 0
        for i in r { s += Double(grads[i]) * Double(grads[i]) }
        return s
    }
    func scale(_ r: Range<Int>, _ k: Float) { if k != 1 { for i in r { grads[i] *= k } } }
    if let c = options.clipnorm {
        // keras: g·c / max(‖g‖, c), per variable.
        for r in variables {
            let norm = Float(sumSquares(r).squareRoot())
            scale(r, c / max(norm, c))
        }
    } else if let c = options.globalClipnorm {
        // keras clip_by_global_norm: scale = c·min(1/‖g‖, 1/c), NaN when the norm is not finite.
        let norm = Float(variables.reduce(0) { $0 + sumSquares($1) }.squareRoot())
        let k = c * min(1 / norm, 1 / c) + (norm - norm)
        for r in variables { scale(r, k) }
    }
}

/// Owns an optimizer's state arrays.
final class Slots: @unchecked Sendable {
    private(set) var buffers: [FloatBuffer] = []

    func prepare(count: Int, slots: Int) {
        if buffers.count == slots, slots == 0 || buffers[0].count == max(count, 1) { return }
        buffers = (0..<slots).map { _ in FloatBuffer(count: count) }
    }

    subscript(_ i: Int) -> UnsafeMutablePointer<Float> { buffers[i].pointer }

    func buffer(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: buffers[i].pointer, count: buffers[i].count)
    }
}

/// Builds an optimizer from its Keras name, `{"type": name, "learning_rate": …, …}`, or what
/// `keras.optimizers.serialize` writes (`{"module": "keras.optimizers", "class_name": "Adam", "config":
/// get_config()}`). `learning_rate` may be a number or a Keras-serialized schedule; `weight_decay`, `clipnorm`,
/// `clipvalue` and `global_clipnorm` are accepted by every optimizer, as in Keras 3. Keras's other base keys
/// are accepted at the values that change nothing (`use_ema` false, `loss_scale_factor` and
/// `gradient_accumulation_steps` null) and refused otherwise, since Sequent does not compute them.
public func makeOptimizer(_ value: JSONValue, field: String = "optimizer") throws -> Optimizer {
    if value["class_name"] != nil { return try makeKerasOptimizer(value, field: field) }
    let isName = value.stringValue != nil
    var r = try ConfigReader(isName ? ["type": value] : value, path: field, ignorable: ["name"])
    do {
        let type = try r.requiredString("type").lowercased()
        if try r.bool("use_ema", default: false) {
            throw ConfigError(field: "use_ema", detail: "must be false (Sequent keeps no moving average of the "
                              + "weights), got true")
        }
        r.accept("ema_momentum", "ema_overwrite_frequency")   // read by Keras only with use_ema
        for key in ["loss_scale_factor", "gradient_accumulation_steps"] {
            if let v = r.value(key) { throw ConfigError(field: key, detail: "must be null (not supported), got \(v.brief)") }
        }
        let defaultRate: Double = type == "sgd" ? 0.01 : 0.001
        var schedule: LearningRateSchedule? = nil
        var rate = defaultRate
        if let lr = r.value("learning_rate") {
            if lr.objectValue != nil {
                // The constructors check a fixed rate; a schedule may start at 0 (a warmup), so they get the
                // default and `applySchedule` below sets the scheduled rate.
                schedule = try LearningRateSchedule.parse(lr, field: "learning_rate")
            } else {
                rate = try r.double("learning_rate", default: defaultRate)
            }
        }
        func positive(_ key: String, default d: Double? = nil) throws -> Float? {
            guard let v = try r.double(key) ?? d else { return nil }
            guard v > 0, v.isFinite else { throw ConfigError(field: key, detail: "must be > 0, got \(v)") }
            return Float(v)
        }
        var options = OptimizerOptions(schedule: schedule)
        options.weightDecay = try positive("weight_decay", default: type == "adamw" ? 0.004 : nil)
        options.clipnorm = try positive("clipnorm")
        options.clipvalue = try positive("clipvalue")
        options.globalClipnorm = try positive("global_clipnorm")
        let clips = [("clipnorm", options.clipnorm), ("clipvalue", options.clipvalue),
                     ("global_clipnorm", options.globalClipnorm)].filter { $0.1 != nil }
        if clips.count > 1 {
            // Keras raises: "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set."
            throw ConfigError(field: clips[1].0, detail: "only one of clipnorm, clipvalue and global_clipnorm can be "
                              + "set, got " + clips.map { "\($0.0)=\($0.1!)" }.joined(separator: ", "))
        }
        let optimizer: Optimizer
        switch type {
        case "sgd":
            optimizer = try SGD(learningRate: Float(rate),
                                momentum: Float(r.double("momentum", default: 0)),
                                nesterov: r.bool("nesterov", default: false))
        case "adam", "adamw":
            optimizer = try Adam(learningRate: Float(rate),
                                 beta1: Float(r.double("beta_1", default: 0.9)),
                                 beta2: Float(r.double("beta_2", default: 0.999)),
                                 epsilon: Float(r.double("epsilon", default: 1e-7)),
                                 amsgrad: r.bool("amsgrad", default: false), kerasName: type)
        case "nadam":
            optimizer = try Nadam(learningRate: Float(rate),
                                  beta1: Float(r.double("beta_1", default: 0.9)),
                                  beta2: Float(r.double("beta_2", default: 0.999)),
                                  epsilon: Float(r.double("epsilon", default: 1e-7)))
        case "adagrad":
            optimizer = try Adagrad(learningRate: Float(rate),
                                    initialAccumulatorValue: Float(r.double("initial_accumulator_value", default: 0.1)),
                                    epsilon: Float(r.double("epsilon", default: 1e-7)))
        case "rmsprop":
            optimizer = try RMSprop(learningRate: Float(rate),
                                    rho: Float(r.double("rho", default: 0.9)),
                                    momentum: Float(r.double("momentum", default: 0)),
                                    epsilon: Float(r.double("epsilon", default: 1e-7)),
                                    centered: r.bool("centered", default: false))
        default:
            throw ConfigError(field: "type",
                              detail: "must be one of adagrad, adam, adamw, nadam, rmsprop, sgd, got \"\(type)\"")
        }
        try r.finish()
        optimizer.options = options
        optimizer.applySchedule()
        return optimizer
    } catch let e as ConfigError {
        // A bare string optimizer has no sub-fields to name.
        throw isName && e.field == "type" ? ConfigError(field: field, detail: e.detail) : e.prefixed(by: field)
    }
}

/// The classes `keras.optimizers.serialize` names for the optimizers Sequent has, by their `type`.
private let kerasOptimizerClasses = ["SGD": "sgd", "RMSprop": "rmsprop", "Adam": "adam", "AdamW": "adamw",
                                     "Nadam": "nadam", "Adagrad": "adagrad"]

/// `{"module": "keras.optimizers", "class_name", "config", "registered_name"}` → the flat form with `type`.
private func makeKerasOptimizer(_ value: JSONValue, field: String) throws -> Optimizer {
    var outer = try ConfigReader(value, path: field, ignorable: ["registered_name"])
    let flat: JSONValue
    do {
        let cls = try outer.requiredString("class_name")
        if let module = try outer.string("module"), module != "keras.optimizers" {
            throw ConfigError(field: "module", detail: "must be \"keras.optimizers\", got \"\(module)\"")
        }
        guard let type = kerasOptimizerClasses[cls] else {
            throw ConfigError(field: "class_name", detail: "must be one of "
                              + kerasOptimizerClasses.keys.sorted().joined(separator: ", ") + ", got \"\(cls)\"")
        }
        let config = outer.value("config") ?? .object([:])
        try outer.finish()
        guard case .object(var o) = config else {
            throw ConfigError(field: "config", detail: "must be a JSON object, got \(config.brief)")
        }
        if o["type"] != nil { throw ConfigError(field: "config.type", detail: "is not a Keras optimizer key") }
        o["type"] = .string(type)
        flat = .object(o)
    } catch let e as ConfigError { throw e.prefixed(by: field) }
    return try makeOptimizer(flat, field: field + ".config")
}

func checkRate(_ value: Float, _ field: String) throws {
    guard value > 0, value.isFinite else { throw ConfigError(field: field, detail: "must be > 0, got \(value)") }
}

func checkUnit(_ value: Float, _ field: String, closed: Bool = false) throws {
    guard value >= 0, closed ? value <= 1 : value < 1 else {
        throw ConfigError(field: field, detail: "must be in [0, 1\(closed ? "]" : ")"), got \(value)")
    }
}
