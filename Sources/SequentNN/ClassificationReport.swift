import Foundation

/// What a classifier's outputs on a labelled split say about it: the confusion matrix, per-class precision,
/// recall and F1, top-k accuracy, the ROC curve of a binary model, and the most confidently wrong samples.
/// Pure functions of labels and scores, so each is checked against small cases worked by hand.
///
/// Legend: `N` samples, `K` classes; `scores` is `[N, K]` row-major (probabilities, or any monotone scores).
public enum ClassificationReport {
    /// Precision, recall and F1 of one class, and how many samples truly belong to it.
    public struct ClassScores: Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    /// `K × K` counts, rows the true class, columns the predicted one. Labels outside `0..<K` are skipped.
    public static func confusionMatrix(labels: [Int], predicted: [Int], classes: Int) -> [[Int]] {
        var m = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (t, p) in zip(labels, predicted) where (0..<classes).contains(t) && (0..<classes).contains(p) {
            m[t][p] += 1
        }
        return m
    }

    /// The share of samples on the diagonal (0 for an empty matrix).
    public static func accuracy(_ confusion: [[Int]]) -> Double {
        let total = confusion.reduce(0) { $0 + $1.reduce(0, +) }
        let diagonal = confusion.indices.reduce(0) { $0 + confusion[$1][$1] }
        return total == 0 ? 0 : Double(diagonal) / Double(total)
    }

    /// Per-class scores from a confusion matrix. A ratio with nothing to divide by is 0 (scikit-learn's
    /// `zero_division=0`): a class never predicted has precision 0.
    public static func perClass(_ confusion: [[Int]]) -> [ClassScores] {
        confusion.indices.map { k in
            let tp = Double(confusion[k][k])
            let support = confusion[k].reduce(0, +)
            let predicted = confusion.reduce(0) { $0 + $1[k] }
            let precision = predicted == 0 ? 0 : tp / Double(predicted)
            let recall = support == 0 ? 0 : tp / Double(support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            return ClassScores(precision: precision, recall: recall, f1: f1, support: support)
        }
    }

    /// The share of samples whose true class is among the `k` highest scores. As `tf.math.in_top_k`, a class
    /// tied with the k-th score counts as in the top k: a sample is right when fewer than `k` classes score
    /// strictly higher than its true class.
    public static func topKAccuracy(scores: [Float], classes: Int, labels: [Int], k: Int) -> Double {
        guard !labels.isEmpty else { return 0 }
        var hits = 0
        for (i, t) in labels.enumerated() where (0..<classes).contains(t) {
            let row = scores[(i * classes)..<((i + 1) * classes)]
            let truth = row[row.startIndex + t]
            if row.reduce(0, { $0 + ($1 > truth ? 1 : 0) }) < k { hits += 1 }
        }
        return Double(hits) / Double(labels.count)
    }

    /// One point of a ROC curve: the rates of false and true positives at a threshold.
    public struct ROCPoint: Sendable, Equatable {
        public var fpr: Double
        public var tpr: Double
        public var threshold: Double
    }

    /// The ROC curve of scores for the positive class and its area. Samples of equal score move together (one
    /// diagonal step), so the area is the Mann–Whitney statistic with ties counting one half. The area comes from
    /// the whole curve; the returned points are thinned to at most `maxPoints` (first and last kept) for drawing.
    /// Without positives or without negatives the area is undefined: nil.
    public static func roc(scores: [Double], positives: [Bool], maxPoints: Int = 200)
        -> (points: [ROCPoint], auc: Double?)
    {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        let p = positives.filter { $0 }.count, n = positives.count - p
        var points = [ROCPoint(fpr: 0, tpr: 0, threshold: .infinity)]
        var tp = 0, fp = 0, area = 0.0
        var i = 0
        while i < order.count {
            let threshold = scores[order[i]]
            while i < order.count, scores[order[i]] == threshold {
                if positives[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            let next = ROCPoint(fpr: n == 0 ? 0 : Double(fp) / Double(n), tpr: p == 0 ? 0 : Double(tp) / Double(p),
                                threshold: threshold)
            area += (next.fpr - points[points.count - 1].fpr) * (next.tpr + points[points.count - 1].tpr) / 2
            points.append(next)
        }
        return (thinned(points, to: maxPoints), p == 0 || n == 0 ? nil : area)
    }

    /// At most `limit` points, evenly spaced along the list, keeping the first and the last.
    static func thinned(_ points: [ROCPoint], to limit: Int) -> [ROCPoint] {
        guard points.count > limit, limit >= 2 else { return points }
        let step = Double(points.count - 1) / Double(limit - 1)
        return (0..<limit).map { points[Int((Double($0) * step).rounded())] }
    }

    /// The indices of wrongly predicted samples, the most confident first (ties: the lower index first), at most
    /// `limit`. `confidence[i]` is the score the model gave its (wrong) prediction for sample `i`.
    public static func mostConfidentlyWrong(labels: [Int], predicted: [Int], confidence: [Double], limit: Int) -> [Int] {
        let wrong = labels.indices.filter { labels[$0] != predicted[$0] }
        return Array(wrong.sorted { (confidence[$0], -$0) > (confidence[$1], -$1) }.prefix(limit))
    }

    /// The predicted class of each row of `scores` (the first of equal maxima, as the accuracy metric picks).
    public static func predictions(scores: [Float], classes: Int) -> [Int] {
        let n = classes == 0 ? 0 : scores.count / classes
        return scores.withUnsafeBufferPointer { s in (0..<n).map { argmax(s.baseAddress! + $0 * classes, classes) } }
    }
}
