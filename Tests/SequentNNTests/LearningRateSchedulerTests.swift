import Foundation
import Testing
@testable import SequentNN

/// `LearningRateScheduler` in real fits: the rate each epoch trains with, the `learning_rate` log key, a resume
/// from a checkpoint, and the failures Keras would train on through.
@Suite struct LearningRateSchedulerTests {
    func data() -> (Tensor, Tensor) {
        let x = randomArray(32, seed: 3)
        var y: [Float] = []
        for i in 0..<16 { y += [x[2 * i] + x[2 * i + 1], x[2 * i] - x[2 * i + 1]] }
        return (Tensor(shape: [16, 2], scalars: x), Tensor(shape: [16, 2], scalars: y))
    }

    func model(_ optimizer: (any Optimizer)? = nil) throws -> Sequential {
        let m = try Sequential(inputShape: [2], layers: [Dense(units: 2)], seed: 5)
        try m.compile(optimizer: optimizer ?? SGD(learningRate: 0.1), loss: MeanSquaredError())
        return m
    }

    /// The rate the optimizer holds at every batch of every epoch (0-based epoch → rates seen).
    final class RateProbe: Callback {
        var seen: [Int: Set<Float>] = [:]
        func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {
            seen[progress.epoch, default: []].insert(model.optimizer!.learningRate)
        }
    }

