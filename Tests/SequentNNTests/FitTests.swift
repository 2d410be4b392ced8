import Foundation
import Testing
@testable import SequentNN

/// fit's loop: validation split, steps per epoch, callbacks, cancellation, metric resolution.
@Suite struct FitTests {
    /// A linearly separable two-blob problem.
    func blobs(_ n: Int, seed: UInt64) -> (Tensor, Tensor) {
        var rng = SeededGenerator(seed: seed)
        var x = [Float](), y = [Float]()
        for i in 0..<n {
            let c = i % 2
            x += [rng.uniform(-1, 1) + (c == 0 ? -2 : 2), rng.uniform(-1, 1)]
            y.append(Float(c))
        }
        return (Tensor(shape: [n, 2], scalars: x), Tensor(shape: [n], scalars: y))
    }

    func model() throws -> Sequential {
        let m = try Sequential(inputShape: [2], layers: [Dense(units: 8, activation: .relu), Dense(units: 2, activation: .softmax)])
        try m.compile(optimizer: Adam(learningRate: 0.05), loss: SparseCategoricalCrossentropy(), metrics: ["accuracy"])
        return m
    }

    @Test func learnsAndReportsKerasKeys() throws {
        let (x, y) = blobs(200, seed: 1)
        var options = FitOptions(epochs: 5, batchSize: 16)
        options.validationSplit = 0.25
        let history = try model().fit(x: x, y: y, options: options)
        #expect(history.epochs.count == 5)
        #expect(Set(history.epochs[0].logs.keys) == ["loss", "accuracy", "val_loss", "val_accuracy"])
        #expect(history.epochs.last!.logs["val_accuracy"]! > 0.95)
        #expect(history.series["loss"]!.first! > history.series["loss"]!.last!)
        #expect(history.epochs[0].steps == 10)   // 150 training samples / 16, rounded up
    }

    /// After training in small batches, evaluating and predicting a dataset in larger ones keeps the training
    /// buffers (no larger workspaces) and gives the same numbers as one pass over all of it; `steps` still counts
    /// batches of the size asked for.
    @Test func datasetPassesAfterTrainingKeepTheTrainingBuffers() throws {
        let (x, y) = blobs(37, seed: 4)
        let m = try model()
        m.threads = 2
        _ = try m.fit(x: x, y: y, options: FitOptions(epochs: 1, batchSize: 4))
        let capacity = try #require(m.trainer.replicas.first?.capacity)
        let data = TensorData(x: x, y: y)
        let (outputs, labels) = try m.predict(data: data, batchSize: 256)
        let logs = try m.evaluate(data: data, batchSize: 256)
        #expect(m.trainer.replicas.first?.capacity == capacity)
        // One pass over all 37 (which does grow the buffers).
        let whole = try m.predict(x, batchSize: 37).scalars
        #expect(zip(outputs, whole).allSatisfy { abs($0 - $1) <= 1e-6 } && outputs.count == whole.count)
        #expect(labels == y.scalars.map { Int($0) })
        let reference = try m.evaluate(x: x, y: y, batchSize: 37)
        #expect(abs(logs["loss"]! - reference["loss"]!) <= 1e-6 && logs["accuracy"] == reference["accuracy"])
        let first16 = try m.evaluate(data: data, batchSize: 16, steps: 1)
        let x16 = Tensor(shape: [16, 2], scalars: Array(x.scalars.prefix(32)))
        let y16 = Tensor(shape: [16], scalars: Array(y.scalars.prefix(16)))
        #expect(abs(first16["loss"]! - (try m.evaluate(x: x16, y: y16, batchSize: 16))["loss"]!) <= 1e-6)
    }

