import Foundation
import SequentData
import SequentNN

/// A model's evaluation on one labelled split: what `evaluation.json` in the model's artifact folder holds and
/// `GET /v1/models/{id}/evaluation` serves. The outputs come from the engine's batched predict; the arithmetic is
/// `ClassificationReport`'s; this file picks the split, gathers the outputs and renders the JSON.
enum ModelEvaluation {
    /// The file in the model's artifact folder (covered by the artifact digest like the weights).
    static let file = "evaluation.json"
    /// Every sample's prediction on the same split (`SamplePredictions`), which the confusion-matrix cells list.
    static let samplesFile = "evaluation-samples.json"
    static let misclassifiedLimit = 50

    /// The split evaluated when training ends: Fashion-MNIST's test split, a folder dataset's validation images
    /// (the run's `testData` both times).
    static func defaultSplit(_ run: TrainingRun) -> String { run.spec.dataset.isDirectory ? "validation" : "test" }

    static let splits = ["train", "validation", "test"]

    /// 400 naming `split` when it is not one of `splits`.
    static func check(split: String) throws {
        guard splits.contains(split) else {
            throw ServiceError(400, "invalid_split", "split \"\(split)\" is not one of \(splits.joined(separator: ", "))",
                               field: "split")
        }
    }

    /// The samples of `split` ("train", "validation" or "test") as the run trained on them; 400 naming the value
    /// when it is none of those or the dataset has no such split.
    static func data(_ run: TrainingRun, split: String) throws -> any TrainingData {
        try check(split: split)
        let folder = run.spec.dataset.isDirectory
        let found: (any TrainingData)?
        switch split {
        case "train": found = run.trainData
        case "test": found = folder ? nil : run.testData
        case "validation":
            if let v = run.validationData {
                found = v
            } else if let fraction = run.spec.fit.validationSplit, !folder {
                // fit held out the tail of the training samples (Keras's validation_split).
                let n = run.trainData.count, held = Int((Double(n) * fraction).rounded(.down))
                found = held > 0 ? run.trainData.subset((n - held)..<n) : nil
            } else {
                found = nil
            }
        default: found = nil
        }
        guard let found, found.count > 0 else {
            throw ServiceError(400, "invalid_split", "the dataset \(run.datasetName) of this model has no \(split) split",
                               field: "split")
        }
        return found
    }

    /// The report of `model` on `data`. `loss` is the split's mean loss when already known (the run's test
    /// evaluation); else it is computed. `imageURL` names the thumbnail of a sample by its index in the split.
    static func evaluate(model: Sequential, data: any TrainingData, split: String, classNames: [String], loss: Double?,
                         imageURL: (Int) -> String) throws -> (report: JSONValue, samples: SamplePredictions) {
        let started = Date()
        let loss = try loss ?? model.evaluate(data: data, batchSize: 256)["loss"]
        let (outputs, labels) = try model.predict(data: data)
        let width = model.outputWidth, n = labels.count
        let binary = width == 1
        let classes = binary ? 2 : width
        // Probabilities of every class, [N, classes]: a one-unit model's p(class 1) becomes [1 − p, p].
        let logits = LoadedModel.outputsLogits(model, fromLogits: model.loss?.fromLogits ?? false)
        var probabilities = outputs
        if binary || logits {
            probabilities = [Float](repeating: 0, count: n * classes)
            for i in 0..<n {
                let p = LoadedModel.probabilities(outputs[(i * width)..<((i + 1) * width)], logits: logits)
                if binary {
                    probabilities[2 * i] = Float(1 - p[0])
                    probabilities[2 * i + 1] = Float(p[0])
                } else {
                    for k in 0..<classes { probabilities[i * classes + k] = Float(p[k]) }
                }
            }
        }
        let predicted = ClassificationReport.predictions(scores: probabilities, classes: classes)
        let confusion = ClassificationReport.confusionMatrix(labels: labels, predicted: predicted, classes: classes)
        let perClass = ClassificationReport.perClass(confusion)
        func name(_ k: Int) -> String { k >= 0 && k < classNames.count ? classNames[k] : "class \(k)" }
        let confidence = predicted.indices.map { Double(probabilities[$0 * classes + predicted[$0]]) }
        let wrong = ClassificationReport.mostConfidentlyWrong(labels: labels, predicted: predicted, confidence: confidence,
                                                              limit: misclassifiedLimit)
        var topK: [String: JSONValue] = [:]
        for k in stride(from: 2, to: classes, by: 1) {
            topK[String(k)] = .number(ClassificationReport.topKAccuracy(scores: probabilities, classes: classes,
                                                                         labels: labels, k: k))
        }
        var report: [String: JSONValue] = [
            "split": .string(split), "samples": .number(Double(n)), "loss": loss.map { .number($0) } ?? .null,
            "accuracy": .number(ClassificationReport.accuracy(confusion)),
            "classes": .array((0..<classes).map { .string(name($0)) }),
            "confusion_matrix": .array(confusion.map { .ints($0) }),
            "per_class": .array(perClass.enumerated().map { k, s in
                ["class": .string(name(k)), "precision": .number(s.precision), "recall": .number(s.recall),
                 "f1": .number(s.f1), "support": .number(Double(s.support))]
            }),
            "top_k_accuracy": .object(topK),
            "misclassified": .array(wrong.map { i in
                ["index": .number(Double(i)), "true_label": .string(name(labels[i])),
                 "predicted_label": .string(name(predicted[i])), "probability": .number(confidence[i]),
                 "image": .string(imageURL(i))]
            }),
        ]
        if binary {
            let roc = ClassificationReport.roc(scores: (0..<n).map { Double(probabilities[2 * $0 + 1]) },
                                               positives: labels.map { $0 == 1 })
            // A point predicts positive every score ≥ its threshold; the first (nothing positive) has an infinite
            // one, which JSON cannot carry: null.
            report["roc"] = .array(roc.points.map {
                ["fpr": .number($0.fpr), "tpr": .number($0.tpr),
                 "threshold": $0.threshold.isFinite ? .number($0.threshold) : .null]
            })
            report["auc"] = roc.auc.map { .number($0) } ?? .null
            report["threshold_0_5"] = ["precision": .number(perClass[1].precision), "recall": .number(perClass[1].recall)]
        }
        report["seconds"] = .number((Date().timeIntervalSince(started) * 1000).rounded() / 1000)
        let samples = SamplePredictions(split: split, classes: classes, labels: labels, predicted: predicted,
                                        probability: confidence.map { Float($0) })
        return (.object(report), samples)
    }

