/// Keras's `BatchNormalization` over the last (channel) axis.
///
/// Training: each channel is normalised by the mean and (biased) variance of the whole batch, over every
/// sample and position, then scaled by `gamma` and shifted by `beta`; the moving statistics move towards the
/// batch's by `1 - momentum`. Inference, and a frozen layer (Keras 3 runs a non-trainable BatchNormalization in
/// inference mode), use the moving statistics instead. Weights, in Keras's order: gamma (if `scale`), beta (if
/// `center`), moving_mean, moving_variance; the last two are non-trainable.
///
/// The batch is split across threads, but the statistics must be the whole batch's, as in Keras. So the
/// `Trainer` runs a training step in segments between these layers: each shard computes `partialMoments` of its
/// rows, the trainer combines them (`combine`) and each shard then normalises with the batch's numbers; the
/// backward pass does the same with `partialGradientSums`. Called on its own (`forward` / `backward` in training
/// mode), the layer uses the statistics of the rows it is given.
public final class BatchNormalization: Layer, @unchecked Sendable {
    public let typeName = "BatchNormalization"
    public var name: String
    public let momentum: Float
    public let epsilon: Float
    public let center: Bool
    public let scale: Bool
    public let betaInitializer: (initializer: Initializer, seed: UInt64?)
    public let gammaInitializer: (initializer: Initializer, seed: UInt64?)
    public let movingMeanInitializer: (initializer: Initializer, seed: UInt64?)
    public let movingVarianceInitializer: (initializer: Initializer, seed: UInt64?)
    public let betaRegularizer: Regularizer?, gammaRegularizer: Regularizer?
    public private(set) var outputShape: [Int] = []
    public private(set) var parameters: [ParameterSpec] = []
    /// Channels (the last axis), and positions per sample that share each channel's statistics.
    private(set) var channels = 0, positions = 1

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, center: Bool = true, scale: Bool = true,
                betaInitializer: (initializer: Initializer, seed: UInt64?) = (.zeros, nil),
                gammaInitializer: (initializer: Initializer, seed: UInt64?) = (.ones, nil),
                movingMeanInitializer: (initializer: Initializer, seed: UInt64?) = (.zeros, nil),
                movingVarianceInitializer: (initializer: Initializer, seed: UInt64?) = (.ones, nil),
                betaRegularizer: Regularizer? = nil, gammaRegularizer: Regularizer? = nil, name: String = "") throws {
        guard momentum.isFinite, momentum >= 0, momentum <= 1 else {
            throw ConfigError(field: "momentum", detail: "must be in [0, 1], got \(momentum)")
        }
        guard epsilon.isFinite, epsilon > 0 else {
            throw ConfigError(field: "epsilon", detail: "must be > 0, got \(epsilon)")
        }
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.betaInitializer = betaInitializer
        self.gammaInitializer = gammaInitializer
        self.movingMeanInitializer = movingMeanInitializer
        self.movingVarianceInitializer = movingVarianceInitializer
        self.betaRegularizer = betaRegularizer
        self.gammaRegularizer = gammaRegularizer
        self.name = name
    }

    /// The `axis` Keras wrote: -1, or the last axis counted with the batch (3 for images), which it becomes once
    /// Keras has built the layer. Checked in `build`, when the rank is known.
    private var axis = -1

    /// Reads Keras's config. `renorm` is refused; `synchronized` is accepted either way, since the statistics
    /// are always the whole batch's.
    static func make(_ r: inout ConfigReader, name: String) throws -> BatchNormalization {
        let axis: Int
        if let list = r.value("axis")?.arrayValue {
            let list = list.compactMap(\.intValue)
            guard list.count == 1 else {
                throw ConfigError(field: "axis", detail: "must be one axis (the channels, last), got \(list)")
            }
            axis = list[0]
        } else {
            axis = try r.int("axis") ?? -1
        }
        if try r.bool("renorm", default: false) {
            throw ConfigError(field: "renorm", detail: "must be false (batch renormalization is not supported), got true")
        }
        for key in ["renorm_clipping", "renorm_momentum", "synchronized"] { _ = r.value(key) }
        for key in ["beta_constraint", "gamma_constraint"] {
            if let v = r.value(key), !v.isNull {
                throw ConfigError(field: key, detail: "must be null (constraints are not supported), got \(v.brief)")
            }
        }
        let layer = try BatchNormalization(
            momentum: Float(r.double("momentum", default: 0.99)), epsilon: Float(r.double("epsilon", default: 1e-3)),
            center: r.bool("center", default: true), scale: r.bool("scale", default: true),
            betaInitializer: ModelConfig.initializer(r.value("beta_initializer"), field: "beta_initializer", default: .zeros),
            gammaInitializer: ModelConfig.initializer(r.value("gamma_initializer"), field: "gamma_initializer", default: .ones),
            movingMeanInitializer: ModelConfig.initializer(r.value("moving_mean_initializer"),
                                                           field: "moving_mean_initializer", default: .zeros),
            movingVarianceInitializer: ModelConfig.initializer(r.value("moving_variance_initializer"),
                                                               field: "moving_variance_initializer", default: .ones),
            betaRegularizer: Regularizer.parse(r.value("beta_regularizer"), field: "beta_regularizer"),
            gammaRegularizer: Regularizer.parse(r.value("gamma_regularizer"), field: "gamma_regularizer"), name: name)
        layer.axis = axis
        return layer
    }

    public func build(inputShape: [Int]) throws {
        guard let c = inputShape.last, c > 0, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(field: "", detail: "needs an input with known dimensions, got \(inputShape)")
        }
        guard axis == -1 || axis == inputShape.count else {
            throw ConfigError(field: "axis", detail: "must be -1 or \(inputShape.count) (the channels, last axis of "
                              + "an input of shape \(inputShape)), got \(axis)")
        }
        channels = c
        positions = inputShape.dropLast().reduce(1, *)
        outputShape = inputShape
        var specs: [ParameterSpec] = []
        if scale {
            specs.append(ParameterSpec(name: "gamma", shape: [c], initializer: gammaInitializer.initializer,
                                       seed: gammaInitializer.seed, regularizer: gammaRegularizer))
        }
        if center {
            specs.append(ParameterSpec(name: "beta", shape: [c], initializer: betaInitializer.initializer,
                                       seed: betaInitializer.seed, regularizer: betaRegularizer))
        }
        specs.append(ParameterSpec(name: "moving_mean", shape: [c], initializer: movingMeanInitializer.initializer,
                                   seed: movingMeanInitializer.seed, trainable: false))
        specs.append(ParameterSpec(name: "moving_variance", shape: [c], initializer: movingVarianceInitializer.initializer,
                                   seed: movingVarianceInitializer.seed, trainable: false))
        parameters = specs
    }

    public var forwardFlops: Int { 2 * positions * channels }

    // MARK: Weights

    /// Offsets of the weights in the layer's slice.
    private var gammaOffset: Int? { scale ? 0 : nil }
    private var betaOffset: Int? { center ? (scale ? channels : 0) : nil }
    private var movingMeanOffset: Int { (scale ? channels : 0) + (center ? channels : 0) }
    private var movingVarianceOffset: Int { movingMeanOffset + channels }

    // MARK: Scratch

    /// Per workspace: the mean and 1/σ the forward pass used, three per-channel work rows (so a call allocates
    /// nothing) and a pad that keeps what follows 8-byte aligned; then two double-precision partial sums per
    /// channel for the forward and two for the backward (Doubles, so 2 floats each).
    public func scratchCount(batch n: Int) -> Int { floatRows * channels + 4 * 2 * channels }

    /// Float rows before the Doubles: mean, 1/σ, three work rows, a pad.
    private let floatRows = 6

    /// Work row `k` (0…2) of `scratch`.
    private func work(_ scratch: UnsafeMutablePointer<Float>, _ k: Int) -> UnsafeMutablePointer<Float> {
        scratch + (2 + k) * channels
    }

    private func meanAndInverse(_ scratch: UnsafeMutablePointer<Float>) -> (mean: UnsafeMutablePointer<Float>,
                                                                           inverse: UnsafeMutablePointer<Float>) {
        (scratch, scratch + channels)
    }

    /// The shard's forward partial moments: per channel its mean and sum of squared deviations (Chan et al.'s
    /// form, which combines without the cancellation of Σx² − (Σx)²/N).
    func momentsBuffer(_ scratch: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Double> {
        UnsafeMutableRawPointer(scratch + floatRows * channels).bindMemory(to: Double.self, capacity: 2 * channels)
    }

    /// The shard's backward partial sums: per channel Σdy and Σdy·x̂.
    func gradientSumsBuffer(_ scratch: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Double> {
        UnsafeMutableRawPointer(scratch + floatRows * channels + 2 * 2 * channels).bindMemory(to: Double.self, capacity: 2 * channels)
    }

    // MARK: Training statistics, in phases

    /// Rows (sample × position) per channel in `n` samples.
    func rows(_ n: Int) -> Int { n * positions }

    /// Phase 1 of a training forward pass: this shard's moments of `x` into `momentsBuffer(scratch)`.
    func partialMoments(x: UnsafePointer<Float>, n: Int, scratch: UnsafeMutablePointer<Float>) {
        let c = channels, m = rows(n)
        let out = momentsBuffer(scratch)
        let sum = out, m2 = out + c
        sum.update(repeating: 0, count: c)
        m2.update(repeating: 0, count: c)
        guard m > 0 else { return }
        for r in 0..<m {
            let row = x + r * c
            for ch in 0..<c { sum[ch] += Double(row[ch]) }
        }
        for ch in 0..<c { sum[ch] /= Double(m) }   // now the shard's mean
        for r in 0..<m {
            let row = x + r * c
            for ch in 0..<c {
                let d = Double(row[ch]) - sum[ch]
                m2[ch] += d * d
            }
        }
    }

    /// Combines the shards' moments (`partials[s]` over `counts[s]` rows) into the batch's mean and biased
    /// variance per channel.
    func combine(_ partials: [UnsafePointer<Double>], counts: [Int]) -> (mean: [Double], variance: [Double]) {
        let c = channels
        var mean = [Double](repeating: 0, count: c), m2 = [Double](repeating: 0, count: c)
        var total = 0.0
        for (p, count) in zip(partials, counts) where count > 0 {
            let nb = Double(count), nTotal = total + nb
            for ch in 0..<c {
                let delta = p[ch] - mean[ch]
                mean[ch] += delta * nb / nTotal
                m2[ch] += p[c + ch] + delta * delta * total * nb / nTotal
            }
            total = nTotal
        }
        return (mean, m2.map { total > 0 ? $0 / total : 0 })
    }

    /// Stores the statistics one shard normalises with.
    func setStatistics(mean: [Double], variance: [Double], scratch: UnsafeMutablePointer<Float>) {
        let (mu, inv) = meanAndInverse(scratch)
        for ch in 0..<channels {
            mu[ch] = Float(mean[ch])
            inv[ch] = 1 / (Float(variance[ch]) + epsilon).squareRoot()
        }
    }

    /// Moves the moving statistics towards the batch's, as Keras does after each training batch.
    func updateMovingStatistics(params: UnsafeMutablePointer<Float>, mean: [Double], variance: [Double]) {
        let mm = params + movingMeanOffset, mv = params + movingVarianceOffset
        for ch in 0..<channels {
            mm[ch] = mm[ch] * momentum + Float(mean[ch]) * (1 - momentum)
            mv[ch] = mv[ch] * momentum + Float(variance[ch]) * (1 - momentum)
        }
    }

    /// Normalises with the statistics in `scratch` (the batch's, or the moving ones): `y = (x − μ)·γ/σ + β`, as
    /// Keras's `batch_normalization` computes it, `x·inv + (β − μ·inv)`.
    func normalizeWithStoredStatistics(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                                       params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let c = channels
        let (mean, inverse) = meanAndInverse(scratch)
        let a = work(scratch, 0), b = work(scratch, 1)
        for ch in 0..<c {
            a[ch] = inverse[ch] * (gammaOffset.map { params[$0 + ch] } ?? 1)
            b[ch] = (betaOffset.map { params[$0 + ch] } ?? 0) - mean[ch] * a[ch]
        }
        for r in 0..<rows(n) {
            let src = x + r * c, dst = y + r * c
            for ch in 0..<c { dst[ch] = src[ch] * a[ch] + b[ch] }
        }
    }

    /// Phase 1 of a training backward pass: this shard's Σdy and Σdy·x̂ per channel into
    /// `gradientSumsBuffer(scratch)`.
    func partialGradientSums(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, scratch: UnsafeMutablePointer<Float>) {
        let c = channels
        let (mu, inv) = meanAndInverse(scratch)
        let out = gradientSumsBuffer(scratch)
        let sumDy = out, sumDyXhat = out + c
        sumDy.update(repeating: 0, count: c)
        sumDyXhat.update(repeating: 0, count: c)
        for r in 0..<rows(n) {
            let xr = x + r * c, g = dy + r * c
            for ch in 0..<c {
                let d = Double(g[ch])
                sumDy[ch] += d
                sumDyXhat[ch] += d * Double((xr[ch] - mu[ch]) * inv[ch])
            }
        }
    }

    /// Phase 2 of a training backward pass, given the batch's sums over `total` rows: `dx` and this shard's
    /// share of the weight gradients (its own sums, which the trainer adds up with the other shards').
    func trainingBackward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, n: Int,
                          params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                          scratch: UnsafeMutablePointer<Float>, batchSums: [Double], total: Int) {
        let c = channels
        let local = gradientSumsBuffer(scratch)
        writeWeightGradients(grads: grads, sumDy: local, sumDyXhat: local + c)
        guard let dx else { return }
        let (mu, inv) = meanAndInverse(scratch)
        // dx = γ/σ · (dy − Σdy/N − x̂ · Σ(dy·x̂)/N)
        let count = Float(total)
        let a = work(scratch, 0), meanDy = work(scratch, 1), meanDyXhat = work(scratch, 2)
        for ch in 0..<c {
            a[ch] = inv[ch] * (gammaOffset.map { params[$0 + ch] } ?? 1)
            meanDy[ch] = Float(batchSums[ch]) / count
            meanDyXhat[ch] = Float(batchSums[c + ch]) / count
        }
        for r in 0..<rows(n) {
            let xr = x + r * c, g = dy + r * c, d = dx + r * c
            for ch in 0..<c {
                let xhat = (xr[ch] - mu[ch]) * inv[ch]
                d[ch] = a[ch] * (g[ch] - meanDy[ch] - xhat * meanDyXhat[ch])
            }
        }
    }

    /// dγ = Σdy·x̂, dβ = Σdy; the moving statistics get zero (they are not trained, but the contract is to write
    /// the whole slice).
    private func writeWeightGradients(grads: UnsafeMutablePointer<Float>, sumDy: UnsafePointer<Double>,
                                      sumDyXhat: UnsafePointer<Double>) {
        let c = channels
        if let g = gammaOffset { for ch in 0..<c { grads[g + ch] = Float(sumDyXhat[ch]) } }
        if let b = betaOffset { for ch in 0..<c { grads[b + ch] = Float(sumDy[ch]) } }
        (grads + movingMeanOffset).update(repeating: 0, count: 2 * c)
    }

    // MARK: Layer

    /// The moving statistics as a mean and 1/σ.
    private func movingStatistics(_ params: UnsafePointer<Float>, into scratch: UnsafeMutablePointer<Float>) {
        let (mu, inv) = meanAndInverse(scratch)
        for ch in 0..<channels {
            mu[ch] = params[movingMeanOffset + ch]
            inv[ch] = 1 / (params[movingVarianceOffset + ch] + epsilon).squareRoot()
        }
    }

    /// Training mode unless the layer is frozen, which, as in Keras 3, runs it in inference mode.
    func usesBatchStatistics(_ context: ForwardContext) -> Bool {
        context.training && !context.fusion.contains(.frozen)
    }

    public func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        if usesBatchStatistics(context) {
            partialMoments(x: x, n: n, scratch: scratch)
            let stats = combine([UnsafePointer(momentsBuffer(scratch))], counts: [rows(n)])
            setStatistics(mean: stats.mean, variance: stats.variance, scratch: scratch)
        } else {
            movingStatistics(params, into: scratch)
        }
        normalizeWithStoredStatistics(x: x, y: y, n: n, params: params, scratch: scratch)
    }

    public func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                         grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         context: ForwardContext) {
        partialGradientSums(x: x, dy: dy, n: n, scratch: scratch)
        if usesBatchStatistics(context) {
            let sums = gradientSumsBuffer(scratch)
            trainingBackward(x: x, dy: dy, dx: dx, n: n, params: params, grads: grads, scratch: scratch,
                             batchSums: Array(UnsafeBufferPointer(start: sums, count: 2 * channels)), total: rows(n))
            return
        }
        // Fixed statistics: an affine map per channel.
        let c = channels, sums = gradientSumsBuffer(scratch)
        writeWeightGradients(grads: grads, sumDy: sums, sumDyXhat: sums + c)
        guard let dx else { return }
        let (_, inv) = meanAndInverse(scratch)
        let scale = work(scratch, 0)
        for ch in 0..<c { scale[ch] = inv[ch] * (gammaOffset.map { params[$0 + ch] } ?? 1) }
        for r in 0..<rows(n) {
            let g = dy + r * c, d = dx + r * c
            for ch in 0..<c { d[ch] = g[ch] * scale[ch] }
        }
    }

    // MARK: Inference folding

    /// The per-channel affine map this layer is in inference: `y = x·a + b`.
    func inferenceAffine(_ params: UnsafePointer<Float>) -> (a: [Float], b: [Float]) {
        var a = [Float](repeating: 0, count: channels), b = a
        for ch in 0..<channels {
            let inv = 1 / (params[movingVarianceOffset + ch] + epsilon).squareRoot()
            a[ch] = inv * (gammaOffset.map { params[$0 + ch] } ?? 1)
            b[ch] = (betaOffset.map { params[$0 + ch] } ?? 0) - params[movingMeanOffset + ch] * a[ch]
        }
        return (a, b)
    }

    public var config: [String: JSONValue] {
        var c: [String: JSONValue] = [
            "axis": -1, "momentum": .number(Double(momentum)), "epsilon": .number(Double(epsilon)),
            "center": .bool(center), "scale": .bool(scale),
        ]
        let inits = [("beta_initializer", betaInitializer, Initializer.zeros),
                     ("gamma_initializer", gammaInitializer, .ones),
                     ("moving_mean_initializer", movingMeanInitializer, .zeros),
                     ("moving_variance_initializer", movingVarianceInitializer, .ones)]
        for (key, value, def) in inits where value.initializer != def || value.seed != nil {
            c[key] = ModelConfig.initializerJSON(value.initializer, seed: value.seed)
        }
        if let betaRegularizer { c["beta_regularizer"] = betaRegularizer.json }
        if let gammaRegularizer { c["gamma_regularizer"] = gammaRegularizer.json }
        return c
    }
}
