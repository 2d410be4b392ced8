import Testing
@testable import SequentNN

/// Callbacks driven with hand-written log sequences, checked against Keras 3's documented behaviour.
@Suite struct CallbackTests {
    func model() throws -> Sequential {
        let m = try Sequential(inputShape: [2], layers: [Dense(units: 2)])
        try m.compile(optimizer: SGD(learningRate: 0.1), loss: MeanSquaredError())
        return m
    }

    /// Feeds `values` of val_loss as epoch ends; returns the epoch (0-based) at which training was stopped.
    func drive(_ cb: Callback, _ model: Sequential, _ values: [Double], key: String = "val_loss",
               everyEpoch: (Int) -> Void = { _ in }) -> Int? {
        model.stopTraining = false
        cb.onTrainBegin(model: model)
        for (epoch, v) in values.enumerated() {
            everyEpoch(epoch)
            cb.onEpochEnd(epoch, logs: [key: v], model: model)
            if model.stopTraining {
                cb.onTrainEnd(logs: [:], model: model)
                return epoch
            }
        }
        cb.onTrainEnd(logs: [:], model: model)
        return nil
    }

    @Test func earlyStoppingPatienceAndMinDelta() throws {
        let m = try model()
        // Best at epoch 1 (0.5); epochs 2 and 3 do not improve; patience 2 stops at epoch 3.
        #expect(drive(try EarlyStopping(patience: 2), m, [0.6, 0.5, 0.55, 0.52, 0.4]) == 3)
        // min_delta 0.05: 0.48 is not enough of an improvement over 0.5 (wait 1 = patience: stop).
        #expect(drive(try EarlyStopping(minDelta: 0.05, patience: 1), m, [0.6, 0.5, 0.48, 0.3]) == 2)
        // ... whereas 0.44 is.
        #expect(drive(try EarlyStopping(minDelta: 0.05, patience: 1), m, [0.6, 0.5, 0.44, 0.3]) == nil)
        // patience 0 stops at the first non-improving epoch, but never at epoch 0.
        #expect(drive(try EarlyStopping(patience: 0), m, [0.6, 0.7]) == 1)
        // Accuracy is maximised in auto mode.
        #expect(drive(try EarlyStopping(monitor: "val_accuracy", patience: 1), m, [0.8, 0.9, 0.85], key: "val_accuracy") == 2)
        // A missing monitored key is ignored, never a stop.
        #expect(drive(try EarlyStopping(monitor: "val_auc", patience: 0), m, [0.6, 0.7]) == nil)
    }

    @Test func earlyStoppingBaselineMustBeBeaten() throws {
        let m = try model()
        // Improvements that do not beat the baseline 0.3 do not reset the wait: the first non-improving epoch
        // after `patience` epochs stops training one epoch earlier than without a baseline.
        #expect(drive(try EarlyStopping(patience: 2, baseline: 0.3), m, [0.6, 0.5, 0.55, 0.52]) == 2)
        #expect(drive(try EarlyStopping(patience: 2), m, [0.6, 0.5, 0.55, 0.52]) == 3)
        // A run that keeps improving is never stopped, baseline or not.
        #expect(drive(try EarlyStopping(patience: 1, baseline: 0.3), m, [0.6, 0.5, 0.45, 0.4]) == nil)
    }

    @Test func earlyStoppingRestoresBestWeights() throws {
        let m = try model()
        var snapshots: [[Float]] = []
        let cb = try EarlyStopping(patience: 1, restoreBestWeights: true)
        let stopped = drive(cb, m, [0.9, 0.3, 0.8, 0.7]) { epoch in
            // Each epoch "trains" to different weights.
            m.restoreWeights(Array(repeating: Float(epoch), count: m.parameterCount))
            snapshots.append(m.weightsSnapshot())
        }
        #expect(stopped == 2)
        #expect(m.weightsSnapshot() == snapshots[1])
        #expect(m.stopReason?.contains("restored the weights of epoch 2") == true)
    }

    @Test func reduceLROnPlateauWithCooldownAndFloor() throws {
        let m = try model()
        // Keras counts the cooldown down before checking it, so cooldown=2 skips exactly one epoch.
        let cb = try ReduceLROnPlateau(factor: 0.5, patience: 1, cooldown: 2, minLR: 0.03)
        var rates: [Float] = []
        _ = drive(cb, m, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) { _ in rates.append(m.optimizer!.learningRate) }
        rates.append(m.optimizer!.learningRate)
        // Epoch 1 plateaus → 0.05; epoch 2 cooldown; epoch 3 → 0.025, floored at 0.03; stays there.
        #expect(rates.map { ($0 * 1000).rounded() / 1000 } == [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03])
    }

    @Test func thresholdStopNeedsExactlyOneBound() throws {
        #expect(throws: ConfigError.self) { try ThresholdStop(monitor: "accuracy") }
        #expect(throws: ConfigError.self) { try ThresholdStop(monitor: "accuracy", above: 0.9, below: 0.1) }
        let m = try model()
        #expect(drive(try ThresholdStop(monitor: "loss", below: 0.2), m, [0.5, 0.3, 0.1], key: "loss") == 2)
    }

    @Test func checkpointPathTemplates() {
        #expect(ModelCheckpoint.expand("ckpt-{epoch:02d}-{val_loss:.2f}", epoch: 3, logs: ["val_loss": 0.12345])
            == "ckpt-03-0.12")
        #expect(ModelCheckpoint.expand("m{epoch}{unknown}", epoch: 12, logs: [:]) == "m12{unknown}")
    }
}
