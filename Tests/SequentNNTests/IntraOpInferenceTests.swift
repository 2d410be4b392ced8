import CSequentSupport
import Foundation
import Testing
@testable import SequentNN

/// Intra-op parallel inference (`Sequential.inferenceForward`, `Predictor` with several threads): the row slices
/// of the direct convolution kernels, the fused conv + pool slices, the Dense column and kernel-row parts and the
/// one-row Dense kernel give one thread's results, at both kernel levels, for one sample and a few, with splits
/// that do not divide evenly.
@Suite struct IntraOpInferenceTests {
    /// Odd sizes throughout: 15 × 13 → fused conv + pool 13 × 11 → 6 × 5 (a row and a column dropped) → conv
    /// 4 × 3 with 32 filters (two-vector blocks) → conv 3 × 2 with 48 (one-vector blocks) → Dense of 70 units
    /// (not a multiple of 16) → softmax output.
    func convModel() throws -> Sequential {
        let m = try Sequential(inputShape: [15, 13, 3], layers: [
            Conv2D(filters: 16, kernelSize: [3, 3], activation: .relu), MaxPooling2D(),
            Conv2D(filters: 32, kernelSize: [3, 3], activation: .relu),
            Conv2D(filters: 48, kernelSize: [2, 2], activation: .relu),
            Flatten(), Dense(units: 70, activation: .relu), Dense(units: 5, activation: .softmax),
        ], seed: 11)
        for i in [0, 2, 3, 5] {
            var w = m.weights(ofLayer: i)
            w[1].scalars = randomArray(w[1].scalars.count, seed: UInt64(30 + i), scale: 0.1)
            try m.setWeights(ofLayer: i, w)
        }
        return m
    }

    /// Dense only: 300 inputs (kernel-row parts of 64), ReLU outputs with zeros feeding the next layer.
    func denseModel() throws -> Sequential {
        try Sequential(inputShape: [300], layers: [
            Dense(units: 70, activation: .relu), Dense(units: 130, activation: .relu), Dense(units: 3, activation: .sigmoid),
        ], seed: 5)
    }

    /// Outputs of `model` on `n` samples through a predictor of `threads` threads that splits every layer.
    func outputs(_ model: Sequential, n: Int, threads: Int, input: [Float]) -> [Float] {
        let p = Predictor(model: model, capacity: n, threads: threads, cores: InferenceCores(count: threads))
        p.minimumSplitFlops = 0
        p.minimumShareFlops = .max
        return input.withUnsafeBufferPointer { Array(p.predict($0.baseAddress!, n: n)) }
    }

    func expectSplitEqualsOneThread(_ model: Sequential) {
        for n in [1, 3] {
            // Some exact zeros in the input, as a ReLU would leave, for the Dense kernel's skipping.
            let x = randomArray(n * model.inputCount, seed: UInt64(n)).enumerated().map { $0.offset % 5 == 0 ? 0 : $0.element }
            let one = outputs(model, n: n, threads: 1, input: x)
            for threads in [2, 3] {
                let split = outputs(model, n: n, threads: threads, input: x)
                #expect(split.count == one.count)
                let worst = zip(split, one).map { abs($0 - $1) }.max() ?? .infinity
                #expect(worst <= 1e-5, "n \(n), \(threads) threads: worst difference \(worst)")
            }
        }
    }

    /// Runs `body` at each kernel level the CPU has (AVX-512, AVX2), restoring the detected level after.
    func atEachLevel(_ body: () throws -> Void) rethrows {
        let detected = sequent_conv2d_limit_level(2)
        defer { _ = sequent_conv2d_limit_level(2) }
        for level in [2, 1] where level <= detected {
            #expect(sequent_conv2d_limit_level(Int32(level)) == level)
            try body()
        }
    }

