/// Stops training once a monitored metric passes a threshold at the end of an epoch: the tutorial's
/// `myCallback` ("if logs.get('accuracy') > 0.99: self.model.stop_training = True").
public final class ThresholdStop: Callback {
    public let monitor: String
    public let above: Double?
    public let below: Double?

    /// Exactly one of `above` and `below` must be given.
    public init(monitor: String = "accuracy", above: Double? = nil, below: Double? = nil) throws {
        guard (above == nil) != (below == nil) else {
            throw ConfigError(field: "above", detail: "or \"below\" must be given (exactly one of them)")
        }
        self.monitor = monitor
        self.above = above
        self.below = below
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        guard let value = logs[monitor] else { return }
        if let above, value > above {
            model.stopTraining = true
            model.stopReason = "threshold_stop: \(monitor) \(fmt(value)) > \(above) at epoch \(epoch + 1)"
        } else if let below, value < below {
            model.stopTraining = true
            model.stopReason = "threshold_stop: \(monitor) \(fmt(value)) < \(below) at epoch \(epoch + 1)"
        }
    }
}
