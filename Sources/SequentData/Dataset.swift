import SequentNN

/// Inputs and targets in memory: `x` is `[N, H, W, C]` (or `[N, D]`), `y` holds class indices `[N]`.
public struct LabeledData: Sendable {
    public var x: Tensor
    public var y: Tensor
    public var count: Int { x.shape.first ?? 0 }

    public init(x: Tensor, y: Tensor) {
        self.x = x
        self.y = y
    }

    /// The first `n` samples (all of them when `n` is nil or larger).
    public func prefix(_ n: Int?) -> LabeledData {
        guard let n, n < count else { return self }
        return LabeledData(x: x.slice(0..<n), y: y.slice(0..<n))
    }

    /// Targets in the form a loss expects: class indices for sparse losses, one-hot rows for categorical ones.
    public func targets(oneHotClasses: Int?) -> Tensor {
        Self.targets(labels: y.scalars, oneHotClasses: oneHotClasses)
    }

    /// `labels` as class indices `[N]`, or as one-hot rows `[N, k]` when `oneHotClasses` is `k` (a label
    /// outside 0..<k gets a row of zeros).
    public static func targets(labels: [Float], oneHotClasses: Int?) -> Tensor {
        guard let k = oneHotClasses else { return Tensor(shape: [labels.count], scalars: labels) }
        var out = [Float](repeating: 0, count: labels.count * k)
        for (i, label) in labels.enumerated() where Int(label) < k && label >= 0 { out[i * k + Int(label)] = 1 }
        return Tensor(shape: [labels.count, k], scalars: out)
    }
}

/// A dataset split into training and test data, with its class names.
public struct ClassificationDataset: Sendable {
    public var name: String
    public var train: LabeledData
    public var test: LabeledData
    public var classNames: [String]
    public var inputShape: [Int] { Array(train.x.shape.dropFirst()) }

    public init(name: String, train: LabeledData, test: LabeledData, classNames: [String]) {
        self.name = name
        self.train = train
        self.test = test
        self.classNames = classNames
    }
}
