import Foundation

/// `model.fit` settings, with Keras's defaults.
public struct FitOptions: Sendable {
    public var epochs = 1
    public var batchSize = 32
    public var shuffle = true
    /// Seeds the per-epoch shuffles (dropout uses the model's seed).
    public var seed: UInt64 = 1
    /// Fraction of the data, taken from the end before shuffling (as Keras does), held out for validation.
    public var validationSplit: Double?
    /// Batches per epoch. The batch iterator restarts (reshuffled) every epoch; when this is larger than the
    /// number of batches in the data it keeps going with a fresh shuffle instead of running dry.
    public var stepsPerEpoch: Int?
    /// Validation batches per epoch (default: all of the validation data).
    public var validationSteps: Int?
    /// Epoch to start counting from (0-based), for resuming.
    public var initialEpoch = 0
    /// Batch size for validation (default: `batchSize`).
    public var validationBatchSize: Int?
    /// Checked after every batch: when set, training stops at once with no further epoch recorded.
    public var cancellation: CancellationToken?
    /// Called on each training batch after it is gathered — `(inputs, count, epoch, step)` — to augment it in
    /// place (validation data is never augmented).
    public var augment: (@Sendable (UnsafeMutablePointer<Float>, Int, Int, Int) -> Void)?

    public init(epochs: Int = 1, batchSize: Int = 32) {
        self.epochs = epochs
        self.batchSize = batchSize
    }
}

/// A thread-safe flag another thread sets to stop training (the service's cancel button).
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    public init() {}
    public var isCancelled: Bool { lock.withLock { flag } }
    public func cancel() { lock.withLock { flag = true } }
}

/// One finished epoch: what Keras's History holds, plus timing.
public struct EpochRecord: Sendable, Equatable {
    /// 1-based, as printed ("Epoch 3/10").
    public var epoch: Int
    /// "loss", metric names, and "val_…" versions.
    public var logs: [String: Double]
    public var learningRate: Double
    public var durationSeconds: Double
    /// Training samples per second (validation time excluded).
    public var samplesPerSecond: Double
    public var steps: Int
}

/// What `fit` returns.
public struct History: Sendable {
    public var epochs: [EpochRecord] = []
    /// Why training ended before the last epoch (a callback's message, or "cancelled").
    public var stopReason: String?
    /// Set when training failed (terminate_on_nan): the job should be marked failed with this message.
    public var failure: String?
    public var cancelled = false

    /// Keras's `history.history`: metric name → one value per epoch.
    public var series: [String: [Double]] {
        var out: [String: [Double]] = [:]
        for e in epochs { for (k, v) in e.logs { out[k, default: []].append(v) } }
        return out
    }
}

/// Where fit is, passed to `onBatchEnd`.
public struct BatchProgress: Sendable {
    /// 0-based epoch.
    public var epoch: Int
    public var epochs: Int
    /// 1-based step within the epoch.
    public var step: Int
    public var steps: Int
    /// Steps since the start of this fit call (and `initialEpoch`'s earlier epochs).
    public var globalStep: Int
    public var samplesThisEpoch: Int
    public var secondsThisEpoch: Double
}

