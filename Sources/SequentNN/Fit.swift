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
    /// Batches per epoch, as Keras 3's epoch iterator counts them: one pass over the (shuffled) data is carried
    /// on from epoch to epoch, so with 10 batches and 3 steps epoch 2 trains on batches 4–6 and epoch 4 on
    /// batch 10 alone (the data ran out: Keras ends that epoch early); the next epoch starts a fresh shuffle.
    /// Larger than the number of batches: every epoch is one full pass. nil: one pass per epoch.
    public var stepsPerEpoch: Int?
    /// Validation batches per epoch: the first K batches of the validation data every time (Keras 3's
    /// `evaluate` resets its iterator), default all of it.
    public var validationSteps: Int?
    /// Keras's `class_weight`: class index → weight of that class's samples in the training loss (and its
    /// gradient); classes not listed weigh 1. Validation is unweighted, as in Keras.
    public var classWeight: [Int: Float]?
    /// Keras's `validation_freq`: which epochs validate. Epochs that do not have no `val_` keys in their logs,
    /// so callbacks monitoring one skip them as Keras's do.
    public var validationFreq: ValidationFrequency = .every(1)
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

    /// Where epoch `epoch` (0-based) reads in the data, for `batches` batches per pass: which pass (each pass
    /// has its own shuffle), its first batch in that pass, and how many batches it trains on.
    public func epochSlice(_ epoch: Int, batches: Int) -> (pass: Int, firstBatch: Int, steps: Int) {
        let perEpoch = Swift.max(1, stepsPerEpoch ?? batches)
        let epochsPerPass = (batches + perEpoch - 1) / perEpoch
        let k = epoch % epochsPerPass
        let first = k * perEpoch
        return (epoch / epochsPerPass, first, Swift.min(perEpoch, batches - first))
    }

    /// Training steps taken before epoch `epoch` (0-based): a pass is `batches` steps, whatever the epochs
    /// it is split into. Resuming at `initialEpoch` continues the step count (and dropout seeds) from here.
    public func stepsBefore(epoch: Int, batches: Int) -> Int {
        let perEpoch = Swift.max(1, stepsPerEpoch ?? batches)
        let epochsPerPass = (batches + perEpoch - 1) / perEpoch
        return (epoch / epochsPerPass) * batches + (epoch % epochsPerPass) * perEpoch
    }

    /// Batches in one pass over `samples` training samples.
    public func batches(samples: Int) -> Int {
        let batch = Swift.max(1, Swift.min(batchSize, samples))
        return (samples + batch - 1) / batch
    }
}

/// Keras's `fit(validation_freq=)`: an int N validates after every N-th epoch (1-based: epochs N, 2N, …),
/// a list validates after the epochs it names (1-based).
public enum ValidationFrequency: Sendable, Equatable {
    case every(Int)
    case epochs(Set<Int>)

    /// Whether epoch `epoch` (0-based, counted from the first epoch of the run, as Keras counts with
    /// `initial_epoch`) validates.
    public func validates(epoch: Int) -> Bool {
        switch self {
        case .every(let n): return n >= 1 && (epoch + 1) % n == 0
        case .epochs(let list): return list.contains(epoch + 1)
        }
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
    /// Seconds the trainer waited for the data loader this epoch (0 when loading kept ahead).
    public var inputWaitSeconds: Double = 0
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
        try checkData(x: x, y: y, field: "fit")
        if let v = validationData { try checkData(x: v.x, y: v.y, field: "validation_data") }
        return try fit(data: TensorData(x: x, y: y), options: options,
                       validationData: validationData.map { TensorData(x: $0.x, y: $0.y) }, callbacks: callbacks)
    }

