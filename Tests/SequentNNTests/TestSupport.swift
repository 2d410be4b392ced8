@testable import SequentNN

/// Deterministic pseudo-random test data.
func randomArray(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in rng.uniform(-scale, scale) }
}

/// Compares the model's analytic parameter gradients with central finite differences of the loss.
/// Returns the worst relative error over the checked parameters.
func worstGradientError(model: Sequential, x: [Float], y: [Float], n: Int, context: ForwardContext = .inference,
                        epsilon: Float = 1e-2, maxChecks: Int = 400) -> (error: Double, checked: Int) {
    let analytic = model.lossAndGradients(x: x, y: y, n: n, context: context).grads
    let p = model.parameters
    var worst = 0.0
    // Check an evenly spread subset so big layers stay quick in debug builds.
    let stride = max(1, model.parameterCount / maxChecks)
    var checked = 0
    for i in Swift.stride(from: 0, to: model.parameterCount, by: stride) {
        let saved = p[i]
        p[i] = saved + epsilon
        let plus = model.lossValue(x: x, y: y, n: n, context: context)
        p[i] = saved - epsilon
        let minus = model.lossValue(x: x, y: y, n: n, context: context)
        p[i] = saved
        let numeric = (plus - minus) / Double(2 * epsilon)
        let a = Double(analytic[i])
        let err = abs(numeric - a) / max(1e-2, abs(numeric) + abs(a))
        worst = max(worst, err)
        checked += 1
    }
    return (worst, checked)
}

/// Sparse labels for `n` samples of `classes` classes.
func labels(_ n: Int, classes: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(Int(rng.next() % UInt64(classes))) }
}

/// One-hot rows.
func oneHot(_ labels: [Float], classes: Int) -> [Float] {
    var out = [Float](repeating: 0, count: labels.count * classes)
    for (i, l) in labels.enumerated() { out[i * classes + Int(l)] = 1 }
    return out
}

/// Smallest gap between the largest and second-largest value of any max-pooling window in the model, for
/// input `x`. Max pooling has no derivative where a window ties, so finite differences are only meaningful
/// when every window has a clear winner.
func smallestPoolingGap(model: Sequential, x: [Float], n: Int) -> Float {
    let ws = model.makeWorkspace(capacity: n, training: false)
    var x = x
    x.withUnsafeMutableBufferPointer { _ = model.forward(ws, x: $0.baseAddress!, n: n, context: .inference) }
    var smallest = Float.infinity
    for (i, layer) in model.layers.enumerated() {
        guard let pool = layer as? MaxPooling2D else { continue }
        let shape = i == 0 ? model.inputShape : model.layers[i - 1].outputShape
        let (h, w, c) = (shape[0], shape[1], shape[2])
        let (oh, ow) = (pool.outputShape[0], pool.outputShape[1])
        let top = pool.padding.padBefore(input: h, window: pool.poolSize[0], stride: pool.strides[0])
        let left = pool.padding.padBefore(input: w, window: pool.poolSize[1], stride: pool.strides[1])
        let input = ws.inputs[i]
        for s in 0..<n { for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c {
            var values: [Float] = []
            for ky in 0..<pool.poolSize[0] { for kx in 0..<pool.poolSize[1] {
                let iy = oy * pool.strides[0] + ky - top, ix = ox * pool.strides[1] + kx - left
                if iy >= 0 && iy < h && ix >= 0 && ix < w { values.append(input[((s * h + iy) * w + ix) * c + ch]) }
            } }
            values.sort(by: >)
            if values.count > 1 { smallest = min(smallest, values[0] - values[1]) }
        } } } }
    }
    return smallest
}

/// Runs one layer outside a model — build, forward, and with `dy` the backward pass — and returns its output
/// and input gradient. `dx` starts as NaN, so a backward pass that leaves a value unwritten (or adds to it
/// instead of writing it) shows up. `context` is both passes' (training mode for the augmentation layers).
func runLayer(_ layer: Layer, inputShape: [Int], x: [Float], n: Int, dy: [Float]? = nil,
              context: ForwardContext = .inference) throws
    -> (y: [Float], dx: [Float])
{
    try layer.build(inputShape: inputShape)
    let inCount = x.count, outCount = n * layer.outputCount
    func buffer(_ count: Int, _ value: Float = 0) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        p.initialize(repeating: value, count: max(count, 1))
        return p
    }
    let xp = buffer(inCount), yp = buffer(outCount), dyp = buffer(outCount), dxp = buffer(inCount, .nan)
    let scratch = buffer(layer.scratchCount(batch: n)), params = buffer(layer.parameterCount)
    let grads = buffer(layer.parameterCount)
    defer { for p in [xp, yp, dyp, dxp, scratch, params, grads] { p.deallocate() } }
    xp.update(from: x, count: inCount)
    layer.forward(x: xp, y: yp, n: n, params: params, scratch: scratch, context: context)
    let y = Array(UnsafeBufferPointer(start: yp, count: outCount))
    guard let dy else { return (y, []) }
    dyp.update(from: dy, count: outCount)
    layer.backward(x: xp, y: yp, dy: dyp, dx: dxp, n: n, params: params, grads: grads, scratch: scratch,
                   context: context)
    return (y, Array(UnsafeBufferPointer(start: dxp, count: inCount)))
}

