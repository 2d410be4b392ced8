import Foundation
import SequentNN

/// Inference figures of a trained model for `sequent bench`: single-image latency and batch throughput through
/// the serving path, and batch throughput through the engine's multi-threaded `Sequential.predict`.
struct InferenceBench {
    /// Batch sizes whose throughput is measured.
    static let batchSizes = [1, 32, 256]
    /// The serving batcher's largest batch (`ModelCache(maxBatch:)`'s default, which `sequent serve` uses): the
    /// batch predict route hands the predictor chunks of at most this many images.
    static let servingMaxBatch = 64

    let model: Sequential
    /// `count` samples, `model.inputCount` floats each.
    let samples: [Float]
    let count: Int
    /// Seconds each throughput figure runs for (at least three passes).
    var seconds = 1.0

    /// Up to `maximum` samples of `data` (repeated when it has fewer), as the model's input rows.
    init(model: Sequential, data: any TrainingData, maximum: Int) throws {
        self.model = model
        let have = max(1, min(data.count, maximum))
        var x = [Float](repeating: 0, count: have * data.inputWidth)
        var y = [Float](repeating: 0, count: have * data.targetWidth)
        try x.withUnsafeMutableBufferPointer { xb in
            try y.withUnsafeMutableBufferPointer { yb in
                try data.gather(Array(0..<have)[...], x: xb.baseAddress!, y: yb.baseAddress!)
            }
        }
        var rows = x
        while rows.count < maximum * data.inputWidth { rows += x }
        samples = Array(rows.prefix(maximum * data.inputWidth))
        count = maximum
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Milliseconds of each of `calls` single-image predictions (after warm-up), through a `Predictor` made as the
    /// service makes its batcher's. `calls == 0` picks enough calls for about `seconds × 3` (100 to 2,000).
    func latencies(calls: Int) -> [Double] {
        let predictor = model.makePredictor(maxBatch: Self.servingMaxBatch)
        return samples.withUnsafeBufferPointer { s in
            let width = model.inputCount
            var t = Self.now()
            for i in 0..<20 { _ = predictor.predict(s.baseAddress! + (i % count) * width, n: 1) }
            let warmMs = Double(Self.now() - t) / 1e6 / 20
            let n = calls > 0 ? calls : min(2000, max(100, Int(seconds * 3000 / max(warmMs, 1e-3))))
            var ms = [Double](repeating: 0, count: n)
            for i in 0..<n {
                t = Self.now()
                _ = predictor.predict(s.baseAddress! + (i % count) * width, n: 1)
                ms[i] = Double(Self.now() - t) / 1e6
            }
            return ms
        }
    }

    /// Samples/s (median of repeated passes) classifying `n` samples as the batch predict route does: one
    /// predictor, on the calling thread, chunks of at most `servingMaxBatch`.
    func servingThroughput(batch n: Int) -> [Double] {
        let predictor = model.makePredictor(maxBatch: Self.servingMaxBatch)
        let width = model.inputCount
        return samples.withUnsafeBufferPointer { s in
            repeated {
                var lo = 0
                while lo < n {
                    let chunk = min(Self.servingMaxBatch, n - lo)
                    _ = predictor.predict(s.baseAddress! + lo * width, n: chunk)
                    lo += chunk
                }
                return n
            }
        }
    }

    /// Samples/s of `Sequential.predict` on a batch of `n` (the engine's batched path: `model.threads` workers).
    func engineThroughput(batch n: Int) throws -> [Double] {
        let x = Tensor(shape: [n] + model.inputShape, scalars: Array(samples.prefix(n * model.inputCount)))
        var failure: Error?
        let rates = repeated {
            do { _ = try model.predict(x, batchSize: n) } catch { failure = error }
            return n
        }
        if let failure { throw failure }
        return rates
    }

    /// Samples/s of passes of `body` (which returns the samples it did): one untimed, then passes until
    /// `seconds` have gone by and at least three were timed.
    func repeated(_ body: () -> Int) -> [Double] {
        _ = body()
        var rates: [Double] = []
        let start = Self.now()
        while rates.count < 3 || Double(Self.now() - start) / 1e9 < seconds {
            let t = Self.now()
            let n = body()
            rates.append(Double(n) / (Double(Self.now() - t) / 1e9))
        }
        return rates
    }

    /// The `q`-quantile (0…1) of `values`, nearest rank.
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func median(_ values: [Double]) -> Double { quantile(values, 0.5) }

    /// The JSON fields: `predict_one_p50_ms`, `predict_one_p99_ms`, `predict_one_calls`,
    /// `infer_b{N}_sps` (serving path), `infer_engine_b{N}_sps`, and the GFLOP/s of the batch-256 figures.
    func measure(latencyCalls: Int) throws -> [String: JSONValue] {
        let ms = latencies(calls: latencyCalls)
        var out: [String: JSONValue] = [
            "predict_one_p50_ms": .number(Self.quantile(ms, 0.5)), "predict_one_p99_ms": .number(Self.quantile(ms, 0.99)),
            "predict_one_mean_ms": .number(ms.reduce(0, +) / Double(ms.count)), "predict_one_calls": .number(Double(ms.count)),
            "serving_max_batch": .number(Double(Self.servingMaxBatch)), "engine_threads": .number(Double(model.threads)),
            "inference_mflop_per_sample": .number(Double(model.forwardFlopsPerSample) / 1e6),
        ]
        let flops = Double(model.forwardFlopsPerSample)
        for n in Self.batchSizes where n <= count {
            let serve = Self.median(servingThroughput(batch: n)), engine = Self.median(try engineThroughput(batch: n))
            out["infer_b\(n)_sps"] = .number(serve)
            out["infer_engine_b\(n)_sps"] = .number(engine)
            out["infer_b\(n)_gflops"] = .number(serve * flops / 1e9)
            out["infer_engine_b\(n)_gflops"] = .number(engine * flops / 1e9)
        }
        return out
    }
}
