/// Hooks into `fit` (Keras's `keras.callbacks.Callback`). Epoch numbers are 0-based as in Keras; logs hold
/// "loss", the metrics and, at epoch end, their "val_" versions. To stop training, set
/// `model.stopTraining` (and `model.stopReason` to say why); to fail it, `model.trainingFailure` (checked
/// after `onEpochBegin`, every batch and the epoch's end).
public protocol Callback: AnyObject {
    func onTrainBegin(model: Sequential)
    func onEpochBegin(_ epoch: Int, model: Sequential)
    /// After every batch, with running means over the epoch so far.
    func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential)
    func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential)
    /// Adds keys to an epoch's logs before any callback's `onEpochEnd` sees them (Keras callbacks write into
    /// the shared `logs` dict: LearningRateScheduler and ReduceLROnPlateau add `learning_rate`).
    func addEpochLogs(_ logs: inout [String: Double], epoch: Int, model: Sequential)
    func onTrainEnd(logs: [String: Double], model: Sequential)
}

extension Callback {
    public func onTrainBegin(model: Sequential) {}
    public func onEpochBegin(_ epoch: Int, model: Sequential) {}
    public func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {}
    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {}
    public func addEpochLogs(_ logs: inout [String: Double], epoch: Int, model: Sequential) {}
    public func onTrainEnd(logs: [String: Double], model: Sequential) {}
}

/// Whether a monitored quantity should go down or up; "auto" picks `max` for accuracies, `min` otherwise.
public enum MonitorMode: String, Sendable {
    case auto, min, max

    public init(name: String, field: String = "mode") throws {
        guard let m = MonitorMode(rawValue: name) else {
            throw ConfigError(field: field, detail: "must be \"auto\", \"min\" or \"max\", got \"\(name)\"")
        }
        self = m
    }

    /// Resolves `auto` for a monitored key.
    func resolved(for monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        return monitor.contains("acc") ? .max : .min
    }
}

/// Formats a metric value as Keras prints it.
func fmt(_ v: Double) -> String { String(format: "%.4f", v) }

import Foundation