    @Test func stepsPerEpochBeyondTheDataEndsEachEpochAtTheEndOfTheData() throws {
        // Keras 3: 20 samples in batches of 8 are 3 batches; asking for 7 steps runs out of data after 3 and
        // the epoch ends there ("Your input ran out of data"), the next one starting a fresh pass.
        let (x, y) = blobs(20, seed: 2)
        var options = FitOptions(epochs: 2, batchSize: 8)
        options.stepsPerEpoch = 7
        final class Counter: Callback {
            var count = 0
            func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) { count += 1 }
        }
        let counter = Counter()
        let history = try model().fit(x: x, y: y, options: options, callbacks: [counter])
        #expect(counter.count == 6)
        #expect(history.epochs.map(\.steps) == [3, 3])
    }

    /// Records the sample indices fit gathers, batch by batch, in order.
    final class Recording: TrainingData, @unchecked Sendable {
        let inner: TensorData
        private let lock = NSLock()
        private var log: [[Int]] = []
        init(_ inner: TensorData) { self.inner = inner }
        var count: Int { inner.count }
        var inputWidth: Int { inner.inputWidth }
        var targetWidth: Int { inner.targetWidth }
        var batches: [[Int]] { lock.withLock { log } }
        func gather(_ indices: ArraySlice<Int>, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) throws {
            lock.withLock { log.append(Array(indices)) }
            try inner.gather(indices, x: x, y: y)
        }
        func subset(_ range: Range<Int>) -> any TrainingData { inner.subset(range) }
    }

    @Test func stepsPerEpochContinuesThroughTheDataLikeKeras3() throws {
        // 20 samples, batches of 2: 10 batches. steps_per_epoch 3: epochs read batches 1–3, 4–6, 7–9, then 10
        // alone (the pass ends), and epoch 5 starts a new pass, reshuffled.
        let (x, y) = blobs(20, seed: 6)
        var options = FitOptions(epochs: 5, batchSize: 2)
        options.stepsPerEpoch = 3
        options.shuffle = false
        let plain = Recording(TensorData(x: x, y: y))
        let h = try model().fit(data: plain, options: options)
        #expect(h.epochs.map(\.steps) == [3, 3, 3, 1, 3])
        let firsts = plain.batches.map { $0[0] }
        #expect(firsts == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 0, 2, 4])   // epoch 2 starts at batch 4 (sample 6)

        options.shuffle = true
        options.seed = 11
        let a = Recording(TensorData(x: x, y: y)), b = Recording(TensorData(x: x, y: y))
        let ha = try model().fit(data: a, options: options), hb = try model().fit(data: b, options: options)
        #expect(a.batches == b.batches)                                   // deterministic given the seed
        #expect(ha.epochs.map(\.logs) == hb.epochs.map(\.logs))
        let firstPass = a.batches.prefix(10).flatMap { $0 }
        #expect(firstPass.sorted() == Array(0..<20))                      // epochs 1–4: one pass, each sample once
        #expect(firstPass != Array(0..<20))
        // Epoch 5 opens the second pass: a new permutation, whose first batch differs from the first pass's.
        #expect(Array(a.batches[10...].flatMap { $0 }.prefix(6)) != Array(firstPass.prefix(6)))
        // Without steps_per_epoch the same seed gives the same first pass (pass p is shuffled as epoch p was).
        var full = options
        full.stepsPerEpoch = nil
        full.epochs = 1
        let c = Recording(TensorData(x: x, y: y))
        try model().fit(data: c, options: full)
        #expect(c.batches.flatMap { $0 } == firstPass)
    }

    @Test func resumingAtAnEpochReadsWhereThatEpochRead() throws {
        // initial_epoch 2 of a 10-batch, 3-step run starts at batch 7 of the first pass, as the uninterrupted
        // run did, and the step count (dropout seeds, metrics) continues from 6.
        let (x, y) = blobs(20, seed: 7)
        var options = FitOptions(epochs: 4, batchSize: 2)
        options.stepsPerEpoch = 3
        options.seed = 5
        let whole = Recording(TensorData(x: x, y: y))
        try model().fit(data: whole, options: options)
        options.initialEpoch = 2
        let resumed = Recording(TensorData(x: x, y: y))
        try model().fit(data: resumed, options: options)
        #expect(resumed.batches == Array(whole.batches[6...]))
        #expect(options.stepsBefore(epoch: 2, batches: 10) == 6)
        #expect(options.stepsBefore(epoch: 4, batches: 10) == 10)
        #expect(options.stepsBefore(epoch: 5, batches: 10) == 13)
    }

    @Test func validationStepsEvaluatesTheFirstBatchesEveryEpoch() throws {
        // Keras 3's evaluate resets its iterator: validation_steps K reads the first K batches each time.
        let (x, y) = blobs(40, seed: 8)
        let validation = Recording(TensorData(x: x.slice(20..<40), y: y.slice(20..<40)))
        var options = FitOptions(epochs: 3, batchSize: 4)
        options.validationSteps = 2
        try model().fit(data: TensorData(x: x.slice(0..<20), y: y.slice(0..<20)), options: options,
                        validationData: validation)
        #expect(validation.batches == Array(repeating: [[0, 1, 2, 3], [4, 5, 6, 7]], count: 3).flatMap { $0 })
    }

    @Test func thresholdStopEndsTrainingWithAReason() throws {
        let (x, y) = blobs(200, seed: 3)
        let history = try model().fit(x: x, y: y, options: FitOptions(epochs: 50, batchSize: 16),
                                      callbacks: [try ThresholdStop(monitor: "accuracy", above: 0.9)])
        #expect(history.epochs.count < 50)
        #expect(history.epochs.last!.logs["accuracy"]! > 0.9)
        #expect(history.stopReason?.hasPrefix("threshold_stop: accuracy") == true)
    }

    @Test func cancellationStopsWithinABatch() throws {
        let (x, y) = blobs(400, seed: 4)
        let token = CancellationToken()
        final class CancelAt: Callback {
            let token: CancellationToken
            init(_ t: CancellationToken) { token = t }
            func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {
                if progress.epoch == 1 && progress.step == 3 { token.cancel() }
            }
        }
        var options = FitOptions(epochs: 5, batchSize: 10)
        options.cancellation = token
        let history = try model().fit(x: x, y: y, options: options, callbacks: [CancelAt(token)])
        #expect(history.cancelled)
        #expect(history.epochs.count == 1)
        #expect(history.stopReason == "cancelled at epoch 2, step 3")
    }

    @Test func terminateOnNaNFailsWithEpochAndStep() throws {
        let (x, y) = blobs(64, seed: 5)
        let m = try Sequential(inputShape: [2], layers: [Dense(units: 2)])
        try m.compile(optimizer: SGD(learningRate: 1e30), loss: MeanSquaredError())
        let targets = Tensor(shape: [64, 2], scalars: y.scalars.flatMap { [$0, 1 - $0] })
        let history = try m.fit(x: x, y: targets, options: FitOptions(epochs: 3, batchSize: 8), callbacks: [TerminateOnNaN()])
        #expect(history.failure?.hasPrefix("terminate_on_nan: loss became") == true)
        #expect(history.failure?.contains("at epoch 1, step") == true)
        _ = x
    }

    @Test func labelsOutOfRangeAreRejected() throws {
        let (x, _) = blobs(4, seed: 6)
        #expect(throws: TrainingError.self) {
            try model().fit(x: x, y: Tensor(shape: [4], scalars: [0, 1, 2, 1]))
        }
    }

    @Test func accuracyResolvesLikeKeras() throws {
        let sparse = try Metric.resolve("accuracy", loss: SparseCategoricalCrossentropy(), outputWidth: 10, field: "m")
        #expect(sparse.kind == .sparseCategoricalAccuracy)
        let categorical = try Metric.resolve("accuracy", loss: CategoricalCrossentropy(), outputWidth: 10, field: "m")
        #expect(categorical.kind == .categoricalAccuracy)
        let binary = try Metric.resolve("acc", loss: BinaryCrossentropy(), outputWidth: 1, field: "m")
        #expect(binary.kind == .binaryAccuracy && binary.name == "acc")
    }

    @Test func dropoutMasksDoNotDependOnTheBatchSplit() throws {
        let d = try Dropout(rate: 0.5)
        try d.build(inputShape: [32])
        var x = [Float](repeating: 1, count: 4 * 32)
        var whole = [Float](repeating: 0, count: 4 * 32), parts = [Float](repeating: 0, count: 4 * 32)
        var scratch: Float = 0
        let ctx = ForwardContext(training: true, seed: 99, sampleOffset: 0)
        x.withUnsafeMutableBufferPointer { xb in
            whole.withUnsafeMutableBufferPointer { wb in
                d.forward(x: xb.baseAddress!, y: wb.baseAddress!, n: 4, params: UnsafePointer(wb.baseAddress!), scratch: &scratch, context: ctx)
            }
            parts.withUnsafeMutableBufferPointer { pb in
                var c2 = ctx
                d.forward(x: xb.baseAddress!, y: pb.baseAddress!, n: 2, params: UnsafePointer(pb.baseAddress!), scratch: &scratch, context: c2)
                c2.sampleOffset = 2
                d.forward(x: xb.baseAddress! + 64, y: pb.baseAddress! + 64, n: 2, params: UnsafePointer(pb.baseAddress!), scratch: &scratch, context: c2)
            }
        }
        #expect(whole == parts)
        let kept = whole.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(kept.count > 32 && kept.count < 96)
    }
}

