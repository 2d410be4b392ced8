import Foundation
import SequentData
import SequentNN

/// Where the server or CLI finds data.
public struct DataSources: Sendable {
    /// Directory of the Fashion-MNIST IDX files.
    public var fashionMNISTDirectory: String
    /// Where class-folder datasets live; job specs name folders relative to it.
    public var datasetsRoot: String

    public init(fashionMNISTDirectory: String = FashionMNIST.defaultDirectory, datasetsRoot: String = "./data/datasets") {
        self.fashionMNISTDirectory = fashionMNISTDirectory
        self.datasetsRoot = datasetsRoot
    }
}

/// Runs one job spec to completion: load data, build, fit, evaluate on the test split. The CLI's `train` and
/// the service's workers both go through this, so they behave the same.
public final class TrainingRun {
    public let spec: JobSpec
    public private(set) var model: Sequential
    public let dataset: ClassificationDataset
    public let oneHot: Int?
    /// Images of a folder dataset that could not be decoded (relative path, reason); training went on without.
    public private(set) var skippedImages: [(path: String, reason: String)] = []

    /// What a finished run produced.
    public struct Outcome: Sendable {
        public var history: History
        /// Loss and metrics on the test split, keyed "loss", "accuracy"…
        public var test: [String: Double]
    }

    public init(spec: JobSpec, sources: DataSources = DataSources()) throws {
        self.spec = spec
        model = try spec.makeModel()
        if let directory = spec.dataset.directory {
            (dataset, skippedImages) = try Self.loadFolders(spec: spec, root: URL(fileURLWithPath: sources.datasetsRoot), directory: directory)
        } else {
            dataset = try FashionMNIST.load(directory: sources.fashionMNISTDirectory, trainLimit: spec.dataset.trainLimit,
                                            testLimit: spec.dataset.testLimit)
        }
        oneHot = try spec.oneHotClasses(outputWidth: model.outputWidth)
        let binary = model.outputWidth == 1 && dataset.classNames.count == 2 && model.loss is BinaryCrossentropy
        if model.outputWidth != dataset.classNames.count, !binary, !(model.loss is MeanSquaredError) {
            throw ConfigError(field: "model.layers[\(model.layers.count - 1)]",
                              detail: "outputs \(model.outputWidth) values, \(spec.dataset.name) has \(dataset.classNames.count) classes")
        }
    }

