/// Stops when a monitored quantity has stopped improving, with Keras 3's semantics: an epoch improves when it
/// beats the best by more than `min_delta` (`current + min_delta < best` for `min`); after `patience` epochs without
/// improvement training stops; with `restore_best_weights` the best epoch's weights are put back at the end
/// of training. `baseline` must also be beaten to reset the wait; `start_from_epoch` ignores early epochs.
public final class EarlyStopping: Callback {
    public let monitor: String
    public let minDelta: Double
    public let patience: Int
    public let mode: MonitorMode
    public let baseline: Double?
    public let restoreBestWeights: Bool
    public let startFromEpoch: Int

    public private(set) var wait = 0
    public private(set) var stoppedEpoch = 0
    public private(set) var best: Double?
    public private(set) var bestEpoch = 0
    private var bestWeights: [Float]?

    public init(monitor: String = "val_loss", minDelta: Double = 0, patience: Int = 0, mode: MonitorMode = .auto,
                baseline: Double? = nil, restoreBestWeights: Bool = false, startFromEpoch: Int = 0) throws {
        guard patience >= 0 else { throw ConfigError(field: "patience", detail: "must be ≥ 0, got \(patience)") }
        guard startFromEpoch >= 0 else { throw ConfigError(field: "start_from_epoch", detail: "must be ≥ 0, got \(startFromEpoch)") }
        self.monitor = monitor
        self.minDelta = abs(minDelta)
        self.patience = patience
        self.mode = mode.resolved(for: monitor)
        self.baseline = baseline
        self.restoreBestWeights = restoreBestWeights
        self.startFromEpoch = startFromEpoch
    }

    private func isImprovement(_ value: Double, over reference: Double?) -> Bool {
        guard let reference else { return true }
        // Keras negates min_delta for "min": the value must beat the reference by at least min_delta.
        return mode == .min ? value + minDelta < reference : value - minDelta > reference
    }

    public func onTrainBegin(model: Sequential) {
        wait = 0
        stoppedEpoch = 0
        best = nil
        bestWeights = nil
        bestEpoch = 0
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        guard let current = logs[monitor], epoch >= startFromEpoch else { return }
        if restoreBestWeights && bestWeights == nil {
            bestWeights = model.weightsSnapshot()
            bestEpoch = epoch
        }
        wait += 1
        if isImprovement(current, over: best) {
            best = current
            bestEpoch = epoch
            if restoreBestWeights { bestWeights = model.weightsSnapshot() }
            if baseline == nil || isImprovement(current, over: baseline) { wait = 0 }
            return
        }
        if wait >= patience && epoch > 0 {
            stoppedEpoch = epoch
            model.stopTraining = true
            model.stopReason = "early_stopping: \(monitor) did not improve for \(wait) epoch\(wait == 1 ? "" : "s")"
                + (best.map { " (best \(fmt($0)) at epoch \(bestEpoch + 1))" } ?? "")
        }
    }

    public func onTrainEnd(logs: [String: Double], model: Sequential) {
        guard restoreBestWeights, let bestWeights else { return }
        model.restoreWeights(bestWeights)
        if stoppedEpoch > 0, let reason = model.stopReason, reason.hasPrefix("early_stopping") {
            model.stopReason = reason + "; restored the weights of epoch \(bestEpoch + 1)"
        }
    }
}
