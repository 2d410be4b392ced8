import Foundation
import Testing
@testable import SequentNN

/// `fit(class_weight=)`: Keras 3 turns it into per-sample weights (`class_weight[label]`, 1 when absent) that
/// multiply each sample's loss; the batch loss stays `Σ w·l / N` (`sum_over_batch_size`) and `metrics` are
/// unweighted.
@Suite struct ClassWeightTests {
    func model(_ loss: Loss, units: Int, activation: Activation, lr: Float = 0.1) throws -> Sequential {
        let m = try Sequential(inputShape: [3], layers: [Dense(units: 5, activation: .tanh),
                                                        Dense(units: units, activation: activation)], seed: 3)
        m.threads = 2
        try m.compile(optimizer: SGD(learningRate: lr), loss: loss, metrics: ["accuracy"])
        return m
    }

    func step(_ m: Sequential, _ x: [Float], _ y: [Float], n: Int, weights: [Int: Float]? = nil) -> Sequential.BatchResult {
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeBufferPointer { yb in m.trainStep(x: xb.baseAddress!, y: yb.baseAddress!, n: n, step: 0, classWeight: weights) }
        }
    }

    func params(_ m: Sequential) -> [Float] { Array(UnsafeBufferPointer(start: m.parameters, count: m.parameterCount)) }

    /// Integer weights are repeated samples: a weight-2 sample in a batch of N moves the weights as two
    /// copies of it do in a batch of N + 1 at a learning rate scaled by (N + 1) / N. That checks the gradient
    /// (fused softmax, fused sigmoid and one-hot paths) as well as the loss value.
    @Test(arguments: [0, 1, 2])
    func integerWeightsEqualRepeatedSamples(lossCase: Int) throws {
        let x = randomArray(4 * 3, seed: 5)
        // Rows 1 and 3 hold the heavy class in every case.
        let (loss, units, act, y): (Loss, Int, Activation, [Float]) = switch lossCase {
        case 0: (SparseCategoricalCrossentropy(), 3, .softmax, [0, 2, 1, 2])
        case 1: (BinaryCrossentropy(), 1, .sigmoid, [0, 1, 0, 1])
        default: (CategoricalCrossentropy(labelSmoothing: 0.1), 3, .softmax, [1, 0, 0,  0, 0, 1,  0, 1, 0,  0, 0, 1])
        }
        let tw = y.count / 4
        let weighted = try model(loss, units: units, activation: act)
        // Class 2 (1 for binary) weighs 2; the others are absent from the dict, so weigh 1.
        let heavy = lossCase == 1 ? 1 : 2
        let r = step(weighted, x, y, n: 4, weights: [heavy: 2])
        // The heavy samples appear twice in the reference batch.
        let rows = [0, 1, 1, 2, 3, 3]
        let xr = rows.flatMap { Array(x[($0 * 3)..<($0 * 3 + 3)]) }
        let yr = rows.flatMap { Array(y[($0 * tw)..<($0 * tw + tw)]) }
        let reference = try model(loss, units: units, activation: act, lr: 0.1 * 6 / 4)
        let ref = step(reference, xr, yr, n: 6)
        #expect(abs(r.lossSum - ref.lossSum) < 1e-5, "loss \(r.lossSum) vs \(ref.lossSum)")
        let a = params(weighted), b = params(reference)
        let worst = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "worst parameter difference \(worst)")
        // The update really moved the weights differently from an unweighted step.
        let plain = try model(loss, units: units, activation: act)
        _ = step(plain, x, y, n: 4)
        #expect(zip(params(plain), a).map { abs($0 - $1) }.max()! > 1e-4)
    }

    @Test func valueIsWeightedSumOverBatchSizeAndMetricsAreUnweighted() throws {
        let x = randomArray(5 * 3, seed: 9), y: [Float] = [0, 1, 2, 1, 0]
        let probe = try model(SparseCategoricalCrossentropy(), units: 3, activation: .softmax)
        // Per-sample losses before any update.
        let losses = (0..<5).map { i in
            Array(x[(i * 3)..<(i * 3 + 3)]).withUnsafeBufferPointer { xb in
                [y[i]].withUnsafeBufferPointer { yb in probe.testStep(x: xb.baseAddress!, y: yb.baseAddress!, n: 1).lossSum }
            }
        }
        let weights: [Int: Float] = [0: 0.5, 1: 3.5, 2: -1]   // Keras accepts any float, negative included
        let m = try model(SparseCategoricalCrossentropy(), units: 3, activation: .softmax)
        let r = step(m, x, y, n: 5, weights: weights)
        let expected = zip(losses, y).map { l, c in l * Double(weights[Int(c)]!) }.reduce(0, +)
        #expect(abs(r.lossSum - expected) < 1e-5, "\(r.lossSum) vs \(expected)")
        let unweighted = step(try model(SparseCategoricalCrossentropy(), units: 3, activation: .softmax), x, y, n: 5)
        #expect(r.metricSums == unweighted.metricSums)
        // fit reports Σ w·l / N: the epoch's loss over one batch is the step's sum over 5 samples.
        let fitted = try model(SparseCategoricalCrossentropy(), units: 3, activation: .softmax)
        var options = FitOptions(epochs: 1, batchSize: 5)
        options.shuffle = false
        options.classWeight = weights
        let h = try fitted.fit(x: Tensor(shape: [5, 3], scalars: x), y: Tensor(shape: [5], scalars: y), options: options)
        #expect(abs(h.epochs[0].logs["loss"]! - expected / 5) < 1e-6)
    }

    @Test func labelsMapAsKerasDoes() {
        func index(_ row: [Float]) -> Int { row.withUnsafeBufferPointer { Sequential.classIndex($0.baseAddress!, targetWidth: row.count) } }
        #expect(index([2]) == 2)
        #expect(index([2.5]) == 2)             // np.round: half to even
        #expect(index([0.9]) == 1)
        #expect(index([0, 0.2, 0.7, 0.1]) == 2)  // one-hot / soft rows: argmax
        #expect(index([.nan]) == -1)
    }
}