    /// Trains the model on any `TrainingData`. Batches are gathered (and augmented) on a loader thread a couple
    /// of batches ahead of the trainer.
    @discardableResult
    public func fit(data: any TrainingData, options: FitOptions = FitOptions(),
                    validationData: (any TrainingData)? = nil, callbacks: [Callback] = []) throws -> History {
        guard options.epochs >= 1 else { throw TrainingError("fit.epochs must be ≥ 1, got \(options.epochs)") }
        guard options.batchSize >= 1 else { throw TrainingError("fit.batch_size must be ≥ 1, got \(options.batchSize)") }
        try checkWidths(data, field: "fit")
        var train = data
        var validation = validationData
        if let split = options.validationSplit, validation == nil {
            guard split > 0, split < 1 else { throw TrainingError("fit.validation_split must be in (0, 1), got \(split)") }
            let n = data.count
            let cut = n - Int((Double(n) * split).rounded(.down))
            guard cut > 0, cut < n else { throw TrainingError("fit.validation_split \(split) leaves no training or validation data for \(n) samples") }
            train = data.subset(0..<cut)
            validation = data.subset(cut..<n)
        }
        if let v = validation { try checkWidths(v, field: "validation_data") }

        let n = train.count
        guard n > 0 else { throw TrainingError("fit: no training samples") }
        let batch = min(options.batchSize, n)
        let batchesInData = options.batches(samples: n)
        if let s = options.stepsPerEpoch, s < 1 { throw TrainingError("fit.steps_per_epoch must be ≥ 1, got \(s)") }

        var history = History()
        stopTraining = false
        stopReason = nil
        trainingFailure = nil
        callbacks.forEach { $0.onTrainBegin(model: self) }
        var globalStep = options.stepsBefore(epoch: options.initialEpoch, batches: batchesInData)
        var lastLogs: [String: Double] = [:]

        epochLoop: for epoch in options.initialEpoch..<options.epochs {
            callbacks.forEach { $0.onEpochBegin(epoch, model: self) }
            // A callback that cannot set up the epoch (a schedule giving NaN) fails it before any step uses it.
            if let failure = trainingFailure {
                history.failure = failure
                history.stopReason = failure
                break
            }
            let epochStart = Date()
            let augment = options.augment.map { a in
                { @Sendable (x: UnsafeMutablePointer<Float>, count: Int, step: Int) in a(x, count, epoch, step) }
            }
            let slice = options.epochSlice(epoch, batches: batchesInData)
            let steps = slice.steps
            let loader = BatchPrefetcher(data: train, plan: Self.batchPlan(n: n, batch: batch, pass: slice.pass,
                                                                           batches: slice.firstBatch..<(slice.firstBatch + steps),
                                                                           shuffle: options.shuffle, seed: options.seed),
                                         augment: augment)
            defer { loader.finish() }
            var lossSum = 0.0, seen = 0
            var metricSums = Array(repeating: 0.0, count: metrics.count)
            var trainSeconds = 0.0
            for step in 0..<steps {
                guard let b = try loader.next() else { break }
                let result = trainStep(x: b.x, y: b.y, n: b.count, step: globalStep, classWeight: options.classWeight)
                loader.release()
                globalStep += 1
                lossSum += result.lossSum
                for k in 0..<metrics.count { metricSums[k] += result.metricSums[k] }
                seen += b.count
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
            if let v = validation, options.validationFreq.validates(epoch: epoch) {
                let vb = options.validationBatchSize ?? batch
                let val = try evaluate(data: v, batchSize: vb, steps: options.validationSteps)
                for (k, value) in val { logs["val_" + k] = value }
            }
            for c in callbacks { c.addEpochLogs(&logs, epoch: epoch, model: self) }
            var record = EpochRecord(epoch: epoch + 1, logs: logs,
                                     learningRate: Double(optimizer?.learningRate ?? 0),
                                     durationSeconds: Date().timeIntervalSince(epochStart),
                                     samplesPerSecond: Double(seen) / max(trainSeconds, 1e-9), steps: steps)
            record.inputWaitSeconds = loader.waitSeconds
            history.epochs.append(record)
            lastLogs = logs
            callbacks.forEach { $0.onEpochEnd(epoch, logs: logs, model: self) }
            // A callback may fail training at the epoch's end too (the service cannot save its checkpoint).
            if let failure = trainingFailure {
                history.failure = failure
                history.stopReason = failure
                break
            }
            if stopTraining { break }
        }
        if history.stopReason == nil, stopTraining { history.stopReason = stopReason ?? "stopped by a callback" }
        callbacks.forEach { $0.onTrainEnd(logs: lastLogs, model: self) }
        // Callbacks may add detail at the end (early stopping restoring weights).
        if let reason = stopReason, history.stopReason != nil, !history.cancelled, history.failure == nil {
            history.stopReason = reason
        }
        return history
    }

    /// The sample indices of batches `batches` of pass `pass` over the data: each pass is its own seeded
    /// shuffle (pass p of a run without steps_per_epoch is epoch p, so those shuffles are unchanged), cut
    /// into batches of `batch` with a smaller last one, as Keras's array adapter slices its permutation.
    static func batchPlan(n: Int, batch: Int, pass: Int, batches: Range<Int>, shuffle: Bool, seed: UInt64) -> [[Int]] {
        var order = Array(0..<n)
        if shuffle {
            var rng = SeededGenerator.derived(seed: seed, stream: UInt64(pass), index: 0)
            order.shuffle(using: &rng)
        }
        return batches.map { b in Array(order[(b * batch)..<Swift.min(n, (b + 1) * batch)]) }
    }

    /// Loss and metrics over `data` in order (`model.evaluate`), loading ahead like `fit`.
    public func evaluate(data: any TrainingData, batchSize: Int = 32, steps: Int? = nil) throws -> [String: Double] {
        try checkWidths(data, field: "evaluate")
        let n = data.count
        // `steps` counts batches of the size asked for; a smaller batch (see `Trainer.inferenceBatch`) covers
        // the same samples.
        let covered = steps.map { min(n, $0 * batchSize) } ?? n
        let batchSize = trainer.inferenceBatch(batchSize)
        let batches = (covered + batchSize - 1) / batchSize
        let plan = (0..<batches).map { b in Array((b * batchSize)..<min(covered, (b + 1) * batchSize)) }
        let loader = BatchPrefetcher(data: data, plan: plan)
        defer { loader.finish() }
        var lossSum = 0.0, seen = 0
        var metricSums = Array(repeating: 0.0, count: metrics.count)
        while let b = try loader.next() {
            let r = testStep(x: b.x, y: b.y, n: b.count)
            loader.release()
            lossSum += r.lossSum
            for k in 0..<metrics.count { metricSums[k] += r.metricSums[k] }
            seen += b.count
        }
        var logs = ["loss": lossSum / Double(max(seen, 1))]
        for (k, m) in metrics.enumerated() { logs[m.name] = metricSums[k] / Double(max(seen, 1)) }
        return logs
    }

    /// The sample and target widths `data` must have for this compiled model.
    func checkWidths(_ data: any TrainingData, field: String) throws {
        guard let loss else { throw TrainingError("compile the model first") }
        guard data.inputWidth == inputCount else {
            throw TrainingError("\(field): samples have \(data.inputWidth) values, the model expects \(inputShape) = \(inputCount)")
        }
        let want = loss.targetWidth(outputWidth: outputWidth)
        guard data.targetWidth == want else {
            throw TrainingError("\(field): \(loss.name) needs \(want) target value(s) per sample, got \(data.targetWidth)")
        }
    }
}
