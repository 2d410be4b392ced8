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
