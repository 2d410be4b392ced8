import Foundation
import Testing
@testable import SequentNN
import CSequentSupport

/// BatchNormalization against Keras 3 (Tests/Fixtures/keras-batchnorm.json), across thread splits, frozen,
/// saved and folded for serving.
@Suite struct BatchNormalizationTests {
    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/keras-batchnorm.json")
        return (try? JSONValue.parse(Data(contentsOf: url))) ?? .null
    }()

    static func floats(_ v: JSONValue?) -> [Float] { (v?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }

    static func layer(_ config: JSONValue?) throws -> BatchNormalization {
        guard case .object(var c)? = config else { throw ConfigError(field: "config", detail: "missing") }
        c["type"] = "BatchNormalization"
        return try #require(try ModelConfig.makeLayer(.object(c), path: "bn", kerasKeys: true) as? BatchNormalization)
    }

    /// Keras's weights in Sequent's order (gamma, beta, moving_mean, moving_variance, each when present).
    static func weights(_ c: JSONValue, _ bn: BatchNormalization) -> [Float] {
        (bn.scale ? floats(c["gamma"]) : []) + (bn.center ? floats(c["beta"]) : []) + floats(c["moving_mean"])
            + floats(c["moving_variance"])
    }

    @Test func matchesKerasInInferenceAndTraining() throws {
        let cases = Self.fixture["cases"]?.arrayValue ?? []
        #expect(cases.count >= 6)
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let bn = try Self.layer(c["config"])
            let shape = (c["input_shape"]?.arrayValue ?? []).compactMap(\.intValue)
            let x = Self.floats(c["input"]), w = Self.floats(c["weighting"])
            try bn.build(inputShape: Array(shape.dropFirst()))
            let params = Self.weights(c, bn)
            for (mode, context) in [("inference", ForwardContext.inference),
                                    ("training", ForwardContext(training: true, seed: 0, sampleOffset: 0))] {
                let expected = c[mode]!
                let r = try LayerCall(bn, inputShape: Array(shape.dropFirst()), x: x, n: shape[0], params: params, dy: w,
                                      context: context)
                #expect(KerasFixtureTests.close(r.y, Self.floats(expected["output"]), tolerance: 1e-5), "\(name) \(mode) output")
                #expect(KerasFixtureTests.close(r.dx, Self.floats(expected["input_gradient"]), tolerance: 1e-4),
                        "\(name) \(mode) input gradient \(r.dx.prefix(4)) vs \(Self.floats(expected["input_gradient"]).prefix(4))")
                #expect(r.grads.allSatisfy { $0.isFinite }, "\(name) \(mode): every gradient is written")
                if mode == "training" {
                    let c = bn.channels
                    var offset = 0
                    if bn.scale {
                        #expect(KerasFixtureTests.close(Array(r.grads[0..<c]), Self.floats(expected["gamma_gradient"]), tolerance: 1e-4), "\(name) dgamma")
                        offset += c
                    }
                    if bn.center {
                        #expect(KerasFixtureTests.close(Array(r.grads[offset..<(offset + c)]), Self.floats(expected["beta_gradient"]), tolerance: 1e-4), "\(name) dbeta")
                    }
                }
            }
        }
    }

    /// The moving statistics after one training batch, through the model's training step (which is where they
    /// move), against Keras's after one training call.
    @Test func movingStatisticsMoveAsKerasAfterOneBatch() throws {
        for c in Self.fixture["cases"]?.arrayValue ?? [] {
            let name = c["name"]?.stringValue ?? "?"
            let shape = (c["input_shape"]?.arrayValue ?? []).compactMap(\.intValue)
            let bn = try Self.layer(c["config"])
            let model = try Sequential(inputShape: Array(shape.dropFirst()), layers: [bn, Flatten(), Dense(units: 2)], seed: 1)
            try model.setWeights(ofLayer: 0, Self.split(Self.weights(c, bn), bn))
            try model.compile(optimizer: try SGD(learningRate: 1e-9), loss: MeanSquaredError())
            let x = Self.floats(c["input"]), y = [Float](repeating: 0, count: shape[0] * 2)
            model.threads = 1
            _ = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { model.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: shape[0], step: 0) } }
            let after = model.weights(ofLayer: 0)
            let expected = c["training"]!
            #expect(KerasFixtureTests.close(after[after.count - 2].scalars, Self.floats(expected["moving_mean"]), tolerance: 1e-6), "\(name) moving_mean")
            #expect(KerasFixtureTests.close(after[after.count - 1].scalars, Self.floats(expected["moving_variance"]), tolerance: 1e-6), "\(name) moving_variance")
        }
    }

    static func split(_ flat: [Float], _ bn: BatchNormalization) -> [Tensor] {
        let c = bn.channels
        return stride(from: 0, to: flat.count, by: c).map { Tensor(shape: [c], scalars: Array(flat[$0..<($0 + c)])) }
    }

    static func cnn(seed: UInt64 = 3, frozen: Bool = false, filters: Int = 16, side: Int = 10) throws -> Sequential {
        let m = try Sequential(inputShape: [side, side, 2], layers: [
            Conv2D(filters: filters, kernelSize: [3, 3], useBias: false), BatchNormalization(momentum: 0.9),
            ActivationLayer(.relu), MaxPooling2D(), Flatten(), Dense(units: 8), BatchNormalization(), Dense(units: 3),
        ], seed: seed)
        if frozen { m.setTrainable(false, layer: 1) }
        try m.compile(optimizer: try SGD(learningRate: 0.1, momentum: 0.9), loss: SparseCategoricalCrossentropy(fromLogits: true))
        return m
    }

    /// Statistics are the whole batch's however the batch is split across threads, as in Keras: two threads
    /// give the one-thread weights and moving statistics.
    @Test func shardedTrainingEqualsOneThread() throws {
        let n = 96
        let x = randomArray(n * 2 * 34 * 34, seed: 5), y = labels(n, classes: 3, seed: 6)
        var results: [[Float]] = []
        var losses: [Double] = []
        for threads in [1, 2] {
            let m = try Self.cnn(side: 34)
            m.threads = threads
            #expect(m.shardCount(for: n) == threads)
            var loss = 0.0
            for step in 0..<3 {
                loss = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: step) } }.lossSum
            }
            losses.append(loss)
            results.append(m.weightsSnapshot())
        }
        #expect(abs(losses[0] - losses[1]) < 1e-4 * abs(losses[0]))
        let worst = zip(results[0], results[1]).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 1
        #expect(worst < 1e-4, "worst relative difference \(worst)")
        // The moving statistics moved, and the trainer did not treat them as weights.
        let m = try Self.cnn(side: 34)
        let before = m.weights(ofLayer: 1)
        #expect(m.trainableParameterCount == m.parameterCount - 2 * 16 - 2 * 8)
        #expect(m.plan.batchCoupled == [1, 6])
        _ = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: 0) } }
        #expect(m.weights(ofLayer: 1)[2].scalars != before[2].scalars)
    }

    /// Smooth layers around the BatchNormalizations (tanh, average pooling), so that finite differences do not
    /// straddle a ReLU's kink or a max-pool's tie.
    @Test func gradientsMatchFiniteDifferencesInTraining() throws {
        let m = try Sequential(inputShape: [10, 10, 2], layers: [
            Conv2D(filters: 4, kernelSize: [3, 3], useBias: false), BatchNormalization(momentum: 0.9),
            ActivationLayer(.tanh), AveragePooling2D(), Flatten(), Dense(units: 8), BatchNormalization(), Dense(units: 3),
        ], seed: 3)
        try m.compile(optimizer: try SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
        let n = 6
        let x = randomArray(n * 200, seed: 11), y = labels(n, classes: 3, seed: 12)
        let r = worstGradientError(model: m, x: x, y: y, n: n, context: ForwardContext(training: true, seed: 1, sampleOffset: 0),
                                   epsilon: 3e-3)
        #expect(r.error < GradientCheckTests.tolerance, "worst relative error \(r.error) over \(r.checked)")
    }

    /// Keras 3 runs a frozen BatchNormalization in inference mode: moving statistics, which stay put.
    @Test func frozenLayerUsesAndKeepsItsMovingStatistics() throws {
        let m = try Self.cnn(frozen: true)
        let n = 16
        let x = randomArray(n * 200, seed: 5), y = labels(n, classes: 3, seed: 6)
        let before = m.weights(ofLayer: 1)
        _ = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: 0) } }
        #expect(m.weights(ofLayer: 1).map(\.scalars) == before.map(\.scalars))
        #expect(m.trainableParameterCount == m.parameterCount - 4 * 16 - 2 * 8)
        #expect(m.summary().contains("Non-trainable params: \(Sequential.grouped(4 * 16 + 2 * 8))"))
    }

    /// Serving folds Conv2D → BatchNormalization → ReLU into one convolution (then fused with its pool) and
    /// Dense → BatchNormalization into one Dense; the answers are the unfolded model's.
    @Test func servingFoldsIntoThePrecedingLayer() throws {
        let m = try Self.cnn()
        let n = 32
        let x = randomArray(n * 200, seed: 7), y = labels(n, classes: 3, seed: 8)
        for step in 0..<5 {
            _ = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: step) } }
        }
        let folded = try #require(m.foldedForInference())
        #expect(folded.layers.map(\.typeName) == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"])
        #expect((folded.layers[0] as! Conv2D).activation == .relu)
        #expect(folded.plan.pooled[0] == (sequent_conv2d_direct_available() != 0))
        let expected = try m.predict(Tensor(shape: [n, 10, 10, 2], scalars: x)).scalars
        let predictor = m.makePredictor(maxBatch: n)
        let got = x.withUnsafeBufferPointer { Array(predictor.predict($0.baseAddress!, n: n)) }
        let worst = zip(expected, got).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 1
        #expect(worst < 1e-5, "worst relative difference \(worst)")
        // Without a BatchNormalization there is nothing to fold.
        #expect(try Sequential(inputShape: [4], layers: [Dense(units: 2)]).foldedForInference() == nil)
    }

    @Test func kerasConfigIsHonouredOrRefused() throws {
        func make(_ extra: [String: JSONValue], input: [Int] = [4, 4, 3]) throws -> Sequential {
            var c: [String: JSONValue] = ["type": "BatchNormalization"]
            c.merge(extra) { _, b in b }
            return try Sequential(inputShape: input, layers: [ModelConfig.makeLayer(.object(c), path: "layers[0]", kerasKeys: true)])
        }
        #expect(try make(["axis": 3]).parameterCount == 12)
        #expect(try make(["axis": [-1], "center": false]).parameterCount == 9)
        #expect(try make(["synchronized": true, "renorm_momentum": 0.9]).parameterCount == 12)
        func refusal(_ extra: [String: JSONValue]) -> String {
            do { _ = try make(extra); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal(["axis": 1]).contains("axis"))
        #expect(refusal(["renorm": true]).contains("renorm"))
        #expect(refusal(["gamma_constraint": ["class_name": "NonNeg", "config": [:]]]).contains("gamma_constraint"))
        #expect(refusal(["momentum": 1.5]).contains("momentum"))
        #expect(refusal(["epsilon": 0]).contains("epsilon"))
        // The config Sequent writes reads back to the same layer.
        let layer = try BatchNormalization(momentum: 0.9, epsilon: 1e-5, center: false, gammaRegularizer: Regularizer(l1: 0, l2: 0.01))
        var c = layer.config
        c["type"] = "BatchNormalization"
        let again = try #require(try ModelConfig.makeLayer(.object(c), path: "bn") as? BatchNormalization)
        #expect(again.config == layer.config)
    }

    /// The moving statistics are saved with the weights and come back, and the optimizer state does not
    /// include them: a resumed model normalises as the saved one did.
    @Test func movingStatisticsAreSavedAndRestored() throws {
        let m = try Self.cnn()
        let n = 16
        let x = randomArray(n * 200, seed: 5), y = labels(n, classes: 3, seed: 6)
        _ = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: 0) } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bn-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(m, to: dir, includeOptimizer: true)
        let loaded = try ModelArchive.load(from: dir).model
        #expect(loaded.weightsSnapshot() == m.weightsSnapshot())
        let input = Tensor(shape: [2, 10, 10, 2], scalars: Array(x.prefix(400)))
        #expect(try loaded.predict(input).scalars == m.predict(input).scalars)
    }

    /// Trainable: gamma and beta; the moving statistics are weights the layer keeps out of training. In training
    /// each input moves the batch's mean and variance too, so float32 differences need a larger step.
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try BatchNormalization() }, inputShape: [3, 3, 4], outputShape: [3, 3, 4],
                                       parameters: 16, trainable: 8, name: "batch_normalization", batch: 4,
                                       epsilon: 3e-3, fixture: "BatchNormalization")
        #expect(r.fixtureCases == 6)
        try LayerHarness.check({ try BatchNormalization(momentum: 0.9, epsilon: 1e-5, center: false, scale: false) },
                               inputShape: [5], outputShape: [5], parameters: 10, trainable: 0,
                               name: "batch_normalization", batch: 4)
        try LayerHarness.check({ try BatchNormalization(center: false, gammaRegularizer: Regularizer(l1: 0, l2: 0.01)) },
                               inputShape: [2, 3], outputShape: [2, 3], parameters: 9, trainable: 3,
                               name: "batch_normalization", batch: 3)
    }
}
