import Testing
@testable import SequentNN

/// Keras 3's `activity_regularizer` on Dense and Conv2D: the penalty of the layer's output, divided by the batch
/// size, joins the loss (training and validation) and its gradient joins the backward pass.
@Suite struct ActivityRegularizerTests {
    static func model(activity: Regularizer?, last: Regularizer? = nil, seed: UInt64 = 2) throws -> Sequential {
        let m = try Sequential(inputShape: [8, 8, 1], layers: [
            Conv2D(filters: 16, kernelSize: [3, 3], activation: .relu, activityRegularizer: activity), MaxPooling2D(),
            Flatten(), Dense(units: 6, activation: .tanh, activityRegularizer: activity),
            Dense(units: 3, activation: .softmax, activityRegularizer: last),
        ], seed: seed)
        try m.compile(optimizer: try SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy())
        return m
    }

    @Test func penaltyIsTheOutputsNormDividedByTheBatch() throws {
        let reg = Regularizer(l1: 0.003, l2: 0.01)
        let plain = try Self.model(activity: nil), regularized = try Self.model(activity: reg)
        let n = 5
        let x = randomArray(n * 64, seed: 3), y = labels(n, classes: 3, seed: 4)
        let base = plain.lossValue(x: x, y: y, n: n, context: .inference)
        let with = regularized.lossValue(x: x, y: y, n: n, context: .inference)
        // The expected penalty from the layers' outputs, computed here from their definition.
        let outputs = plain.activations(for: Array(x.prefix(64))).count
        #expect(outputs == 5)
        var expected = 0.0
        for s in 0..<n {
            let acts = plain.activations(for: Array(x[(s * 64)..<((s + 1) * 64)]))
            for i in [0, 3] {
                expected += acts[i].values.reduce(0) { $0 + 0.003 * Double(abs($1)) + 0.01 * Double($1) * Double($1) }
            }
        }
        #expect(abs((with - base) - expected / Double(n)) < 1e-5, "\(with - base) vs \(expected / Double(n))")
        // The validation loss (testStep) carries it too.
        let t = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { regularized.testStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n) } }
        #expect(abs(t.lossSum / Double(n) - with) < 1e-5)
        // The pooled conv + ReLU pass, which never writes the convolution's output, is off for that layer.
        #expect(!regularized.plan.pooled[0] && !regularized.plan.fusion[0].contains(.reluGradientLeftToNext))
    }

    /// Smooth layers (tanh, average pooling), so that finite differences cross no kink.
    @Test func gradientsMatchFiniteDifferences() throws {
        let reg = Regularizer(l2: 0.05)
        let m = try Sequential(inputShape: [8, 8, 1], layers: [
            Conv2D(filters: 4, kernelSize: [3, 3], activation: .tanh, activityRegularizer: reg), AveragePooling2D(),
            Flatten(), Dense(units: 6, activation: .tanh, activityRegularizer: reg),
            Dense(units: 3, activation: .softmax, activityRegularizer: Regularizer(l2: 0.1)),
        ], seed: 2)
        try m.compile(optimizer: try SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy())
        // A regularized last layer keeps its softmax: the penalty is on probabilities.
        #expect(!m.fusedOutputActivation)
        let n = 4
        let x = randomArray(n * 64, seed: 7), y = labels(n, classes: 3, seed: 8)
        let r = worstGradientError(model: m, x: x, y: y, n: n, epsilon: 3e-3)
        #expect(r.error < GradientCheckTests.tolerance, "worst relative error \(r.error)")
    }

    /// Split across two threads, the step is the one-thread step: each shard's share of the gradient is divided
    /// by the whole batch.
    @Test func shardedStepEqualsOneThread() throws {
        let n = 64
        let x = randomArray(n * 24 * 24, seed: 9), y = labels(n, classes: 3, seed: 10)
        var snapshots: [[Float]] = []
        var losses: [Double] = []
        for threads in [1, 2] {
            let m = try Sequential(inputShape: [24, 24, 1], layers: [
                Conv2D(filters: 64, kernelSize: [3, 3], activation: .relu, activityRegularizer: Regularizer(l2: 0.01)),
                Flatten(), Dense(units: 3, activation: .softmax)], seed: 5)
            try m.compile(optimizer: try SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy())
            m.threads = threads
            #expect(m.shardCount(for: n) == threads)
            losses.append(x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { m.trainStep(x: xp.baseAddress!, y: $0.baseAddress!, n: n, step: 0) } }.lossSum)
            snapshots.append(m.weightsSnapshot())
        }
        #expect(abs(losses[0] - losses[1]) < 1e-6 * abs(losses[0]))
        #expect(zip(snapshots[0], snapshots[1]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func kerasConfigRoundTrips() throws {
        let json = #"{"type": "Dense", "units": 4, "activity_regularizer": {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null}}"#
        let layer = try #require(try ModelConfig.makeLayer(JSONValue.parse(json), path: "l", kerasKeys: true) as? Dense)
        #expect(layer.activityRegularizer == Regularizer(l2: 0.01))
        var c = layer.config
        c["type"] = "Dense"
        #expect((try ModelConfig.makeLayer(.object(c), path: "l") as? Dense)?.activityRegularizer == Regularizer(l2: 0.01))
        // Layers that do not take one refuse it, naming the key.
        let flatten = #"{"type": "Flatten", "activity_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}"#
        #expect(throws: ConfigError.self) { try ModelConfig.makeLayer(JSONValue.parse(flatten), path: "l", kerasKeys: true) }
    }
}