/// Compares a parameter-free layer's input gradient with central finite differences of Σ y·w for a fixed
/// weighting w. Returns the worst relative error over every input value.
func worstInputGradientError(_ layer: Layer, inputShape: [Int], x: [Float], n: Int,
                             epsilon: Float = 1e-3, context: ForwardContext = .inference) throws -> Double {
    let w = randomArray(try runLayer(layer, inputShape: inputShape, x: x, n: n, context: context).y.count, seed: 99)
    func loss(_ x: [Float]) throws -> Double {
        zip(try runLayer(layer, inputShape: inputShape, x: x, n: n, context: context).y, w)
            .reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let analytic = try runLayer(layer, inputShape: inputShape, x: x, n: n, dy: w, context: context).dx
    var worst = 0.0
    for i in x.indices {
        var plus = x, minus = x
        plus[i] += epsilon
        minus[i] -= epsilon
        let numeric = (try loss(plus) - loss(minus)) / Double(2 * epsilon)
        let a = Double(analytic[i])
        worst = max(worst, abs(numeric - a) / max(1e-2, abs(numeric) + abs(a)))
    }
    return worst
}

/// Rebuilds `model` from its Sequent architecture JSON (through text, as a saved model is read).
func roundTrip(_ model: Sequential) throws -> Sequential {
    try ModelConfig.makeModel(JSONValue.parse(model.architecture.serialized()))
}

/// A Keras `to_json()`-style Sequential of one InputLayer and the given `(class_name, config)` layers.
func kerasModelJSON(input: [Int], _ layers: [(String, JSONValue)]) -> JSONValue {
    let inputLayer: JSONValue = ["class_name": "InputLayer",
                                 "config": ["batch_shape": .array([.null] + input.map { .number(Double($0)) })]]
    return ["class_name": "Sequential",
            "config": ["name": "sequential", "layers": .array([inputLayer] + layers.map {
                ["module": "keras.layers", "class_name": .string($0.0), "config": $0.1, "registered_name": .null]
            })]]
}

/// One forward and backward call of `layer` on its own, with weights `params` (laid out as the layer's
/// parameter specs) and a call context. `grads` and `dx` start as NaN, so a layer that leaves any value unwritten
/// breaks the gradient contract of Layer.swift visibly.
struct LayerCall {
    var y: [Float], dx: [Float], grads: [Float], params: [Float]

    init(_ layer: Layer, inputShape: [Int], x: [Float], n: Int, params initial: [Float], dy: [Float],
         context: ForwardContext) throws {
        try layer.build(inputShape: inputShape)
        let outCount = n * layer.outputCount
        var params = initial, scratch = [Float](repeating: 0, count: max(1, layer.scratchCount(batch: n, fusion: context.fusion)))
        var xv = x, yv = [Float](repeating: 0, count: outCount), dyv = dy
        var dxv = [Float](repeating: .nan, count: x.count), gv = [Float](repeating: .nan, count: max(1, layer.parameterCount))
        precondition(params.count == layer.parameterCount && dy.count == outCount)
        params.append(0)
        xv.withUnsafeMutableBufferPointer { xp in
            yv.withUnsafeMutableBufferPointer { yp in
                params.withUnsafeMutableBufferPointer { pp in
                    scratch.withUnsafeMutableBufferPointer { sp in
                        layer.forward(x: xp.baseAddress!, y: yp.baseAddress!, n: n, params: pp.baseAddress!,
                                      scratch: sp.baseAddress!, context: context)
                        dyv.withUnsafeMutableBufferPointer { dyp in
                            dxv.withUnsafeMutableBufferPointer { dxp in
                                gv.withUnsafeMutableBufferPointer { gp in
                                    layer.backward(x: xp.baseAddress!, y: yp.baseAddress!, dy: dyp.baseAddress!,
                                                   dx: dxp.baseAddress!, n: n, params: pp.baseAddress!,
                                                   grads: gp.baseAddress!, scratch: sp.baseAddress!, context: context)
                                }
                            }
                        }
                    }
                }
            }
        }
        y = yv
        dx = dxv
        grads = Array(gv.prefix(layer.parameterCount))
        self.params = Array(params.dropLast())
    }
}