    @Test func setsTheRateAtEachEpochsStartAndLogsIt() throws {
        let (x, y) = data()
        let m = try model()
        let probe = RateProbe()
        let history = try m.fit(x: x, y: y, options: FitOptions(epochs: 5, batchSize: 8),
                                callbacks: [try LearningRateScheduler(schedule: "1e-8 * 10**(epoch/20)"), probe])
        for epoch in 0..<5 {
            let expected = Float(1e-8 * Foundation.pow(10, Double(epoch) / 20))
            #expect(probe.seen[epoch] == [expected], "epoch \(epoch)")
            #expect(history.epochs[epoch].logs["learning_rate"] == Double(expected))
            #expect(history.epochs[epoch].learningRate == Double(expected))
        }
        // Keras 3.15.1 (JAX), history["learning_rate"] for the same schedule: float32 values read back.
        #expect(history.series["learning_rate"]! == [9.99999993922529e-09, 1.122018478127984e-08,
                                                     1.2589254083650303e-08, 1.4125375535911644e-08,
                                                     1.5848931056439142e-08])
    }

    @Test func lrIsTheCurrentRateAsKerasPassesIt() throws {
        // Keras 3.15.1 (JAX), SGD(0.1), `lambda epoch, lr: lr if epoch < 2 else lr * math.exp(-0.1)`.
        let keras = [0.10000000149011612, 0.10000000149011612, 0.09048373997211456, 0.08187307417392731,
                     0.07408182322978973, 0.06703200936317444]
        let (x, y) = data()
        let history = try model().fit(x: x, y: y, options: FitOptions(epochs: 6, batchSize: 8),
                                      callbacks: [try LearningRateScheduler(schedule: "lr if epoch < 2 else lr * exp(-0.1)")])
        #expect(history.series["learning_rate"]! == keras)
    }

    @Test func reduceLROnPlateauLogsTheRateBeforeItsReduction() throws {
        // Keras 3.15.1 (JAX), SGD(0.1), ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9):
        // history["learning_rate"] [0.10000000149011612, 0.10000000149011612, 0.05000000074505806], and the
        // optimizer ends at 0.025 (epoch 0 improves on +inf; epochs 1 and 2 each halve the rate after logging it).
        let (x, y) = data()
        let m = try model()
        let history = try m.fit(x: x, y: y, options: FitOptions(epochs: 3, batchSize: 8),
                                callbacks: [try ReduceLROnPlateau(monitor: "loss", factor: 0.5, patience: 0, minDelta: 1e9)])
        #expect(history.series["learning_rate"]! == [0.10000000149011612, 0.10000000149011612, 0.05000000074505806])
        #expect(m.optimizer!.learningRate == 0.025)
    }

    @Test func aResumedRunComputesTheSameRates() throws {
        let (x, y) = data()
        let schedule = "lr * 0.5 if epoch % 2 == 1 else lr * 0.9"
        let straight = try model(Adam(learningRate: 0.01))
        let full = try straight.fit(x: x, y: y, options: FitOptions(epochs: 4, batchSize: 8),
                                    callbacks: [try LearningRateScheduler(schedule: schedule)])

        let first = try model(Adam(learningRate: 0.01))
        let before = try first.fit(x: x, y: y, options: FitOptions(epochs: 2, batchSize: 8),
                                   callbacks: [try LearningRateScheduler(schedule: schedule)])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lrsched-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(first, to: dir, includeOptimizer: true)
        let resumed = try ModelArchive.load(from: dir, restoreOptimizer: true).model
        var options = FitOptions(epochs: 4, batchSize: 8)
        options.initialEpoch = 2
        let after = try resumed.fit(x: x, y: y, options: options, callbacks: [try LearningRateScheduler(schedule: schedule)])

        #expect(before.series["learning_rate"]! + after.series["learning_rate"]! == full.series["learning_rate"]!)
        // Each epoch reads the float32 rate back, as Keras does: 0.009, 0.0045, 0.00405, 0.002025.
        var lr: Float = 0.01
        let expected = (0..<4).map { epoch -> Double in
            lr = Float(Double(lr) * (epoch % 2 == 1 ? 0.5 : 0.9))
            return Double(lr)
        }
        #expect(full.series["learning_rate"]! == expected)
        #expect(resumed.weightsSnapshot() == straight.weightsSnapshot())
    }

    @Test func aBadRateFailsTrainingNamingTheEpochAndValue() throws {
        let (x, y) = data()
        let m = try model()
        let start = m.weightsSnapshot()
        let negative = try m.fit(x: x, y: y, options: FitOptions(epochs: 3, batchSize: 8),
                                 callbacks: [try LearningRateScheduler(schedule: "-lr")])
        // Keras would train with -0.1; here no step runs with it.
        #expect(negative.epochs.isEmpty && m.weightsSnapshot() == start)
        #expect(negative.failure == "learning_rate_scheduler: the schedule gave the learning rate -0.10000000149011612 (lr=0.10000000149011612) at epoch 1 (epoch=0 in \"-lr\")")

        let zero = try model().fit(x: x, y: y, options: FitOptions(epochs: 4, batchSize: 8),
                                   callbacks: [try LearningRateScheduler(schedule: "0.1 / (2 - epoch)")])
        #expect(zero.epochs.count == 2)
        #expect(zero.failure?.contains("division by zero") == true && zero.failure?.contains("at epoch 3 (epoch=2") == true)

        let nan = try model().fit(x: x, y: y, options: FitOptions(epochs: 2, batchSize: 8),
                                  callbacks: [try LearningRateScheduler(schedule: "1e308 * 10 * epoch")])
        #expect(nan.epochs.count == 0 && nan.failure?.contains("gave the learning rate NaN") == true)
        let huge = try model().fit(x: x, y: y, options: FitOptions(epochs: 2, batchSize: 8),
                                   callbacks: [try LearningRateScheduler(schedule: "1e300")])
        #expect(huge.failure?.contains("gave the learning rate 1e+300") == true)
    }

    @Test func refusesAnOptimizerWithASchedule() throws {
        let (x, y) = data()
        let optimizer = try SGD(learningRate: 0.1)
        optimizer.options.schedule = try LearningRateSchedule.parse(JSONValue.parse(
            #"{"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}"#),
            field: "learning_rate")
        let history = try model(optimizer).fit(x: x, y: y, options: FitOptions(epochs: 2, batchSize: 8),
                                               callbacks: [try LearningRateScheduler(schedule: "0.1")])
        #expect(history.epochs.isEmpty && history.failure?.contains("whose learning_rate is a schedule") == true)
    }

    @Test func syntaxErrorsAreConfigErrorsOnSchedule() throws {
        let e = try #require(throws: ConfigError.self) { try LearningRateScheduler(schedule: "lr * (epoch") }
        #expect(e.field == "schedule")
        #expect(e.detail == "is not a valid schedule expression at position 12: expected ')' to close the '(' at position 6, got the end of the expression, in \"lr * (epoch\"")
        #expect(throws: ConfigError.self) { try LearningRateScheduler(schedule: "0.1", verbose: -1) }
    }
}
