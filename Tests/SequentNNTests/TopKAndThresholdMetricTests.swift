import Foundation
import Testing
@testable import SequentNN

/// The top-k accuracies and binary accuracy's threshold, on hand-made batches whose answers follow from
/// Keras 3's definitions (JAX `in_top_k`: rank = 1 + #scores strictly greater than the label's).
@Suite struct TopKAndThresholdMetricTests {
    func sum(_ m: Metric, _ output: [Float], _ target: [Float], n: Int, width: Int, targetWidth: Int, logits: Bool = false) -> Double {
        output.withUnsafeBufferPointer { o in
            target.withUnsafeBufferPointer { t in
                m.evaluate(output: o.baseAddress!, target: t.baseAddress!, n: n, width: width, targetWidth: targetWidth, logits: logits)
            }
        }
    }

    @Test func sparseTopKWithTies() throws {
        let m = try Metric.resolve(JSONValue.parse(#"{"type": "sparse_top_k_categorical_accuracy", "k": 2}"#),
                                   loss: SparseCategoricalCrossentropy(), outputWidth: 4, field: "m")
        #expect(m.k == 2 && m.name == "sparse_top_k_categorical_accuracy")
        let out: [Float] = [0.4, 0.3, 0.2, 0.1,   // label 1: rank 2 → hit
                            0.4, 0.3, 0.2, 0.1,   // label 2: rank 3 → miss
                            0.5, 0.2, 0.2, 0.1,   // label 2 tied with 1 at 2nd place: rank 2 → hit
                            0.3, 0.3, 0.3, 0.1,   // label 2, three-way tie for 1st: rank 1 → hit
                            0.1, 0.6, 0.2, 0.1,   // label 3 tied with 0 for last: rank 3 → miss
                            0.1, 0.6, 0.2, 0.1]   // label 7 is no class index → miss
        let labels: [Float] = [1, 2, 2, 2, 3, 7]
        #expect(sum(m, out, labels, n: 6, width: 4, targetWidth: 1) == 3)
        // k = 1 on the three-way tie still counts: Keras's rank ignores equal scores.
        var top1 = m; top1.k = 1
        #expect(sum(top1, Array(out[12..<16]), [1], n: 1, width: 4, targetWidth: 1) == 1)
        // Default k is 5: every label of a 4-class output is in the top 5.
        let k5 = try Metric.resolve("sparse_top_k_categorical_accuracy", loss: SparseCategoricalCrossentropy(), outputWidth: 4, field: "m")
        #expect(k5.k == 5 && sum(k5, out, labels, n: 6, width: 4, targetWidth: 1) == 5)
    }

    @Test func topKReadsTheLabelAsTheTargetsArgmax() throws {
        let m = try Metric.resolve(JSONValue.parse(#"{"class_name": "TopKCategoricalAccuracy", "config": {"k": 1, "name": "top1"}}"#),
                                   loss: CategoricalCrossentropy(), outputWidth: 3, field: "m")
        #expect(m.name == "top1" && m.k == 1 && m.kind == .topKCategoricalAccuracy)
        let out: [Float] = [0.2, 0.5, 0.3,  0.4, 0.4, 0.2,  0.1, 0.2, 0.7]
        let targets: [Float] = [0, 1, 0,    1, 0, 0,        0, 1, 0]     // hit, hit (tie at the top), miss
        #expect(sum(m, out, targets, n: 3, width: 3, targetWidth: 3) == 2)
        // On logits (a fused softmax) the ranks, ties included, are the same.
        #expect(sum(m, out.map { log($0) }, targets, n: 3, width: 3, targetWidth: 3, logits: true) == 2)
    }

    @Test func binaryAccuracyThreshold() throws {
        let m = try Metric.resolve(JSONValue.parse(#"{"type": "binary_accuracy", "threshold": 0.7}"#),
                                   loss: BinaryCrossentropy(), outputWidth: 1, field: "m")
        #expect(m.threshold == 0.7 && m.name == "binary_accuracy")
        let p: [Float] = [0.8, 0.6, 0.65, 0.3], y: [Float] = [1, 1, 0, 0]  // hit, miss (0.6 ≤ 0.7), hit, hit
        #expect(sum(m, p, y, n: 4, width: 1, targetWidth: 1) == 3)
        // The fused sigmoid path sees logits: the threshold moves to log(t / (1 − t)).
        #expect(sum(m, p.map { log($0 / (1 - $0)) }, y, n: 4, width: 1, targetWidth: 1, logits: true) == 3)
        // Keras's default 0.5 would count 0.6 and miss 0.65.
        let plain = try Metric.resolve("binary_accuracy", loss: BinaryCrossentropy(), outputWidth: 1, field: "m")
        #expect(sum(plain, p, y, n: 4, width: 1, targetWidth: 1) == 3 && plain.threshold == 0.5)
        #expect(sum(plain, [0.6, 0.65], [1, 0], n: 2, width: 1, targetWidth: 1) == 1)
    }

    @Test func fromLogitsScoresAreThresholdedAsGivenAsKerasDoes() throws {
        // Keras 3.15.1 (JAX): Dense(1) with kernel 1 and bias -2.5 on x = 1…4 gives logits -1.5 -0.5 0.5 1.5;
        // binary_crossentropy(from_logits=True), y = 0 1 0 1. Keras compares the logits with the threshold
        // itself (`y_pred > threshold`): "accuracy" 0.75 (not 0.5 as σ(z) > 0.5 would give), threshold 0.3
        // 0.5 (σ(z) > 0.3 would give 0.75), loss 0.5877451300621033.
        let m = try Sequential(inputShape: [1], layers: [Dense(units: 1)], seed: 1)
        try m.compile(optimizer: SGD(), loss: BinaryCrossentropy(fromLogits: true),
                      metrics: ["accuracy", try JSONValue.parse(#"{"type": "binary_accuracy", "threshold": 0.3}"#)])
        try m.setWeights(ofLayer: 0, [Tensor(shape: [1, 1], scalars: [1]), Tensor(shape: [1], scalars: [-2.5])])
        let x = Tensor(shape: [4, 1], scalars: [1, 2, 3, 4]), y = Tensor(shape: [4, 1], scalars: [0, 1, 0, 1])
        let logs = try m.evaluate(x: x, y: y)
        #expect(logs["accuracy"] == 0.75 && logs["binary_accuracy"] == 0.5)
        #expect(abs(logs["loss"]! - 0.5877451300621033) < 1e-6)
        // Bias -1.7 (logits -0.7 0.3 1.3 2.3): Keras 0.5, where σ(z) > 0.5 would give 0.75.
        try m.setWeights(ofLayer: 0, [Tensor(shape: [1, 1], scalars: [1]), Tensor(shape: [1], scalars: [-1.7])])
        #expect(try m.evaluate(x: x, y: y)["accuracy"] == 0.5)
        // The same model with a sigmoid output holds logits only because the sigmoid is fused into the loss:
        // there the threshold is still on probabilities (σ(z) > 0.5 ⟺ z > 0).
        let fused = try Sequential(inputShape: [1], layers: [Dense(units: 1, activation: .sigmoid)], seed: 1)
        try fused.compile(optimizer: SGD(), loss: BinaryCrossentropy(), metrics: ["accuracy"])
        #expect(fused.fusedOutputActivation)
        try fused.setWeights(ofLayer: 0, [Tensor(shape: [1, 1], scalars: [1]), Tensor(shape: [1], scalars: [-1.7])])
        #expect(try fused.evaluate(x: x, y: y)["accuracy"] == 0.75)
    }

    @Test func refusalsNameTheKeyAndValue() throws {
        func error(_ json: String, loss: Loss = SparseCategoricalCrossentropy(), width: Int = 10) -> ConfigError? {
            do { _ = try Metric.resolve(JSONValue.parse(json), loss: loss, outputWidth: width, field: "compile.metrics[0]"); return nil }
            catch { return error as? ConfigError }
        }
        let k = error(#"{"type": "sparse_top_k_categorical_accuracy", "k": 0}"#)
        #expect(k?.field == "compile.metrics[0].k" && k?.detail.contains("0") == true)
        #expect(error(#"{"type": "top_k_categorical_accuracy", "k": 3}"#)?.field == "compile.metrics[0]")   // needs one-hot targets
        #expect(error(#"{"type": "binary_accuracy", "k": 3}"#, loss: BinaryCrossentropy(), width: 1)?.field == "compile.metrics[0].k")
        #expect(error(#"{"class_name": "SparseTopKCategoricalAccuracy", "config": {"from_sorted_ids": true}}"#)?.field == "compile.metrics[0].config.from_sorted_ids")
        #expect(error(#"{"class_name": "AUC", "config": {}}"#)?.field == "compile.metrics[0].class_name")
        #expect(error(#"{"type": "auc"}"#)?.field == "compile.metrics[0].type")
    }

    @Test func loggedNamesAndArchiveRoundTrip() throws {
        #expect(Metric.loggedName(of: "top_k_categorical_accuracy") == "top_k_categorical_accuracy")
        #expect(Metric.loggedName(of: try JSONValue.parse(#"{"type": "sparse_top_k_categorical_accuracy", "k": 3}"#)) == "sparse_top_k_categorical_accuracy")
        #expect(Metric.loggedName(of: try JSONValue.parse(#"{"class_name": "BinaryAccuracy", "config": {"name": "acc7", "threshold": 0.7}}"#)) == "acc7")
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .softmax)], seed: 1)
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(),
                          metrics: ["accuracy", try JSONValue.parse(#"{"type": "sparse_top_k_categorical_accuracy", "k": 2}"#)])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("topk-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(model, to: dir)
        let loaded = try ModelArchive.load(from: dir)
        #expect(loaded.model.metrics == model.metrics)
        #expect(loaded.config["compile"]?["metrics"]?.arrayValue?.first?.stringValue == "accuracy")
    }
}
