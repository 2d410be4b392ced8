import Foundation

/// An update rule over the model's single parameter block.
///
/// Parameters, gradients and every per-parameter state array ("slot") are one contiguous block each, so an
/// optimizer is one loop; `update` takes a range so the model can split that loop across threads.
public protocol Optimizer: AnyObject, Sendable {
    /// Keras's name: "adam", "rmsprop", "sgd".
    var name: String { get }
    var learningRate: Float { get set }
    /// Steps taken so far (Keras's `optimizer.iterations`); `update` uses `iterations + 1` as the step number.
    var iterations: Int { get set }
    /// Names of the state arrays, each as long as the parameter block ("m", "v", …).
    var slotNames: [String] { get }
    /// Allocates (zeroed) state for `count` parameters.
    func prepare(parameterCount count: Int)
    /// Applies one step to `params[range]` given `grads[range]`.
    func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, range: Range<Int>)
    /// State array `index` (for checkpoints).
    func slot(_ index: Int) -> UnsafeMutableBufferPointer<Float>
    /// Keras-style config (learning rate and hyper-parameters).
    var config: [String: JSONValue] { get }
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

/// Builds an optimizer from its Keras name or `{"type": name, "learning_rate": …, …}`.
public func makeOptimizer(_ value: JSONValue, field: String = "optimizer") throws -> Optimizer {
    let isName = value.stringValue != nil
    var r = try ConfigReader(isName ? ["type": value] : value, path: field, ignorable: ["name"])
    do {
        let type = try r.requiredString("type").lowercased()
        let optimizer: Optimizer
        switch type {
        case "sgd":
            optimizer = try SGD(learningRate: Float(r.double("learning_rate", default: 0.01)),
                                momentum: Float(r.double("momentum", default: 0)),
                                nesterov: r.bool("nesterov", default: false))
        case "adam":
            optimizer = try Adam(learningRate: Float(r.double("learning_rate", default: 0.001)),
                                 beta1: Float(r.double("beta_1", default: 0.9)),
                                 beta2: Float(r.double("beta_2", default: 0.999)),
                                 epsilon: Float(r.double("epsilon", default: 1e-7)))
        case "rmsprop":
            optimizer = try RMSprop(learningRate: Float(r.double("learning_rate", default: 0.001)),
                                    rho: Float(r.double("rho", default: 0.9)),
                                    momentum: Float(r.double("momentum", default: 0)),
                                    epsilon: Float(r.double("epsilon", default: 1e-7)),
                                    centered: r.bool("centered", default: false))
        default:
            throw ConfigError(field: "type", detail: "must be one of adam, rmsprop, sgd, got \"\(type)\"")
        }
        try r.finish()
        return optimizer
    } catch let e as ConfigError {
        // A bare string optimizer has no sub-fields to name.
        throw isName && e.field == "type" ? ConfigError(field: field, detail: e.detail) : e.prefixed(by: field)
    }
}

func checkRate(_ value: Float, _ field: String) throws {
    guard value > 0, value.isFinite else { throw ConfigError(field: field, detail: "must be > 0, got \(value)") }
}

func checkUnit(_ value: Float, _ field: String, closed: Bool = false) throws {
    guard value >= 0, closed ? value <= 1 : value < 1 else {
        throw ConfigError(field: field, detail: "must be in [0, 1\(closed ? "]" : ")"), got \(value)")
    }
}
