/// Keras's `LearningRateScheduler(schedule)`, with the schedule an expression (`ScheduleExpression`) instead
/// of a Python function: at each epoch's start the optimizer's rate becomes `schedule(epoch, lr)`, `epoch`
/// 0-based and `lr` the current rate (read as a float32, as Keras reads the optimizer's variable); the epoch's
/// logs then record `learning_rate`, as Keras 3's callback writes it at the epoch's end.
///
/// The callback keeps no state: a run resumed at epoch k from a checkpoint (which keeps the optimizer's rate)
/// computes the same rates as one that never stopped. Where Keras would go on with a NaN, infinite or
/// negative rate, or raise in the schedule (division by zero), training fails naming the epoch and the value.
public final class LearningRateScheduler: Callback {
    public let schedule: ScheduleExpression
    /// Keras's `verbose`; the rate is in every epoch's logs either way.
    public let verbose: Int

    /// Parses `schedule`, or throws a `ConfigError` on `schedule` naming the position and what was expected.
    public init(schedule source: String, verbose: Int = 0) throws {
        do {
            schedule = try ScheduleExpression(source)
        } catch {
            let shown = source.count > 80 ? "\"\(source.prefix(80))…\"" : "\"\(source)\""
            throw ConfigError(field: "schedule", detail: "is not a valid schedule expression \(error), in \(shown)")
        }
        guard verbose >= 0 else { throw ConfigError(field: "verbose", detail: "must be ≥ 0, got \(verbose)") }
        self.verbose = verbose
    }

    public func onEpochBegin(_ epoch: Int, model: Sequential) {
        guard let optimizer = model.optimizer else { return }
        func fail(_ why: String) {
            model.stopTraining = true
            model.trainingFailure = "learning_rate_scheduler: \(why) at epoch \(epoch + 1) (epoch=\(epoch) in \"\(schedule)\")"
        }
        guard optimizer.options.schedule == nil else {
            // Keras raises too: a LearningRateSchedule's rate cannot be set.
            return fail("cannot set the rate of an optimizer whose learning_rate is a schedule")
        }
        let lr = Double(optimizer.learningRate)
        let rate: Double
        do { rate = try schedule.evaluate(epoch: epoch, lr: lr) } catch { return fail("the schedule failed, \(error),") }
        guard rate.isFinite, rate >= 0, Float(rate).isFinite else {
            return fail("the schedule gave the learning rate \(rate.isNaN ? "NaN" : "\(rate)") (lr=\(lr))")
        }
        optimizer.learningRate = Float(rate)
    }

    public func addEpochLogs(_ logs: inout [String: Double], epoch: Int, model: Sequential) {
        if let optimizer = model.optimizer { logs["learning_rate"] = Double(optimizer.learningRate) }
    }
}
