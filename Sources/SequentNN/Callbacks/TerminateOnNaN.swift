/// Fails training as soon as the loss becomes NaN or infinite, naming the epoch and step.
public final class TerminateOnNaN: Callback {
    public init() {}

    public func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {
        guard let loss = logs["loss"], !loss.isFinite else { return }
        model.stopTraining = true
        model.trainingFailure = "terminate_on_nan: loss became \(loss.isNaN ? "NaN" : "infinite") at epoch \(progress.epoch + 1), step \(progress.step)"
    }
}