    @Test func convNetSplitEqualsOneThread() throws {
        try #require(sequent_conv2d_direct_available() != 0, "this CPU has no AVX2: the direct kernels are off")
        let m = try convModel()
        let layers = m.layers.compactMap { $0 as? Conv2D }
        #expect(layers.allSatisfy { $0.directForward })
        #expect(m.plan.pooled[0] && !m.plan.pooled[2])
        try atEachLevel { expectSplitEqualsOneThread(try convModel()) }
    }

    @Test func denseNetSplitEqualsOneThread() throws {
        try atEachLevel { expectSplitEqualsOneThread(try denseModel()) }
    }

    /// The row slices of both convolution passes, computed one range at a time in an uneven order, equal the
    /// whole pass.
    @Test func rowSlicesCoverThePass() throws {
        try #require(sequent_conv2d_direct_available() != 0, "this CPU has no AVX2: the direct kernels are off")
        let (n, h, w, c, k, f) = (3, 9, 8, 2, 3, 32)
        let x = randomArray(n * h * w * c, seed: 1), kernel = randomArray(k * k * c * f, seed: 2, scale: 0.3)
        let bias = randomArray(f, seed: 3, scale: 0.1)
        let oh = h - k + 1, ow = w - k + 1, ph = oh / 2, pw = ow / 2
        atEachLevel {
            var whole = [Float](repeating: 0, count: n * oh * ow * f), sliced = whole
            #expect(sequent_conv2d_forward(x, kernel, bias, &whole, n, h, w, c, k, k, f, 1) != 0)
            for r in [(7, 21), (0, 1), (1, 7)] {
                #expect(sequent_conv2d_forward_rows(x, kernel, bias, &sliced, n, h, w, c, k, k, f, 1, r.0, r.1) != 0)
            }
            let sameRows = sliced == whole
            #expect(sameRows)
            #expect(sequent_conv2d_forward_rows(x, kernel, bias, &sliced, n, h, w, c, k, k, f, 1, 0, n * oh + 1) == 0)

            var scratch = [Float](repeating: 0, count: sequent_conv2d_forward_maxpool2_scratch(w, k, f))
            var pooled = [Float](repeating: 0, count: n * ph * pw * f), pooledSliced = pooled
            var arg = [UInt8](repeating: 0, count: pooled.count), argSliced = arg
            #expect(sequent_conv2d_forward_maxpool2(x, kernel, bias, &pooled, &arg, &scratch, n, h, w, c, k, k, f, 1) != 0)
            for r in [(4, 9), (0, 4)] {
                #expect(sequent_conv2d_forward_maxpool2_rows(x, kernel, bias, &pooledSliced, &argSliced, &scratch, n, h,
                                                             w, c, k, k, f, 1, r.0, r.1) != 0)
            }
            let samePools = pooledSliced == pooled && argSliced == arg
            #expect(samePools)
        }
    }

    /// The one-row Dense kernel against the reference loops: column ranges that are not multiples of 16, inputs
    /// with zeros (skipped) and nonzero counts that leave a partial group, the columns outside the range untouched.
    @Test func denseRowKernelMatchesReference() throws {
        let (inputs, units) = (37, 45)
        let kernel = randomArray(inputs * units, seed: 8)
        var x = randomArray(inputs, seed: 9)
        for i in stride(from: 0, to: inputs, by: 3) { x[i] = 0 }
        let reference = Dense.referenceForward(x: x, kernel: kernel, bias: nil, m: 1, inputs: inputs, units: units)
        atEachLevel {
            for (c0, c1) in [(0, units), (5, 22), (16, 45), (44, 45)] {
                var y = [Float](repeating: -7, count: units)
                sequent_dense_forward_row(x, kernel, inputs, units, c0, c1, &y)
                for j in 0..<units {
                    if j >= c0 && j < c1 { #expect(abs(y[j] - reference[j]) <= 1e-5 * max(1, abs(reference[j]))) }
                    else { #expect(y[j] == -7) }
                }
            }
        }
    }

    /// A batch shared out by samples gives one thread's outputs: shares that do not divide the batch, more threads
    /// than the budget grants (one workspace then runs the batch in chunks), a batch as large as the capacity.
    @Test func batchSharedBySamplesEqualsOneThread() throws {
        for model in [try convModel(), try denseModel()] {
            let capacity = 7
            let x = randomArray(capacity * model.inputCount, seed: 21)
            let one = Predictor(model: model, capacity: capacity, threads: 1)
            for n in [2, 5, 7] {
                let reference = x.withUnsafeBufferPointer { Array(one.predict($0.baseAddress!, n: n)) }
                for (threads, budget) in [(2, 2), (3, 3), (3, 1)] {
                    let p = Predictor(model: model, capacity: capacity, threads: threads, cores: InferenceCores(count: budget))
                    p.minimumShareFlops = 0
                    let shared = x.withUnsafeBufferPointer { Array(p.predict($0.baseAddress!, n: n)) }
                    #expect(shared.count == reference.count)
                    let worst = zip(shared, reference).map { abs($0 - $1) }.max() ?? .infinity
                    #expect(worst <= 1e-5, "n \(n), \(threads) threads of \(budget): worst difference \(worst)")
                }
            }
        }
    }

    @Test func partsCoverTheRangeUnevenly() {
        for (count, threads, align) in [(5, 2, 1), (7, 3, 1), (70, 2, 16), (300, 3, 64), (2, 3, 1), (10, 2, 64)] {
            let seen = Seen()
            let parts = Sequential.inParts(count, parts: threads, align: align) { _, range in
                seen.add(range)
                return range.lowerBound % align == 0
            }
            #expect(seen.counts == [Int](repeating: 1, count: count).enumerated().reduce(into: [:]) { $0[$1.offset] = 1 })
            #expect(parts == max(1, min(threads, count / align)))
        }
        #expect(Sequential.inParts(10, parts: 2) { part, _ in part == 0 } == 0)
    }

    /// How often each index was visited.
    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var visits: [Int: Int] = [:]
        func add(_ range: Range<Int>) { lock.withLock { for i in range { visits[i, default: 0] += 1 } } }
        var counts: [Int: Int] { lock.withLock { visits } }
    }

    /// The spinning pool runs every iteration exactly once: jobs back to back (workers spinning), after the
    /// workers have parked, with fewer threads than workers, and from two callers at once (one falls back to
    /// `concurrentPerform` while the other holds the pool).
    @Test func inferencePoolRunsEveryIterationOnce() throws {
        let pool = InferencePool(workers: 2)
        @Sendable func check(_ iterations: Int, threads: Int) -> Bool {
            let seen = Seen()
            pool.run(iterations: iterations, threads: threads) { seen.add($0..<($0 + 1)) }
            return seen.counts == Dictionary(uniqueKeysWithValues: (0..<iterations).map { ($0, 1) })
        }
        var wrong = 0
        for run in 0..<3000 where !check(1 + run % 11, threads: 1 + run % 3) { wrong += 1 }
        #expect(wrong == 0)
        // Parked workers are woken by the job itself, or by `prepare` before it.
        for prepare in [false, true] {
            try #require(pool.waitUntilParked(deadline: .now() + 10), "the workers did not park")
            if prepare { pool.prepare() }
            #expect(check(8, threads: 3))
        }
        let failures = Seen()
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for run in 0..<1000 where !check(2 + (run + caller) % 7, threads: 3) { failures.add(0..<1) }
        }
        #expect(failures.counts.isEmpty)
    }

    @Test func coresAreSharedAmongPredictions() {
        let cores = InferenceCores(count: 2)
        let first = cores.acquire(2)
        let second = cores.acquire(2)
        #expect(first == 2 && second == 1)
        cores.release(first)
        #expect(cores.acquire(2) == 1)
        cores.release(1)
        cores.release(second)
        #expect(cores.taken == 0 && cores.acquire(3) == 2)
    }
}