    /// Loads a class-folder dataset and its validation images (a second folder, or a seeded split).
    static func loadFolders(spec: JobSpec, root: URL, directory: String) throws
        -> (ClassificationDataset, [(path: String, reason: String)])
    {
        let d = spec.dataset
        let size = d.targetSize ?? [150, 150]
        let options = DirectoryDataset.Options(height: size[0], width: size[1], channels: d.colorMode == "grayscale" ? 1 : 3,
                                               rescale: Float(d.rescale), classes: d.classes)
        // An uploaded dataset may hold train/ and validation/ folders: they supply both splits.
        var trainDir = directory, validationDir = d.validationDirectory
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: root.appendingPathComponent(directory + "/train").path, isDirectory: &isDir), isDir.boolValue {
            trainDir = directory + "/train"
            if validationDir == nil, d.validationSplit == nil,
               FileManager.default.fileExists(atPath: root.appendingPathComponent(directory + "/validation").path) {
                validationDir = directory + "/validation"
            }
        }
        let train = try DirectoryDataset.load(root.appendingPathComponent(trainDir), options: options)
        var skipped = train.skipped
        var trainData = train.data, validation = LabeledData(x: Tensor(zeros: [0] + Array(train.data.x.shape.dropFirst())), y: Tensor(zeros: [0]))
        if let v = validationDir {
            var vOptions = options
            vOptions.classes = train.classNames
            let loaded = try DirectoryDataset.load(root.appendingPathComponent(v), options: vOptions)
            skipped += loaded.skipped.map { (v + "/" + $0.path, $0.reason) }
            validation = loaded.data
        } else if let fraction = d.validationSplit {
            (trainData, validation) = DirectoryDataset.split(train.data, fraction: fraction, seed: spec.fit.seed)
        }
        return (ClassificationDataset(name: directory, train: trainData, test: validation, classNames: train.classNames), skipped)
    }

    /// Inputs shaped for the model (Fashion-MNIST images may feed a model declared with input_shape [784]).
    public func inputs(_ data: LabeledData) -> Tensor {
        var x = data.x
        x.shape = [data.count] + model.inputShape
        return x
    }

    public func fitOptions(initialEpoch: Int = 0, cancellation: CancellationToken? = nil) -> FitOptions {
        var o = FitOptions(epochs: spec.fit.epochs, batchSize: spec.fit.batchSize)
        o.shuffle = spec.fit.shuffle
        o.seed = spec.fit.seed
        o.validationSplit = spec.dataset.validation == nil ? spec.fit.validationSplit : nil
        o.stepsPerEpoch = spec.fit.stepsPerEpoch
        o.validationSteps = spec.fit.validationSteps
        o.initialEpoch = initialEpoch
        o.cancellation = cancellation
        let shape = model.inputShape
        if let augmentation = spec.dataset.augmentation, shape.count == 3 {
            let scratch = AugmentationScratch(count: shape.reduce(1, *))
            let seed = spec.fit.seed
            o.augment = { batch, n, epoch, step in
                augmentation.apply(batch: batch, n: n, height: shape[0], width: shape[1], channels: shape[2], seed: seed,
                                   epoch: epoch, step: step, scratch: scratch.pointer)
            }
        }
        return o
    }

    /// Fits, then evaluates on the test split (unless cancelled or failed).
    public func run(callbacks: [Callback], options: FitOptions? = nil) throws -> Outcome {
        let validate = spec.dataset.validation == "test" || (spec.dataset.isDirectory && dataset.test.count > 0)
        let validation: (x: Tensor, y: Tensor)? = validate
            ? (inputs(dataset.test), dataset.test.targets(oneHotClasses: oneHot)) : nil
        let history = try model.fit(x: inputs(dataset.train), y: dataset.train.targets(oneHotClasses: oneHot),
                                    options: options ?? fitOptions(), validationData: validation, callbacks: callbacks)
        var test: [String: Double] = [:]
        if !history.cancelled && history.failure == nil && dataset.test.count > 0 {
            test = try model.evaluate(x: inputs(dataset.test), y: dataset.test.targets(oneHotClasses: oneHot),
                                      batchSize: max(spec.fit.batchSize, 256))
        }
        return Outcome(history: history, test: test)
    }

    /// What is saved with the model for serving: class names, input shape, preprocessing. The background
    /// polarity is measured from the training images' borders (Fashion-MNIST: dark), so predict can tell
    /// when an upload needs inverting.
    public var modelMetadata: [String: JSONValue] {
        let x = dataset.train.x
        let (h, w) = (x.shape.count > 2 ? x.shape[1] : 1, x.shape.count > 2 ? x.shape[2] : 1)
        let c = x.shape.count > 3 ? x.shape[3] : 1
        var sum: Float = 0, n = 0
        for s in 0..<min(dataset.train.count, 500) {
            let base = s * h * w * c
            for yy in 0..<h { for xx in 0..<w where yy == 0 || yy == h - 1 || xx == 0 || xx == w - 1 {
                sum += x.scalars[base + (yy * w + xx) * c]; n += 1
            } }
        }
        let background = n > 0 && sum / Float(n) > 0.5 ? "light" : "dark"
        return ["class_names": .array(dataset.classNames.map { .string($0) }),
                "dataset": .string(dataset.name),
                "input_shape": .ints(model.inputShape),
                "preprocessing": .object(["color_mode": .string(c == 1 ? "grayscale" : "rgb"),
                                          "rescale": .number(1.0 / 255.0), "background": .string(background)])]
    }
}

extension TrainingRun {
    /// Continues from a checkpoint written by `ModelArchive.save(…, includeOptimizer: true)`: weights and
    /// optimizer state (moments, step count, learning rate) replace the fresh model's.
    public func restore(from checkpoint: URL) throws {
        let loaded = try ModelArchive.load(from: checkpoint, restoreOptimizer: true)
        guard loaded.model.parameterCount == model.parameterCount,
              loaded.model.layers.map(\.typeName) == model.layers.map(\.typeName) else {
            throw TrainingError("the checkpoint's model (\(loaded.model.parameterCount) parameters) does not match the job's spec")
        }
        loaded.model.threads = model.threads
        loaded.model.name = model.name
        model = loaded.model
    }
}

/// One image of scratch for the augmentation closure (fit calls it from one thread, one batch at a time).
final class AugmentationScratch: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) { pointer = .allocate(capacity: max(count, 1)) }
    deinit { pointer.deallocate() }
}