extension Sequential {
    /// Trains the model (`model.fit`). `y` holds class indices `[N]` or `[N, 1]` for sparse losses, otherwise
    /// `[N, outputWidth]`. Callbacks run in order at each hook.
    @discardableResult
    public func fit(x: Tensor, y: Tensor, options: FitOptions = FitOptions(),
                    validationData: (x: Tensor, y: Tensor)? = nil, callbacks: [Callback] = []) throws -> History {
        guard options.epochs >= 1 else { throw TrainingError("fit.epochs must be ≥ 1, got \(options.epochs)") }
        guard options.batchSize >= 1 else { throw TrainingError("fit.batch_size must be ≥ 1, got \(options.batchSize)") }
        try checkData(x: x, y: y, field: "fit")
        var trainX = x, trainY = y
        var validation = validationData
        if let split = options.validationSplit, validation == nil {
            guard split > 0, split < 1 else { throw TrainingError("fit.validation_split must be in (0, 1), got \(split)") }
            let n = x.shape[0]
            let cut = n - Int((Double(n) * split).rounded(.down))
            guard cut > 0, cut < n else { throw TrainingError("fit.validation_split \(split) leaves no training or validation data for \(n) samples") }
            trainX = x.slice(0..<cut)
            trainY = y.slice(0..<cut)
            validation = (x.slice(cut..<n), y.slice(cut..<n))
        }
        if let v = validation { try checkData(x: v.x, y: v.y, field: "validation_data") }

        let n = trainX.shape[0]
        let batch = min(options.batchSize, n)
        let batchesInData = (n + batch - 1) / batch
        let steps = options.stepsPerEpoch ?? batchesInData
        guard steps >= 1 else { throw TrainingError("fit.steps_per_epoch must be ≥ 1, got \(steps)") }
        let inCount = inputCount, tw = trainY.itemCount
        let batchX = FloatBuffer(count: batch * inCount), batchY = FloatBuffer(count: batch * tw)

        var history = History()
        stopTraining = false
        stopReason = nil
        trainingFailure = nil
        callbacks.forEach { $0.onTrainBegin(model: self) }
        var globalStep = options.initialEpoch * steps
        var lastLogs: [String: Double] = [:]

        try trainX.scalars.withUnsafeBufferPointer { xs in
            try trainY.scalars.withUnsafeBufferPointer { ys in
                var order = Array(0..<n)
                epochLoop: for epoch in options.initialEpoch..<options.epochs {
                    callbacks.forEach { $0.onEpochBegin(epoch, model: self) }
                    let epochStart = Date()
                    var cycle = 0
                    func reshuffle() {
                        order = Array(0..<n)
                        if options.shuffle {
                            var rng = SeededGenerator.derived(seed: options.seed, stream: UInt64(epoch), index: UInt64(cycle))
                            order.shuffle(using: &rng)
                        }
                        cycle += 1
                    }
                    reshuffle()
                    var cursor = 0, lossSum = 0.0, seen = 0
                    var metricSums = Array(repeating: 0.0, count: metrics.count)
                    var trainSeconds = 0.0
                    for step in 0..<steps {
                        if cursor >= n { reshuffle(); cursor = 0 }
                        let count = min(batch, n - cursor)
                        for r in 0..<count {
                            let src = order[cursor + r]
                            (batchX.pointer + r * inCount).update(from: xs.baseAddress! + src * inCount, count: inCount)
                            (batchY.pointer + r * tw).update(from: ys.baseAddress! + src * tw, count: tw)
                        }
                        cursor += count
                        options.augment?(batchX.pointer, count, epoch, step)
                        let result = trainStep(x: batchX.pointer, y: batchY.pointer, n: count, step: globalStep)
                        globalStep += 1
                        lossSum += result.lossSum
                        for k in 0..<metrics.count { metricSums[k] += result.metricSums[k] }
                        seen += count
                        trainSeconds = Date().timeIntervalSince(epochStart)
                        var logs = ["loss": lossSum / Double(seen)]
                        for (k, m) in metrics.enumerated() { logs[m.name] = metricSums[k] / Double(seen) }
                        let progress = BatchProgress(epoch: epoch, epochs: options.epochs, step: step + 1, steps: steps,
                                                     globalStep: globalStep, samplesThisEpoch: seen,
                                                     secondsThisEpoch: trainSeconds)
                        callbacks.forEach { $0.onBatchEnd(progress, logs: logs, model: self) }
                        if options.cancellation?.isCancelled == true {
                            history.cancelled = true
                            history.stopReason = "cancelled at epoch \(epoch + 1), step \(step + 1)"
                            break epochLoop
                        }
                        if let failure = trainingFailure {
                            history.failure = failure
                            history.stopReason = failure
                            break epochLoop
                        }
                        if stopTraining { break }
                    }
                    var logs = ["loss": lossSum / Double(max(seen, 1))]
                    for (k, m) in metrics.enumerated() { logs[m.name] = metricSums[k] / Double(max(seen, 1)) }
                    if let v = validation {
                        let vb = options.validationBatchSize ?? batch
                        let val = try evaluate(x: v.x, y: v.y, batchSize: vb, steps: options.validationSteps)
                        for (k, value) in val { logs["val_" + k] = value }
                    }
                    let record = EpochRecord(epoch: epoch + 1, logs: logs,
                                             learningRate: Double(optimizer?.learningRate ?? 0),
                                             durationSeconds: Date().timeIntervalSince(epochStart),
                                             samplesPerSecond: Double(seen) / max(trainSeconds, 1e-9), steps: steps)
                    history.epochs.append(record)
                    lastLogs = logs
                    callbacks.forEach { $0.onEpochEnd(epoch, logs: logs, model: self) }
                    if stopTraining { break }
                }
            }
        }
        if history.stopReason == nil, stopTraining { history.stopReason = stopReason ?? "stopped by a callback" }
        callbacks.forEach { $0.onTrainEnd(logs: lastLogs, model: self) }
        // Callbacks may add detail at the end (early stopping restoring weights).
        if let reason = stopReason, history.stopReason != nil, !history.cancelled, history.failure == nil {
            history.stopReason = reason
        }
        return history
    }
}
