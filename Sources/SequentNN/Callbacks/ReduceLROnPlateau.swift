/// Multiplies the learning rate by `factor` when a monitored quantity has not improved (by more than
/// `min_delta`) for `patience` epochs, then waits `cooldown` epochs; never below `min_lr`. Keras 3's rule.
public final class ReduceLROnPlateau: Callback {
    public let monitor: String
    public let factor: Double
    public let patience: Int
    public let mode: MonitorMode
    public let minDelta: Double
    public let cooldown: Int
    public let minLR: Double

    private var best = 0.0
    private var wait = 0
    private var cooldownCounter = 0

    public init(monitor: String = "val_loss", factor: Double = 0.1, patience: Int = 10, mode: MonitorMode = .auto,
                minDelta: Double = 1e-4, cooldown: Int = 0, minLR: Double = 0) throws {
        guard factor > 0, factor < 1 else { throw ConfigError(field: "factor", detail: "must be in (0, 1), got \(factor)") }
        guard patience >= 0 else { throw ConfigError(field: "patience", detail: "must be ≥ 0, got \(patience)") }
        guard cooldown >= 0 else { throw ConfigError(field: "cooldown", detail: "must be ≥ 0, got \(cooldown)") }
        guard minLR >= 0 else { throw ConfigError(field: "min_lr", detail: "must be ≥ 0, got \(minLR)") }
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.mode = mode.resolved(for: monitor)
        self.minDelta = minDelta
        self.cooldown = cooldown
        self.minLR = minLR
    }

    public func onTrainBegin(model: Sequential) {
        best = mode == .min ? .infinity : -.infinity
        wait = 0
        cooldownCounter = 0
    }

    /// Keras 3 logs the rate the epoch trained with, before this epoch's reduction.
    public func addEpochLogs(_ logs: inout [String: Double], epoch: Int, model: Sequential) {
        if let optimizer = model.optimizer { logs["learning_rate"] = Double(optimizer.learningRate) }
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        guard let current = logs[monitor], let optimizer = model.optimizer else { return }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            wait = 0
        }
        let improved = mode == .min ? current < best - minDelta : current > best + minDelta
        if improved {
            best = current
            wait = 0
        } else if cooldownCounter == 0 {
            wait += 1
            if wait >= patience {
                let old = Double(optimizer.learningRate)
                if old > minLR {
                    optimizer.learningRate = Float(max(old * factor, minLR))
                    cooldownCounter = cooldown
                    wait = 0
                }
            }
        }
    }
}
