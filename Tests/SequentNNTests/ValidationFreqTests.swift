import Foundation
import Testing
@testable import SequentNN

/// `fit(validation_freq=)`: Keras 3 validates after epoch e (1-based) when `e % N == 0` (or `e in list`);
/// other epochs' logs have no `val_` keys and callbacks monitoring one skip those epochs.
@Suite struct ValidationFreqTests {
    func run(_ freq: ValidationFrequency, epochs: Int, initialEpoch: Int = 0, callbacks: [Callback] = []) throws -> History {
        try runModel(freq, epochs: epochs, initialEpoch: initialEpoch, callbacks: callbacks).history
    }

    func runModel(_ freq: ValidationFrequency, epochs: Int, initialEpoch: Int = 0, callbacks: [Callback] = []) throws
        -> (history: History, model: Sequential) {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 3, activation: .softmax)], seed: 2)
        try model.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy(), metrics: ["accuracy"])
        let x = Tensor(shape: [8, 3], scalars: randomArray(24, seed: 4)), y = Tensor(shape: [8], scalars: labels(8, classes: 3, seed: 1))
        var options = FitOptions(epochs: epochs, batchSize: 4)
        options.validationFreq = freq
        options.initialEpoch = initialEpoch
        return (try model.fit(x: x, y: y, options: options, validationData: (x, y), callbacks: callbacks), model)
    }

    func validated(_ h: History) -> [Int] { h.epochs.filter { $0.logs["val_loss"] != nil }.map(\.epoch) }

    @Test func everyNthEpochAndLists() throws {
        let h = try run(.every(2), epochs: 5)
        #expect(h.epochs.count == 5)
        #expect(validated(h) == [2, 4])
        // Skipped epochs carry no val_ key at all, not a stale or zero value.
        #expect(h.epochs[0].logs.keys.sorted() == ["accuracy", "loss"])
        #expect(h.epochs[1].logs.keys.sorted() == ["accuracy", "loss", "val_accuracy", "val_loss"])
        #expect(validated(try run(.epochs([1, 3]), epochs: 4)) == [1, 3])
        #expect(validated(try run(.every(1), epochs: 3)) == [1, 2, 3])
        // Keras counts the user-facing epoch, initial_epoch included.
        #expect(validated(try run(.every(2), epochs: 5, initialEpoch: 1)) == [2, 4])
    }

    @Test func earlyStoppingSkipsEpochsWithoutTheMonitor() throws {
        // patience 0 and an unbeatable min_delta: the second epoch that has val_loss stops training. Counting
        // the skipped epochs as "no improvement" would stop at epoch 1.
        let es = try EarlyStopping(monitor: "val_loss", minDelta: 1e9, patience: 0)
        let h = try run(.every(2), epochs: 8, callbacks: [es])
        #expect(h.epochs.count == 4)
        #expect(validated(h) == [2, 4])
        let every = try run(.every(1), epochs: 8, callbacks: [try EarlyStopping(monitor: "val_loss", minDelta: 1e9, patience: 0)])
        #expect(every.epochs.count == 2)
    }

    @Test func reduceLROnPlateauSkipsToo() throws {
        // Epoch 3 sets the best, epoch 6 is the only plateau it sees: the rate is halved once.
        let sparse = try runModel(.every(3), epochs: 6, callbacks: [try ReduceLROnPlateau(monitor: "val_loss", factor: 0.5, patience: 0, minDelta: 1e9)])
        #expect(sparse.model.optimizer?.learningRate == 0.05)
        // Validating every epoch: epochs 2–6 are five plateaus.
        let dense = try runModel(.every(1), epochs: 6, callbacks: [try ReduceLROnPlateau(monitor: "val_loss", factor: 0.5, patience: 0, minDelta: 1e9)])
        #expect(dense.model.optimizer?.learningRate == 0.1 / 32)
    }
}
