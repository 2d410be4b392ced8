import Foundation
import SequentNN

/// Every sample's true class, predicted class and the probability of that prediction on one evaluated split: what
/// a confusion-matrix cell lists (`GET /v1/models/{id}/evaluation/cells/{true}/{predicted}`), the right ones as well
/// as the wrong. Stored beside `evaluation.json` as `evaluation-samples.json`, so the stored report stays small.
public struct SamplePredictions: Sendable, Equatable {
    public var split: String
    public var classes: Int
    public var labels: [Int]
    public var predicted: [Int]
    /// The probability the model gave its predicted class.
    public var probability: [Float]

    /// The indices of the samples of class `truth` predicted as `predicted`, the most confident first (ties: the
    /// lower index first).
    public func cell(truth: Int, predicted wanted: Int) -> [Int] {
        labels.indices.filter { labels[$0] == truth && predicted[$0] == wanted }
            .sorted { (probability[$0], -$0) > (probability[$1], -$1) }
    }

    /// The file's JSON: parallel arrays, probabilities to 6 digits (a 10,000-sample split is about 150 KB).
    public var json: JSONValue {
        ["split": .string(split), "classes": .number(Double(classes)), "true": .ints(labels), "predicted": .ints(predicted),
         "probability": .array(probability.map { .number((Double($0) * 1e6).rounded() / 1e6) })]
    }

    /// Reads `json`; nil when it is not such a record (a damaged or foreign file is recomputed, never trusted).
    public init?(json: JSONValue) {
        guard let split = json["split"]?.stringValue, let classes = json["classes"]?.intValue,
              let labels = json["true"]?.arrayValue?.compactMap(\.intValue),
              let predicted = json["predicted"]?.arrayValue?.compactMap(\.intValue),
              let probability = json["probability"]?.arrayValue?.compactMap(\.doubleValue),
              labels.count == predicted.count, labels.count == probability.count
        else { return nil }
        self.init(split: split, classes: classes, labels: labels, predicted: predicted,
                  probability: probability.map { Float($0) })
    }

    public init(split: String, classes: Int, labels: [Int], predicted: [Int], probability: [Float]) {
        self.split = split
        self.classes = classes
        self.labels = labels
        self.predicted = predicted
        self.probability = probability
    }
}
