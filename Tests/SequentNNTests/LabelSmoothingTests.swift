import Foundation
import Testing
@testable import SequentNN

/// `label_smoothing` on categorical and binary cross-entropy: Keras 3 smooths the targets before the loss
/// (`t·(1 − ls) + ls/K`, `t·(1 − ls) + ls/2`), so value and gradient both follow the smoothed targets.
@Suite struct LabelSmoothingTests {
    /// Loss of `output` (probabilities) through the loss's own evaluate.
    func value(_ loss: Loss, _ output: [Float], _ target: [Float], n: Int, width: Int, logits: Bool = false) -> Double {
        output.withUnsafeBufferPointer { o in
            target.withUnsafeBufferPointer { t in
                loss.evaluate(output: o.baseAddress!, target: t.baseAddress!, n: n, width: width, logits: logits,
                              grad: nil, gradScale: 1)
            }
        }
    }

    @Test func categoricalValueMatchesTheFormula() {
        let p: [Float] = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6], t: [Float] = [1, 0, 0, 0, 0, 1]
        let ls: Float = 0.1
        var expected = 0.0
        for i in 0..<6 { expected -= Double(t[i] * (1 - ls) + ls / 3) * log(Double(p[i])) }
        let got = value(CategoricalCrossentropy(labelSmoothing: ls), p, t, n: 2, width: 3)
        #expect(abs(got - expected) < 1e-5, "\(got) vs \(expected)")
        // Smoothing changes the value: the test would pass vacuously if it were ignored.
        #expect(abs(value(CategoricalCrossentropy(), p, t, n: 2, width: 3) - got) > 0.05)
        // Logits: the same number from log-softmax of log p (p already sums to 1 per row).
        let z = p.map { log($0) }
        #expect(abs(value(CategoricalCrossentropy(fromLogits: true, labelSmoothing: ls), z, t, n: 2, width: 3, logits: true) - expected) < 1e-5)
    }

    @Test func binaryValueMatchesTheFormula() {
        let p: [Float] = [0.9, 0.2, 0.4, 0.7], t: [Float] = [1, 0, 0, 1]
        let ls: Float = 0.2
        var expected = 0.0
        for i in 0..<4 {
            let s = Double(t[i] * (1 - ls) + 0.5 * ls), q = Double(p[i])
            expected -= s * log(q) + (1 - s) * log(1 - q)
        }
        expected /= 2 // mean over the 2 units of each sample, summed over the 2 samples
        let got = value(BinaryCrossentropy(labelSmoothing: ls), p, t, n: 2, width: 2)
        #expect(abs(got - expected) < 1e-5, "\(got) vs \(expected)")
        let z = p.map { log($0 / (1 - $0)) }
        #expect(abs(value(BinaryCrossentropy(fromLogits: true, labelSmoothing: ls), z, t, n: 2, width: 2, logits: true) - expected) < 1e-5)
        #expect(abs(value(BinaryCrossentropy(), p, t, n: 2, width: 2) - got) > 0.02)
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let n = 4
        let cases: [(Activation, any Loss, Int)] = [
            (.softmax, CategoricalCrossentropy(labelSmoothing: 0.1), 3),   // fused softmax path
            (.linear, CategoricalCrossentropy(fromLogits: true, labelSmoothing: 0.3), 3),
            (.sigmoid, CategoricalCrossentropy(labelSmoothing: 0.2), 3),   // probability path
            (.sigmoid, BinaryCrossentropy(labelSmoothing: 0.1), 2),        // fused sigmoid path
            (.linear, BinaryCrossentropy(fromLogits: true, labelSmoothing: 0.4), 2),
            (.softmax, BinaryCrossentropy(labelSmoothing: 0.2), 2)]        // probabilities not from a sigmoid: the ∂/∂p path
        for (activation, loss, width) in cases {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: width, activation: activation)], seed: 8)
            try model.compile(optimizer: SGD(), loss: loss)
            let y = loss is CategoricalCrossentropy ? oneHot(labels(n, classes: width, seed: 6), classes: width)
                                                     : labels(n * width, classes: 2, seed: 6)
            let r = worstGradientError(model: model, x: randomArray(n * 4, seed: 9), y: y, n: n, epsilon: 5e-3)
            #expect(r.error < GradientCheckTests.tolerance, "\(loss.name) \(activation): \(r.error)")
        }
    }

    @Test func parsedFromEveryLossForm() throws {
        let short = try makeLoss(try JSONValue.parse(#"{"type": "categorical_crossentropy", "label_smoothing": 0.1}"#))
        #expect((short as? CategoricalCrossentropy)?.labelSmoothing == 0.1)
        let keras = try makeLoss(try JSONValue.parse(#"{"class_name": "BinaryCrossentropy", "module": "keras.losses", "config": {"name": "binary_crossentropy", "reduction": "sum_over_batch_size", "from_logits": true, "label_smoothing": 0.25, "axis": -1, "dtype": null}}"#), field: "compile.loss")
        let b = try #require(keras as? BinaryCrossentropy)
        #expect(b.labelSmoothing == 0.25 && b.fromLogits)
        #expect((try makeLoss("binary_crossentropy") as? BinaryCrossentropy)?.labelSmoothing == 0)
    }

    @Test func refusals() throws {
        func error(_ json: String) -> ConfigError? {
            do { _ = try makeLoss(try JSONValue.parse(json), field: "compile.loss"); return nil } catch { return error as? ConfigError }
        }
        // Keras 3's SparseCategoricalCrossentropy has no label_smoothing argument.
        let sparse = error(#"{"type": "sparse_categorical_crossentropy", "label_smoothing": 0.1}"#)
        #expect(sparse?.field == "compile.loss.label_smoothing")
        #expect(sparse?.detail.contains("0.1") == true)
        let sparseKeras = error(#"{"class_name": "SparseCategoricalCrossentropy", "config": {"label_smoothing": 0.1}}"#)
        #expect(sparseKeras?.field == "compile.loss.config.label_smoothing")
        #expect(error(#"{"type": "mse", "label_smoothing": 0.1}"#)?.field == "compile.loss.label_smoothing")
        let range = error(#"{"type": "categorical_crossentropy", "label_smoothing": 1.5}"#)
        #expect(range?.field == "compile.loss.label_smoothing" && range?.detail.contains("1.5") == true)
        #expect(error(#"{"class_name": "CategoricalCrossentropy", "config": {"reduction": "sum"}}"#)?.field == "compile.loss.config.reduction")
        #expect(error(#"{"class_name": "Huber", "config": {}}"#)?.field == "compile.loss.class_name")
        #expect(error(#"{"type": "huber"}"#)?.field == "compile.loss.type")
        #expect(error(#"{"class_name": "CategoricalCrossentropy", "config": {}, "extra": 1}"#)?.field == "compile.loss.extra")
    }
}

extension LabelSmoothingTests {
    @Test func smoothingSurvivesSaveAndLoad() throws {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .sigmoid)], seed: 1)
        try model.compile(optimizer: SGD(), loss: BinaryCrossentropy(labelSmoothing: 0.1))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(model, to: dir)
        let loaded = try ModelArchive.load(from: dir)
        #expect((loaded.model.loss as? BinaryCrossentropy)?.labelSmoothing == 0.1)
        #expect(loaded.config["compile"]?["loss"]?["label_smoothing"]?.doubleValue == 0.1)
    }
}
