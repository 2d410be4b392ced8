import Foundation
import SequentData
import SequentNN

/// Where the server or CLI finds data.
public struct DataSources: Sendable {
    /// Directory of the Fashion-MNIST IDX files.
    public var fashionMNISTDirectory: String
    /// Where class-folder datasets live; job specs name folders relative to it.
    public var datasetsRoot: String
    /// Bytes of decoded images a folder dataset keeps in memory (training and validation folders together);
    /// images past it are decoded again whenever a batch needs them.
    public var imageCacheBytes: Int
    /// The folder of a saved model by id, for a job that starts from one (`initial_model`); nil where there is
    /// no model store (the CLI).
    public var modelFolder: (@Sendable (String) throws -> URL)?

    public init(fashionMNISTDirectory: String = FashionMNIST.defaultDirectory, datasetsRoot: String = "./data/datasets",
                imageCacheBytes: Int = 1 << 30) {
        self.fashionMNISTDirectory = fashionMNISTDirectory
        self.datasetsRoot = datasetsRoot
        self.imageCacheBytes = imageCacheBytes
    }
}

/// Runs one job spec to completion: load data, build, fit, evaluate on the test split. The CLI's `train` and
/// the service's workers both go through this, so they behave the same.
public final class TrainingRun {
    public let spec: JobSpec
    public private(set) var model: Sequential
    /// The dataset's name ("fashion_mnist" or the folder) and class names.
    public let datasetName: String
    public let classNames: [String]
    public let trainData: any TrainingData
    /// Validated on after every epoch: the validation folder or split of a folder dataset, Fashion-MNIST's test
    /// split when the spec asks for it.
    public let validationData: (any TrainingData)?
    /// Evaluated once training ends (Fashion-MNIST's test split; a folder dataset's validation images).
    public let testData: (any TrainingData)?
    public let oneHot: Int?
    /// Input values of a full-intensity pixel (1 for Fashion-MNIST, 255·rescale for folders).
    let pixelScale: Float
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
        if let id = spec.initialModel {
            guard let folder = sources.modelFolder else {
                throw ConfigError(field: "initial_model", detail: "needs the server's models: submit the job to `sequent serve`")
            }
            try Self.copyWeights(from: ModelArchive.load(from: try folder(id)).model, into: model, source: id)
        }
        let oneHot = try spec.oneHotClasses(outputWidth: model.outputWidth)
        self.oneHot = oneHot
        if let directory = spec.dataset.directory {
            let folders = try Self.openFolders(spec: spec, sources: sources, directory: directory, oneHot: oneHot)
            datasetName = directory
            classNames = folders.train.classNames
            trainData = folders.train
            validationData = folders.validation
            testData = folders.validation
            skippedImages = folders.skipped
            pixelScale = 255 * Float(spec.dataset.rescale)
        } else {
            let splits = try FashionMNIST.loadPixels(directory: sources.fashionMNISTDirectory,
                                                     trainLimit: spec.dataset.trainLimit, testLimit: spec.dataset.testLimit)
            // Fashion-MNIST images may feed a model declared with input_shape [784]; only the width must agree.
            // Pixels become pixel/255; a model that starts with Rescaling gets raw 0–255 pixels.
            let factor = Float(spec.dataset.rescale * 255)
            func data(_ d: FashionMNIST.Pixels) -> PixelData {
                PixelData(pixels: d.pixels, inputWidth: d.height * d.width, targets: d.targets(oneHotClasses: oneHot),
                          scale: factor)
            }
            datasetName = FashionMNIST.name
            classNames = FashionMNIST.classNames
            trainData = data(splits.train)
            testData = splits.test.count > 0 ? data(splits.test) : nil
            validationData = spec.dataset.validation == "test" ? testData : nil
            pixelScale = factor
        }
        let binary = model.outputWidth == 1 && classNames.count == 2 && model.loss is BinaryCrossentropy
        if model.outputWidth != classNames.count, !binary, !(model.loss is MeanSquaredError) {
            throw ConfigError(field: "model.layers[\(model.layers.count - 1)]",
                              detail: "outputs \(model.outputWidth) values, \(spec.dataset.name) has \(classNames.count) classes")
        }
        // Now the data decides whether there is validation (a folder's train/ and validation/): the CLI and
        // a job queued before submit checked it learn about a monitor that would never be logged here.
        // fit.validation_split holds its share out inside fit (Fashion-MNIST; folders refuse it).
        try spec.checkMonitors(validation: validationData != nil || spec.fit.validationSplit != nil)
    }

    /// Opens a class-folder dataset and its validation images (a second folder, or a seeded split); images are
    /// decoded as batches need them, within the cache budget of `sources`.
    static func openFolders(spec: JobSpec, sources: DataSources, directory: String, oneHot: Int?) throws
        -> (train: ImageFolderData, validation: ImageFolderData?, skipped: [(path: String, reason: String)])
    {
        let d = spec.dataset
        let root = URL(fileURLWithPath: sources.datasetsRoot)
        let size = d.targetSize ?? [150, 150]
        var options = DirectoryDataset.Options(height: size[0], width: size[1], channels: d.colorMode == "grayscale" ? 1 : 3,
                                               rescale: Float(d.rescale), classes: d.classes)
        options.interpolation = Preprocessing.Interpolation(rawValue: d.interpolation) ?? .bilinear
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
        var train = try ImageFolderData(root: root.appendingPathComponent(trainDir), options: options,
                                        oneHotClasses: oneHot, cacheBytes: sources.imageCacheBytes)
        var skipped = train.skipped
        var validation: ImageFolderData?
        if let v = validationDir {
            var vOptions = options
            vOptions.classes = train.classNames
            let loaded = try ImageFolderData(root: root.appendingPathComponent(v), options: vOptions, oneHotClasses: oneHot,
                                             cacheBytes: max(0, sources.imageCacheBytes - train.cachedBytes))
            skipped += loaded.skipped.map { (v + "/" + $0.path, $0.reason) }
            validation = loaded
        } else if let fraction = d.validationSplit {
            (train, validation) = train.split(fraction: fraction)
        }
        return (train, validation.flatMap { $0.count > 0 ? $0 : nil }, skipped)
    }

    public func fitOptions(initialEpoch: Int = 0, cancellation: CancellationToken? = nil) -> FitOptions {
        var o = FitOptions(epochs: spec.fit.epochs, batchSize: spec.fit.batchSize)
        o.shuffle = spec.fit.shuffle
        o.seed = spec.fit.seed
        o.validationSplit = spec.dataset.validation == nil ? spec.fit.validationSplit : nil
        o.stepsPerEpoch = spec.fit.stepsPerEpoch
        o.validationSteps = spec.fit.validationSteps
        o.classWeight = spec.fit.classWeight?.mapValues { Float($0) }
        o.validationFreq = spec.fit.validationFreq
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
        let history = try model.fit(data: trainData, options: options ?? fitOptions(), validationData: validationData,
                                    callbacks: callbacks)
        var test: [String: Double] = [:]
        if !history.cancelled && history.failure == nil, let testData {
            test = try model.evaluate(data: testData, batchSize: max(spec.fit.batchSize, 256))
        }
        return Outcome(history: history, test: test)
    }

    /// What is saved with the model for serving: class names, input shape, preprocessing. The background
    /// polarity is measured from the training images' borders (Fashion-MNIST: dark), so predict can tell
    /// when an upload needs inverting.
    public var modelMetadata: [String: JSONValue] {
        let shape = model.inputShape
        let (h, w) = (shape.count > 1 ? shape[0] : 1, shape.count > 1 ? shape[1] : 1)
        let c = shape.count > 2 ? shape[2] : 1
        let n = min(trainData.count, 200)
        var x = [Float](repeating: 0, count: n * trainData.inputWidth)
        var y = [Float](repeating: 0, count: n * trainData.targetWidth)
        var sum: Float = 0, count = 0
        if (try? trainData.gather((0..<n).map { $0 }[...], x: &x, y: &y)) != nil {
            for s in 0..<n {
                let base = s * h * w * c
                for yy in 0..<h { for xx in 0..<w where yy == 0 || yy == h - 1 || xx == 0 || xx == w - 1 {
                    sum += x[base + (yy * w + xx) * c]; count += 1
                } }
            }
        }
        let background = count > 0 && sum / Float(count) > 0.5 * pixelScale ? "light" : "dark"
        let rescale = spec.dataset.rescale
        return ["class_names": .array(classNames.map { .string($0) }),
                "dataset": .string(datasetName),
                "input_shape": .ints(model.inputShape),
                "preprocessing": .object(["color_mode": .string(c == 1 ? "grayscale" : "rgb"),
                                          "rescale": .number(rescale), "background": .string(background),
                                          "interpolation": .string(spec.dataset.isDirectory ? spec.dataset.interpolation : "bilinear")])]
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

extension TrainingRun {
    /// Fine-tuning: every layer of `model` whose name is a layer of `source` takes that layer's weights (the
    /// moving statistics of BatchNormalization included), as Keras's `load_weights` matches by name. A layer the
    /// source lacks keeps its initial weights (a new head); a layer of the same name with other shapes is an error
    /// naming it, and so is a model that shares no weights with the source.
    static func copyWeights(from source: Sequential, into model: Sequential, source id: String) throws {
        let byName = Dictionary(source.layers.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var copied = 0
        for (i, layer) in model.layers.enumerated() where !layer.parameters.isEmpty {
            guard let j = byName[layer.name] else { continue }
            let weights = source.weights(ofLayer: j)
            guard weights.map(\.shape) == layer.parameters.map(\.shape) else {
                throw ConfigError(field: "initial_model",
                                  detail: "layer \"\(layer.name)\" has weights \(layer.parameters.map(\.shape)) here and \(weights.map(\.shape)) in \(id); rename it to train it from scratch")
            }
            try model.setWeights(ofLayer: i, weights)
            copied += 1
        }
        guard copied > 0 else {
            throw ConfigError(field: "initial_model",
                              detail: "no layer of the model has a name of \(id)'s layers (\(source.layers.map(\.name).joined(separator: ", ")))")
        }
    }
}
