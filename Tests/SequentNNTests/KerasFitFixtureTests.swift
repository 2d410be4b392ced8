import Foundation
import Testing
@testable import SequentNN

/// Two 2-epoch fits of Keras 3 itself (Tests/Fixtures/keras-fit.json, from scripts/keras-fixtures.py): an MLP
/// with Adam and a small CNN with SGD momentum and a from_logits loss, on 256 fixed 12×12 images with the same
/// initial weights, no shuffling, batch 32 and 64 validation images. Each model is rebuilt from its
/// `model.to_json()`, compiled from the saved optimizer and loss, and its per-batch and per-epoch logs are
/// compared with Keras's within 1e-4 (the bar).
@Suite struct KerasFitFixtureTests {
    static let fixture = KerasFixture.load("keras-fit.json")

    final class BatchLogs: Callback {
        var logs: [[String: Double]] = []
        func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {
            if progress.epoch == 0 { self.logs.append(logs) }
        }
    }

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect((Self.fixture["models"]?.arrayValue?.count ?? 0) == 2)
    }

    static func data() -> (train: (x: Tensor, y: Tensor), validation: (x: Tensor, y: Tensor)) {
        let shape = KerasFixture.ints(fixture["image_shape"]), width = shape.reduce(1, *)
        // As the script: float32(pixel) / float32(255), one correctly rounded division on both sides.
        let x = KerasFixture.ints(fixture["pixels"]).map { Float($0) / Float(255) }
        let y = KerasFixture.ints(fixture["labels"]).map { Float($0) }
        let n = fixture["train"]?.intValue ?? 0, v = fixture["validation"]?.intValue ?? 0
        func part(_ r: Range<Int>) -> (x: Tensor, y: Tensor) {
            (Tensor(shape: [r.count] + shape, scalars: Array(x[(r.lowerBound * width)..<(r.upperBound * width)])),
             Tensor(shape: [r.count], scalars: Array(y[r])))
        }
        return (part(0..<n), part(n..<(n + v)))
    }

    @Test(arguments: ["mlp adam", "cnn sgd momentum logits"])
    func fitMatchesKeras(_ name: String) throws {
        let m = try #require(Self.fixture["models"]?.arrayValue?.first { $0["name"]?.stringValue == name })
        let model = try ModelConfig.makeModel(m["model"] ?? .null, path: "model")
        let initial = (m["initial_weights"]?.arrayValue ?? []).flatMap { KerasFixture.floats($0["value"]) }
        try #require(initial.count == model.parameterCount)
        model.restoreWeights(initial)
        let compile = m["compile"] ?? .null
        try model.compile(optimizer: makeOptimizer(compile["optimizer"] ?? .null, field: "compile.optimizer"),
                          loss: makeLoss(compile["loss"] ?? .null, field: "compile.loss"),
                          metrics: compile["metrics"]?.arrayValue ?? [])
        var options = FitOptions(epochs: m["fit"]?["epochs"]?.intValue ?? 0, batchSize: m["fit"]?["batch_size"]?.intValue ?? 0)
        options.shuffle = m["fit"]?["shuffle"]?.boolValue ?? true
        let data = Self.data()
        let batches = BatchLogs()
        let history = try model.fit(x: data.train.x, y: data.train.y, options: options,
                                    validationData: data.validation, callbacks: [batches])

        let tolerance = 1e-4
        let keras = m["history"]?.objectValue ?? [:]
        let ours = history.series
        #expect(Set(ours.keys) == Set(keras.keys), "\(name): keys \(ours.keys.sorted()) vs \(keras.keys.sorted())")
        for (key, want) in keras {
            let w = (want.arrayValue ?? []).compactMap(\.doubleValue), got = ours[key] ?? []
            #expect(got.count == w.count && zip(got, w).allSatisfy { abs($0 - $1) <= tolerance },
                    "\(name) \(key): \(got) vs Keras \(w)")
        }
        let kerasBatches = m["batch_logs"]?.arrayValue ?? []
        #expect(batches.logs.count == kerasBatches.count)
        for (i, (got, want)) in zip(batches.logs, kerasBatches).enumerated() {
            for key in ["loss", "accuracy"] {
                let a = got[key] ?? .nan, b = want[key]?.doubleValue ?? .nan
                #expect(abs(a - b) <= tolerance, "\(name) epoch 1 batch \(i + 1) \(key): \(a) vs Keras \(b)")
            }
        }
        // The weights after 16 steps: a looser check (rounding compounds), but a wrong step is far off.
        let final = (m["final_weights"]?.arrayValue ?? []).flatMap { KerasFixture.floats($0["value"]) }
        let err = KerasFixture.worst(model.weightsSnapshot(), final)
        #expect(err <= 1e-4, "\(name): final weights differ by up to \(err)")
    }
}

/// What `keras.losses.serialize` writes for the sparse loss carries `ignore_class`: null builds, a class refuses.
@Test func sparseLossIgnoreClassOnlyNull() throws {
    let config: JSONValue = ["module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
                             "config": ["name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size",
                                        "from_logits": true, "ignore_class": .null]]
    #expect(try makeLoss(config, field: "compile.loss").name == "sparse_categorical_crossentropy")
    var ignoring = config.objectValue ?? [:]
    ignoring["config"] = ["ignore_class": 3]
    #expect(throws: ConfigError(field: "compile.loss.config.ignore_class", detail: "must be null (not supported), got 3")) {
        try makeLoss(.object(ignoring), field: "compile.loss")
    }
}
