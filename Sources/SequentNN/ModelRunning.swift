/// The model's training, evaluation and prediction entry points (Keras's `train_on_batch`, `test_on_batch`,
/// `evaluate`, `predict`); the `Trainer` does the work.
extension Sequential {
    /// Sums of loss and metrics over a batch.
    public struct BatchResult: Sendable {
        public var lossSum: Double
        public var metricSums: [Double]
        public var count: Int
    }

    /// One optimisation step on a batch (`train_on_batch`): forward, loss, backward, gradient reduction,
    /// optimizer update. `x` is `[n, input…]`, `y` is `[n, targetWidth]`. `step` seeds dropout.
    /// `classWeight` (Keras's `fit(class_weight=)`) weights each sample's loss and gradient by its label's
    /// weight (1 for a label not in it); the loss is still divided by `n` (`sum_over_batch_size`), and metrics
    /// are unweighted, as Keras 3's `metrics` (not `weighted_metrics`) are.
    public func trainStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int, step: Int,
                          classWeight: [Int: Float]? = nil) -> BatchResult {
        trainer.trainStep(x: x, y: y, n: n, step: step, classWeight: classWeight)
    }

    /// Loss and metrics of a batch without training (used by `evaluate` and validation).
    public func testStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int) -> BatchResult {
        trainer.testStep(x: x, y: y, n: n)
    }

    /// How many threads a batch of `n` is split across (see `Trainer.shardCount`).
    func shardCount(for n: Int) -> Int { trainer.shardCount(for: n) }

    /// The class a target row names, as Keras's `class_weight_to_sample_weights` reads it: the argmax of a
    /// row of several values (one-hot), else the value rounded half-to-even (`np.round`); -1 (no class, so
    /// weight 1) for a value that is not finite.
    static func classIndex(_ row: UnsafePointer<Float>, targetWidth: Int) -> Int {
        if targetWidth > 1 { return argmax(row, targetWidth) }
        let v = row[0].rounded(.toNearestOrEven)
        guard v.isFinite, abs(v) < 1e9 else { return -1 }
        return Int(v)
    }

    /// Mean loss and metrics over a dataset (`model.evaluate`), keyed "loss" and by metric name.
    public func evaluate(x: Tensor, y: Tensor, batchSize: Int = 32, steps: Int? = nil) throws -> [String: Double] {
        try checkData(x: x, y: y, field: "evaluate")
        return try evaluate(data: TensorData(x: x, y: y), batchSize: batchSize, steps: steps)
    }

    /// Model outputs for `x` (`model.predict`), in batches, with the output activation applied.

    /// Model outputs for `x` (`model.predict`), in batches, with the output activation applied.
    public func predict(_ x: Tensor, batchSize: Int = 32) throws -> Tensor {
        guard Array(x.shape.dropFirst()) == inputShape else {
            throw TrainingError("predict expects inputs of shape [N] + \(inputShape), got \(x.shape)")
        }
        let n = x.shape[0]
        var out = [Float](repeating: 0, count: n * outputWidth)
        x.scalars.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                trainer.predict(xb.baseAddress!, n: n, batchSize: batchSize, into: ob.baseAddress!)
            }
        }
        return Tensor(shape: [n] + outputShape, scalars: out)
    }

    /// Model outputs for every sample of `data`, in order (`predict` over a dataset), with the class each target
    /// row names (`classIndex`). Batches are gathered by a prefetcher (two in memory), so a folder dataset need
    /// not fit in memory, and run at most as large as the model's training buffers (`Trainer.inferenceBatch`).
    public func predict(data: any TrainingData, batchSize: Int = 256) throws -> (outputs: [Float], labels: [Int]) {
        guard data.inputWidth == inputCount else {
            throw TrainingError("predict: samples have \(data.inputWidth) values, the model expects \(inputShape) = \(inputCount)")
        }
        let n = data.count, width = outputWidth, targetWidth = data.targetWidth
        let batch = trainer.inferenceBatch(max(batchSize, 1))
        var outputs = [Float](repeating: 0, count: n * width), labels = [Int](repeating: -1, count: n)
        let plan = stride(from: 0, to: n, by: batch).map { Array($0..<min(n, $0 + batch)) }
        let loader = BatchPrefetcher(data: data, plan: plan)
        defer { loader.finish() }
        var lo = 0
        while let b = try loader.next() {
            outputs.withUnsafeMutableBufferPointer { ob in
                trainer.predict(b.x, n: b.count, batchSize: b.count, into: ob.baseAddress! + lo * width)
            }
            for i in 0..<b.count { labels[lo + i] = Self.classIndex(b.y + i * targetWidth, targetWidth: targetWidth) }
            loader.release()
            lo += b.count
        }
        return (outputs, labels)
    }

    /// An inference path with its own buffers, for serving: no per-call setup beyond the forward pass. Create
    /// one per serving thread. A call splits large layers across up to `threads` threads (by default the
    /// model's), taken from `InferenceCores.shared`, so concurrent predictors share the cores.
    public func makePredictor(maxBatch: Int = 1, threads: Int? = nil) -> Predictor {
        Predictor(model: self, capacity: maxBatch, threads: threads ?? self.threads)
    }
}
