import Testing
@testable import SequentNN

/// `ClassificationReport` on cases small enough to work out by hand.
struct ClassificationReportTests {
    @Test func confusionMatrixCountsRowsTrueColumnsPredicted() {
        let m = ClassificationReport.confusionMatrix(labels: [0, 0, 1, 2, 2, 2], predicted: [0, 1, 1, 2, 0, 2], classes: 3)
        #expect(m == [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
        #expect(abs(ClassificationReport.accuracy(m) - 4.0 / 6) < 1e-12)
    }

    @Test func perClassScoresByHand() {
        // Class 0: tp 1, predicted 2, support 2 → p ½, r ½, f1 ½. Class 1: tp 1, predicted 2, support 1 → p ½,
        // r 1, f1 ⅔. Class 2: tp 2, predicted 2, support 3 → p 1, r ⅔, f1 0.8. Class 3 never occurs: all 0.
        let m = [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
        let s = ClassificationReport.perClass(m)
        #expect(s[0] == .init(precision: 0.5, recall: 0.5, f1: 0.5, support: 2))
        #expect(s[1].precision == 0.5 && s[1].recall == 1 && abs(s[1].f1 - 2.0 / 3) < 1e-12)
        #expect(s[2].precision == 1 && abs(s[2].recall - 2.0 / 3) < 1e-12 && abs(s[2].f1 - 0.8) < 1e-12)
        #expect(s[3] == .init(precision: 0, recall: 0, f1: 0, support: 0))
    }

    @Test func topKCountsTiesAtTheBoundaryAsIn() {
        let scores: [Float] = [0.5, 0.3, 0.2,   // true 1: second → top-2 yes, top-1 no
                               0.1, 0.2, 0.7,   // true 0: third → no
                               0.4, 0.4, 0.2]   // true 1: tied first → top-1 yes
        let labels = [1, 0, 1]
        #expect(ClassificationReport.topKAccuracy(scores: scores, classes: 3, labels: labels, k: 1) == 1.0 / 3)
        #expect(ClassificationReport.topKAccuracy(scores: scores, classes: 3, labels: labels, k: 2) == 2.0 / 3)
        #expect(ClassificationReport.topKAccuracy(scores: scores, classes: 3, labels: labels, k: 3) == 1)
    }

    @Test func aucOfPerfectInvertedAndRandomRankings() {
        let positives = [true, true, false, false]
        #expect(ClassificationReport.roc(scores: [0.9, 0.8, 0.2, 0.1], positives: positives).auc == 1)
        #expect(ClassificationReport.roc(scores: [0.1, 0.2, 0.8, 0.9], positives: positives).auc == 0)
        // Alternating: of the 4 positive–negative pairs, 3 are ordered right → 0.75.
        #expect(ClassificationReport.roc(scores: [0.9, 0.7, 0.8, 0.1], positives: positives).auc == 0.75)
        // Every score equal: one diagonal step, 0.5.
        let flat = ClassificationReport.roc(scores: [0.5, 0.5, 0.5, 0.5], positives: positives)
        #expect(flat.auc == 0.5)
        #expect(flat.points.map(\.fpr) == [0, 1] && flat.points.map(\.tpr) == [0, 1])
        // A tie between one positive and one negative counts one half: pairs (p1>n1, p1>n2, p2=n1 ½, p2>n2) → 3.5/4.
        #expect(ClassificationReport.roc(scores: [0.9, 0.5, 0.5, 0.1], positives: positives).auc == 0.875)
        #expect(ClassificationReport.roc(scores: [0.9, 0.1], positives: [true, true]).auc == nil)
    }

    @Test func rocPointsCarryTheThresholdTheyPredictPositiveFrom() {
        // Scores 0.9 (pos), 0.7 (neg), 0.5 (pos, neg tied), 0.1 (neg): each distinct score is one point.
        let (points, _) = ClassificationReport.roc(scores: [0.9, 0.7, 0.5, 0.5, 0.1],
                                                   positives: [true, false, true, false, false])
        #expect(points.map(\.threshold) == [.infinity, 0.9, 0.7, 0.5, 0.1])
        #expect(points.map(\.tpr) == [0, 0.5, 0.5, 1, 1])
        #expect(points.map(\.fpr) == [0, 0, 1.0 / 3, 2.0 / 3, 1])
    }

    @Test func rocPointsAreThinnedKeepingTheEnds() {
        let n = 1000
        let scores = (0..<n).map { Double($0) / Double(n) }
        let positives = (0..<n).map { $0 % 3 == 0 }
        let full = ClassificationReport.roc(scores: scores, positives: positives, maxPoints: .max)
        let thin = ClassificationReport.roc(scores: scores, positives: positives, maxPoints: 200)
        #expect(full.points.count == n + 1 && thin.points.count == 200)
        #expect(thin.points.first == full.points.first && thin.points.last == full.points.last)
        #expect(thin.auc == full.auc)
    }

    @Test func mostConfidentlyWrongRanksByConfidenceThenIndex() {
        let order = ClassificationReport.mostConfidentlyWrong(labels: [0, 1, 2, 0, 1], predicted: [1, 1, 0, 2, 0],
                                                              confidence: [0.6, 0.99, 0.9, 0.6, 0.7], limit: 3)
        #expect(order == [2, 4, 0])
        #expect(ClassificationReport.predictions(scores: [0.2, 0.5, 0.5, 1, 0, 0], classes: 3) == [1, 0])
    }
}