/// The loader thread that feeds fit.
@Suite struct PrefetchTests {
    /// Serves `inner`'s samples but fails on the `failAt`-th batch, like a file vanishing mid-epoch.
    final class Failing: TrainingData, @unchecked Sendable {
        let inner: TensorData, failAt: Int
        var calls = 0
        init(_ inner: TensorData, failAt: Int) { self.inner = inner; self.failAt = failAt }
        var count: Int { inner.count }
        var inputWidth: Int { inner.inputWidth }
        var targetWidth: Int { inner.targetWidth }
        func gather(_ indices: ArraySlice<Int>, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) throws {
            calls += 1
            if calls == failAt { throw TrainingError("sample \(indices.first!) is gone") }
            try inner.gather(indices, x: x, y: y)
        }
        func subset(_ range: Range<Int>) -> any TrainingData { self }
    }

    func model() throws -> Sequential {
        let m = try Sequential(inputShape: [4], layers: [Dense(units: 3)], seed: 1)
        try m.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        return m
    }

    func data(_ n: Int) -> TensorData {
        TensorData(x: Tensor(shape: [n, 4], scalars: randomArray(n * 4, seed: 2)),
                   y: Tensor(shape: [n], scalars: labels(n, classes: 3, seed: 3)))
    }

    @Test func aLoaderErrorStopsFitWithIt() throws {
        var options = FitOptions(epochs: 2, batchSize: 4)
        options.shuffle = false
        let error = #expect(throws: TrainingError.self) {
            try model().fit(data: Failing(data(20), failAt: 3), options: options)
        }
        #expect(error?.message == "sample 8 is gone")
    }

    @Test func tensorDataAndTensorsTrainIdentically() throws {
        // The same samples through fit(x:y:) and fit(data:) with augmentation-free prefetching: same history.
        var options = FitOptions(epochs: 2, batchSize: 5)
        options.seed = 9
        options.epochs = 3
        options.stepsPerEpoch = 3   // fewer than the 4 batches in the data: epochs carry on through it
        let d = data(20)
        let a = try model().fit(x: d.x, y: d.y, options: options)
        let b = try model().fit(data: d, options: options)
        #expect(a.epochs.map(\.logs) == b.epochs.map(\.logs))
        #expect(b.epochs.allSatisfy { $0.inputWaitSeconds >= 0 })
        #expect(b.epochs.map(\.steps) == [3, 1, 3])
    }

    @Test func stoppingEarlyReleasesTheLoader() throws {
        // A callback stops after the first batch; fit must return (the loader thread is not left blocked).
        final class StopNow: Callback, @unchecked Sendable {
            func onBatchEnd(_ p: BatchProgress, logs: [String: Double], model: Sequential) { model.stopTraining = true }
        }
        let h = try model().fit(data: data(40), options: FitOptions(epochs: 3, batchSize: 4), callbacks: [StopNow()])
        #expect(h.epochs.count == 1)
    }
}