    /// The path of a sample's thumbnail (`GET /v1/models/{id}/evaluation/images/{split}/{index}.png`).
    static func imagePath(model: String, split: String, index: Int) -> String {
        "/v1/models/\(model)/evaluation/images/\(split)/\(index).png"
    }

    /// Sample `index` of `split` as the model saw it, as an 8-bit PNG (full intensity = 255); 404 when the split
    /// has no such sample.
    static func thumbnail(run: TrainingRun, split: String, index: Int) throws -> [UInt8] {
        let data = try data(run, split: split)
        guard (0..<data.count).contains(index) else {
            throw ServiceError(404, "not_found", "the \(split) split has \(data.count) samples, no index \(index)")
        }
        var x = [Float](repeating: 0, count: data.inputWidth), y = [Float](repeating: 0, count: data.targetWidth)
        try data.gather([index][...], x: &x, y: &y)
        let shape = run.model.inputShape
        // A flat input of 784 values is a Fashion-MNIST image; another flat input is shown as one row.
        let (h, w, c) = shape.count == 3 ? (shape[0], shape[1], shape[2])
            : x.count == 784 ? (28, 28, 1) : (1, x.count, 1)
        let kept = c == 3 ? 3 : 1
        let scale = run.pixelScale > 0 ? 255 / run.pixelScale : 255
        var pixels = [UInt8](repeating: 0, count: h * w * kept)
        for p in 0..<(h * w) {
            for k in 0..<kept { pixels[p * kept + k] = UInt8(clamping: Int((x[p * c + k] * scale).rounded())) }
        }
        return try ImageDecoder.encodePNG(pixels, width: w, height: h, colorType: kept == 3 ? .rgb : .gray)
    }
}

extension TrainingRun {
    /// The report of the run's model on `split` (by default the split evaluated after training), as a job stores
    /// it; `loss` when the split's loss is already known (else it is computed). For the CLI's benchmark.
    public func evaluation(split: String? = nil, loss: Double? = nil, modelID: String = "local") throws
        -> (report: JSONValue, samples: SamplePredictions)
    {
        let split = split ?? ModelEvaluation.defaultSplit(self)
        return try ModelEvaluation.evaluate(model: model, data: ModelEvaluation.data(self, split: split), split: split,
                                            classNames: classNames, loss: loss,
                                            imageURL: { ModelEvaluation.imagePath(model: modelID, split: split, index: $0) })
    }
}
