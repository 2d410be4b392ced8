import Foundation
import SequentData
import SequentNN

/// A training job as submitted (DESIGN.md §4): dataset, model, compile and fit settings, callbacks.
///
/// `parse` validates every field before anything runs, building the model once to check shapes, and reports
/// the first problem with its full field path (`model.layers[2].units must be > 0, got 0`).
public struct JobSpec: Sendable {
    public var name: String
    public var dataset: DatasetSpec
    /// The model as submitted (either spelling); rebuilt with `makeModel()`.
    public var model: JSONValue
    public var optimizer: JSONValue
    public var loss: JSONValue
    /// Metric names or objects (`{"type": "top_k_categorical_accuracy", "k": 3}`, Keras's class_name/config).
    public var metrics: [JSONValue]
    public var fit: FitSpec
    public var callbacks: [JSONValue]
    /// The model whose weights the job starts from (fine-tuning): its id, resolved at submission. Layers are matched
    /// by name; a layer of the job's model that the initial model does not have starts from its initializer.
    public var initialModel: String?
    /// Model seed (initial weights, dropout); `fit.seed` unless given separately.
    public var seed: UInt64 { fit.seed }

    /// Which data to train on.
    public struct DatasetSpec: Sendable, Equatable {
        /// Built-in dataset name ("fashion_mnist"), or the class-folder dataset's directory name.
        public var name: String
        /// "test" validates on the test split (for folders: the validation images) each epoch; nil for none.
        public var validation: String?
        /// Keep only the first N training / test samples (quick experiments and tests).
        public var trainLimit: Int?
        public var testLimit: Int?
        /// A class-folder dataset: its directory, relative to the server's datasets root.
        public var directory: String?
        public var validationDirectory: String?
        /// Fraction of every class held out for validation (its first files by name, as ImageDataGenerator's
        /// `subset` takes them), when no validation directory.
        public var validationSplit: Double?
        /// [height, width] images are resized to.
        public var targetSize: [Int]?
        /// "grayscale" or "rgb".
        public var colorMode: String = "rgb"
        /// "binary", "categorical" or "sparse"; nil follows the loss.
        public var classMode: String?
        /// The factor 0–255 pixels are multiplied by before the model sees them: flow_from_directory's `rescale`,
        /// 1/255 by default for both folders and Fashion-MNIST — or 1 (raw pixels, as Keras users feed such a
        /// model) when the model begins with a `Rescaling` layer and the spec sets no `rescale` of its own.
        public var rescale: Double = 1.0 / 255.0
        /// Whether the spec set `rescale` itself (then it is kept whatever the model's first layer).
        public var rescaleGiven = false
        /// How images are resized: "bilinear" (area when shrinking > 2×), "nearest" (flow_from_directory's
        /// default) or "area".
        public var interpolation = "bilinear"
        /// Explicit class order (sub-folder names).
        public var classes: [String]?
        /// On-the-fly augmentation of training batches (ImageDataGenerator's arguments).
        public var augmentation: Augmentation?

        public var isDirectory: Bool { directory != nil }
    }

    /// A dataset folder name: relative, no `..`, no hidden parts — never a path outside the datasets root.
    static func checkRelative(_ path: String, field: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.hasPrefix(".") }),
              path.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0 != "\\" }) else {
            throw ConfigError(field: field, detail: "must be a dataset name relative to the datasets root (no '..', no absolute path), got \"\(path)\"")
        }
    }

    /// `model.fit` arguments.
    public struct FitSpec: Sendable, Equatable {
        public var epochs = 5
        public var batchSize = 32
        public var shuffle = true
        public var seed: UInt64 = 1
        public var validationSplit: Double?
        public var stepsPerEpoch: Int?
        public var validationSteps: Int?
        /// Keras's `class_weight`: class index → weight of its samples in the training loss (JSON keys are
        /// the indices as strings); nil for none.
        public var classWeight: [Int: Double]?
        /// Keras's `validation_freq`: validate every N epochs (an int) or after the listed 1-based epochs.
        public var validationFreq: ValidationFrequency = .every(1)
    }

    /// Parses and validates a spec. Throws `ConfigError` naming the field.
    public static func parse(_ value: JSONValue) throws -> JobSpec {
        var r = try ConfigReader(value, path: "")
        let name = try r.string("name", default: "job")
        guard !name.isEmpty, name.count <= 100,
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_. ".unicodeScalars.contains($0) })
        else {
            throw ConfigError(field: "name", detail: "must be 1–100 letters, digits, spaces, '-', '_' or '.', got \"\(name)\"")
        }
        let dataset = try parseDataset(r.value("dataset") ?? ["name": "fashion_mnist"])
        guard let model = r.value("model") else { throw ConfigError(field: "model", detail: "is required") }

        var optimizer: JSONValue = "adam", loss: JSONValue = "sparse_categorical_crossentropy"
        var metrics: [JSONValue] = ["accuracy"]
        if let compile = r.value("compile") {
            var c = try ConfigReader(compile, path: "compile")
            do {
                optimizer = c.value("optimizer") ?? optimizer
                loss = c.value("loss") ?? loss
                if let m = c.value("metrics") {
                    guard let list = m.arrayValue, list.allSatisfy({ $0.stringValue != nil || $0.objectValue != nil }) else {
                        throw ConfigError(field: "metrics", detail: "must be a list of metric names or metric objects, got \(m.brief)")
                    }
                    metrics = list
                }
                try c.finish()
            } catch let e as ConfigError { throw e.prefixed(by: "compile") }
        }
        let fit = try parseFit(r.value("fit") ?? .object([:]))
        // Keras refuses validation_split for generators (flow_from_directory): the tail of a class-ordered file
        // list would be one or two whole classes. The folder's own split takes every class's share.
        if dataset.isDirectory, let split = fit.validationSplit {
            throw ConfigError(field: "fit.validation_split", detail: "cannot be used with a folder dataset (Keras refuses validation_split for generators), got \(split); set dataset.validation_split instead, which holds out that fraction of every class")
        }
        var callbacks: [JSONValue] = []
        if let cbs = r.value("callbacks") {
            guard let list = cbs.arrayValue else {
                throw ConfigError(field: "callbacks", detail: "must be a list, got \(cbs.brief)")
            }
            callbacks = list
        }
        let initialModel = try r.string("initial_model")
        if let id = initialModel, id.isEmpty || id.count > 100 {
            throw ConfigError(field: "initial_model", detail: "must be a model id like m_…, got \"\(id)\"")
        }
        try r.finish()
        var spec = JobSpec(name: name, dataset: dataset, model: model, optimizer: optimizer, loss: loss,
                           metrics: metrics, fit: fit, callbacks: callbacks)
        spec.initialModel = initialModel
        // Build everything once so that every error surfaces now, not when a worker picks the job up.
        let built = try spec.makeModel()
        // A Keras model that starts with Rescaling(1./255) expects raw pixels; scaling them here as well would
        // feed it values in [0, 1/255]. The stored spec then says rescale 1.
        if built.takesRawPixels && !dataset.rescaleGiven { spec.dataset.rescale = 1 }
        for (i, cb) in try spec.makeCallbacks(checkpointDirectory: nil).enumerated()
        where (cb is ReduceLROnPlateau || cb is LearningRateScheduler) && built.optimizer?.options.schedule != nil {
            // Keras raises when a callback sets the rate of an optimizer built with a LearningRateSchedule.
            let type = callbacks[i]["type"]?.stringValue ?? ""
            throw ConfigError(field: "callbacks[\(i)].type", detail: "\(type) cannot change the rate of an optimizer whose "
                              + "learning_rate is a schedule (Keras refuses it; use a plain number for "
                              + "compile.optimizer.learning_rate), got \"\(type)\"")
        }
        if let cw = fit.classWeight {
            // Keras silently ignores a class index no label can have; that is a typo here, so it is a 400.
            let classes = built.outputWidth == 1 ? 2 : built.outputWidth
            if let bad = cw.keys.sorted().first(where: { $0 >= classes }) {
                throw ConfigError(field: "fit.class_weight.\(bad)", detail: "is not a class of the model's \(built.outputWidth)-unit output (classes 0…\(classes - 1)), got \"\(bad)\"")
            }
        }
        try spec.checkMonitors(validation: spec.validatesBySpec)
        if let size = dataset.targetSize {
            let want = size + [dataset.colorMode == "grayscale" ? 1 : 3]
            guard built.inputShape == want else {
                throw ConfigError(field: "model.input_shape", detail: "must be \(want) for target_size \(size) and color_mode \"\(dataset.colorMode)\", got \(built.inputShape)")
            }
            let lossName = (try? makeLoss(spec.loss).name) ?? ""
            let expected = ["binary": "binary_crossentropy", "categorical": "categorical_crossentropy",
                            "sparse": "sparse_categorical_crossentropy"]
            if let mode = dataset.classMode, expected[mode] != lossName {
                throw ConfigError(field: "dataset.class_mode", detail: "\"\(mode)\" needs the loss \(expected[mode]!), the job compiles \(lossName)")
            }
            if dataset.classMode == "binary" && built.outputWidth != 1 {
                throw ConfigError(field: "model.layers[\(built.layers.count - 1)]", detail: "must have 1 unit (sigmoid) for class_mode \"binary\", has \(built.outputWidth)")
            }
        } else if dataset.name == "fashion_mnist" && built.inputShape != [28, 28, 1] && built.inputCount != 784 {
            throw ConfigError(field: "model.input_shape", detail: "must be [28, 28, 1] (or 784 values) for fashion_mnist, got \(built.inputShape)")
        }
        return spec
    }

    /// `rescale`: a positive factor for 0–255 pixels (1/255 when absent).
    static func parseRescale(_ r: inout ConfigReader, into d: inout DatasetSpec) throws {
        d.rescaleGiven = r.has("rescale")
        d.rescale = try r.double("rescale", default: 1.0 / 255.0)
        guard d.rescale > 0, d.rescale.isFinite else {
            throw ConfigError(field: "rescale", detail: "must be a positive number, got \(d.rescale)")
        }
    }

    static func parseDataset(_ value: JSONValue) throws -> DatasetSpec {
        var r = try ConfigReader(value, path: "dataset")
        do {
            if r.has("directory") {
                var d = try parseDirectoryDataset(&r)
                d.augmentation = try parseAugmentation(r.value("augmentation"))
                try r.finish()
                return d
            }
            let name = try r.string("name", default: "fashion_mnist")
            guard name == "fashion_mnist" else {
                throw ConfigError(field: "name", detail: "must be \"fashion_mnist\", got \"\(name)\"")
            }
            let validation = try r.string("validation")
            if let v = validation, v != "test" {
                throw ConfigError(field: "validation", detail: "must be \"test\" or null, got \"\(v)\"")
            }
            let trainLimit = try r.int("train_limit"), testLimit = try r.int("test_limit")
            if let t = trainLimit, t < 1 { throw ConfigError(field: "train_limit", detail: "must be ≥ 1, got \(t)") }
            if let t = testLimit, t < 1 { throw ConfigError(field: "test_limit", detail: "must be ≥ 1, got \(t)") }
            var d = DatasetSpec(name: name, validation: validation, trainLimit: trainLimit, testLimit: testLimit)
            try parseRescale(&r, into: &d)
            d.augmentation = try parseAugmentation(r.value("augmentation"))
            try r.finish()
            return d
        } catch let e as ConfigError { throw e.prefixed(by: "dataset") }
    }

    /// `{"directory": "horses-or-humans", "validation_directory" | "validation_split", "target_size",
    /// "color_mode", "class_mode", "rescale", "interpolation", "classes"}` (Keras's flow_from_directory arguments).
    static func parseDirectoryDataset(_ r: inout ConfigReader) throws -> DatasetSpec {
        let directory = try r.requiredString("directory")
        try checkRelative(directory, field: "directory")
        var d = DatasetSpec(name: directory, validation: nil, trainLimit: nil, testLimit: nil, directory: directory)
        r.accept("name")
        d.validationDirectory = try r.string("validation_directory")
        if let v = d.validationDirectory { try checkRelative(v, field: "validation_directory") }
        d.validationSplit = try r.double("validation_split")
        if let s = d.validationSplit, !(s > 0 && s < 1) {
            throw ConfigError(field: "validation_split", detail: "must be in (0, 1), got \(s)")
        }
        if d.validationDirectory != nil && d.validationSplit != nil {
            throw ConfigError(field: "validation_split", detail: "cannot be combined with validation_directory")
        }
        if d.validationDirectory != nil || d.validationSplit != nil { d.validation = "test" }
        guard let size = try r.ints("target_size", count: 2) else { throw ConfigError(field: "target_size", detail: "is required, e.g. [150, 150]") }
        guard size.allSatisfy({ (1...2048).contains($0) }) else {
            throw ConfigError(field: "target_size", detail: "must be two sizes in 1...2048, got \(size)")
        }
        d.targetSize = size
        d.colorMode = try r.string("color_mode", default: "rgb")
        guard ["rgb", "grayscale"].contains(d.colorMode) else {
            throw ConfigError(field: "color_mode", detail: "must be \"rgb\" or \"grayscale\", got \"\(d.colorMode)\"")
        }
        d.classMode = try r.string("class_mode")
        if let m = d.classMode, !["binary", "categorical", "sparse"].contains(m) {
            throw ConfigError(field: "class_mode", detail: "must be binary, categorical or sparse, got \"\(m)\"")
        }
        try parseRescale(&r, into: &d)
        d.interpolation = try r.string("interpolation", default: "bilinear")
        guard Preprocessing.Interpolation(rawValue: d.interpolation) != nil else {
            throw ConfigError(field: "interpolation", detail: "must be one of \(Preprocessing.Interpolation.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(d.interpolation)\"")
        }
        r.accept("augmentation")
        if let c = r.value("classes") {
            guard let list = c.arrayValue?.compactMap(\.stringValue), list.count == c.arrayValue?.count, !list.isEmpty else {
                throw ConfigError(field: "classes", detail: "must be a list of class folder names, got \(c.brief)")
            }
            d.classes = list
        }
        return d
    }

    /// `{"rotation_range": 40, "width_shift_range": 0.2, "height_shift_range": 0.2, "shear_range": 0.2,
    /// "zoom_range": 0.2, "horizontal_flip": true, "fill_mode": "nearest"}` (the tutorial's generator).
    static func parseAugmentation(_ value: JSONValue?) throws -> Augmentation? {
        guard let value else { return nil }
        var r = try ConfigReader(value, path: "augmentation")
        do {
            var a = Augmentation()
            func range(_ key: String, max: Double) throws -> Double {
                let v = try r.double(key, default: 0)
                guard v >= 0, v <= max else { throw ConfigError(field: key, detail: "must be in 0...\(max), got \(v)") }
                return v
            }
            a.rotationRange = try range("rotation_range", max: 180)
            a.widthShiftRange = try range("width_shift_range", max: 1)
            a.heightShiftRange = try range("height_shift_range", max: 1)
            a.shearRange = try range("shear_range", max: 89)
            a.zoomRange = try range("zoom_range", max: 0.99)
            a.horizontalFlip = try r.bool("horizontal_flip", default: false)
            let fill = try r.string("fill_mode", default: "nearest")
            guard let mode = Augmentation.FillMode(rawValue: fill) else {
                throw ConfigError(field: "fill_mode", detail: "must be nearest, reflect, wrap or constant, got \"\(fill)\"")
            }
            a.fillMode = mode
            a.cval = Float(try r.double("cval", default: 0))
            try r.finish()
            return a.isIdentity ? nil : a
        } catch let e as ConfigError { throw e.prefixed(by: "augmentation") }
    }

    static func parseFit(_ value: JSONValue) throws -> FitSpec {
        var r = try ConfigReader(value, path: "fit")
        do {
            var f = FitSpec()
            f.epochs = try r.int("epochs", default: f.epochs)
            guard (1...100_000).contains(f.epochs) else { throw ConfigError(field: "epochs", detail: "must be in 1...100000, got \(f.epochs)") }
            f.batchSize = try r.int("batch_size", default: f.batchSize)
            guard (1...65_536).contains(f.batchSize) else { throw ConfigError(field: "batch_size", detail: "must be in 1...65536, got \(f.batchSize)") }
            f.shuffle = try r.bool("shuffle", default: true)
            let seed = try r.int("seed", default: 1)
            guard seed >= 0 else { throw ConfigError(field: "seed", detail: "must be ≥ 0, got \(seed)") }
            f.seed = UInt64(seed)
            f.validationSplit = try r.double("validation_split")
            if let s = f.validationSplit, !(s > 0 && s < 1) {
                throw ConfigError(field: "validation_split", detail: "must be in (0, 1), got \(s)")
            }
            f.stepsPerEpoch = try r.int("steps_per_epoch")
            if let s = f.stepsPerEpoch, s < 1 { throw ConfigError(field: "steps_per_epoch", detail: "must be ≥ 1, got \(s)") }
            f.validationSteps = try r.int("validation_steps")
            if let s = f.validationSteps, s < 1 { throw ConfigError(field: "validation_steps", detail: "must be ≥ 1, got \(s)") }
            if let v = r.value("validation_freq") {
                if let n = v.intValue {
                    guard n >= 1 else { throw ConfigError(field: "validation_freq", detail: "must be ≥ 1 (validate every N epochs), got \(n)") }
                    f.validationFreq = .every(n)
                } else if let list = v.arrayValue, !list.isEmpty, list.allSatisfy({ $0.intValue != nil }) {
                    let epochs = list.map { $0.intValue! }
                    // Keras only validates at epochs it reaches; an entry outside 1...epochs would never fire.
                    if let bad = epochs.first(where: { $0 < 1 || $0 > f.epochs }) {
                        throw ConfigError(field: "validation_freq", detail: "lists 1-based epochs in 1...\(f.epochs) (fit.epochs), got \(bad) in \(v.brief)")
                    }
                    f.validationFreq = .epochs(Set(epochs))
                } else {
                    throw ConfigError(field: "validation_freq", detail: "must be an integer ≥ 1 or a non-empty list of epochs, got \(v.brief)")
                }
            }
            if let cw = r.value("class_weight") {
                guard let o = cw.objectValue else {
                    throw ConfigError(field: "class_weight", detail: "must be an object of class index → weight, e.g. {\"0\": 1.0, \"1\": 3.5}, got \(cw.brief)")
                }
                var weights: [Int: Double] = [:]
                for (key, v) in o {
                    // Keras looks weights up by int(label): a key that is not a canonical integer never matches.
                    guard let i = Int(key), String(i) == key, i >= 0 else {
                        throw ConfigError(field: "class_weight.\(key)", detail: "is not a class index (keys are class indices 0, 1, … as strings), got \"\(key)\"")
                    }
                    // Keras takes any float (zero and negative included); only non-numbers are refused.
                    guard let w = v.doubleValue, w.isFinite else {
                        throw ConfigError(field: "class_weight.\(key)", detail: "must be a number, got \(v.brief)")
                    }
                    weights[i] = w
                }
                f.classWeight = weights
            }
            try r.finish()
            return f
        } catch let e as ConfigError { throw e.prefixed(by: "fit") }
    }

    /// Builds and compiles the model.
    public func makeModel() throws -> Sequential {
        let model = try ModelConfig.makeModel(self.model, path: "model", seed: seed)
        model.name = name
        try model.compile(optimizer: makeOptimizer(optimizer, field: "compile.optimizer"),
                          loss: makeLoss(loss, field: "compile.loss"), metrics: metrics)
        return model
    }

    /// Whether each epoch validates, as far as the spec decides it: nil for a folder dataset that names no
    /// validation, where the folder's layout (train/ and validation/ inside it) decides.
    public var validatesBySpec: Bool? {
        if dataset.validation != nil || fit.validationSplit != nil { return true }
        return dataset.isDirectory ? nil : false
    }

    /// The keys every epoch's logs hold (what Keras 3 logs): `loss`, the compiled metrics under the names as
    /// written (`"acc"` logs `acc`), and their `val_` versions when the run validates.
    public func loggedKeys(validation: Bool) -> [String] {
        let train = ["loss"] + metrics.enumerated().map { i, m in Metric.loggedName(of: m) ?? "compile.metrics[\(i)]" }
        return validation ? train + train.map { "val_" + $0 } : train
    }

    /// Every callback's `monitor` (its default included) must be a key the run logs; a monitor Keras would
    /// never see (`val_acc` when the metric is "accuracy", `val_loss` without validation data) only warns in
    /// Keras and silently never fires. `validation` nil: not known yet, `val_` keys are allowed.
    public func checkMonitors(validation: Bool?) throws {
        let valid = loggedKeys(validation: validation ?? true)
        for (i, cb) in try makeCallbacks(checkpointDirectory: nil).enumerated() {
            let monitor: String
            switch cb {
            case let c as EarlyStopping: monitor = c.monitor
            case let c as ReduceLROnPlateau: monitor = c.monitor
            case let c as ModelCheckpoint: monitor = c.monitor
            case let c as ThresholdStop: monitor = c.monitor
            default: continue
            }
            guard !valid.contains(monitor) else { continue }
            let given = callbacks[i]["monitor"] == nil ? " (the default)" : ""
            var detail = "must be a key the run logs: \(valid.map { "\"\($0)\"" }.joined(separator: ", ")); got \"\(monitor)\"\(given)"
            if monitor.hasPrefix("val_"), validation == false {
                detail += ", but the job has no validation data (set dataset.validation or fit.validation_split)"
            }
            throw ConfigError(field: "callbacks[\(i)].monitor", detail: detail)
        }
    }

    /// The loss wants one-hot targets of this many classes (categorical_crossentropy), or nil for indices.
    public func oneHotClasses(outputWidth: Int) throws -> Int? {
        let l = try makeLoss(loss, field: "compile.loss")
        return l is CategoricalCrossentropy ? outputWidth : nil
    }

    /// The callbacks. `model_checkpoint` paths are names relative to `checkpointDirectory`, never absolute
    /// paths or `..` (a job must not write outside its own folder).
    public func makeCallbacks(checkpointDirectory: URL?) throws -> [Callback] {
        try callbacks.enumerated().map { i, value in
            let path = "callbacks[\(i)]"
            var r = try ConfigReader(value, path: path)
            do {
                let type = try r.requiredString("type")
                let cb: Callback
                switch type {
                case "threshold_stop":
                    cb = try ThresholdStop(monitor: r.string("monitor", default: "accuracy"),
                                           above: r.double("above"), below: r.double("below"))
                case "early_stopping":
                    cb = try EarlyStopping(monitor: r.string("monitor", default: "val_loss"),
                                           minDelta: r.double("min_delta", default: 0),
                                           patience: r.int("patience", default: 0),
                                           mode: MonitorMode(name: r.string("mode", default: "auto")),
                                           baseline: r.double("baseline"),
                                           restoreBestWeights: r.bool("restore_best_weights", default: false),
                                           startFromEpoch: r.int("start_from_epoch", default: 0))
                case "reduce_lr_on_plateau":
                    cb = try ReduceLROnPlateau(monitor: r.string("monitor", default: "val_loss"),
                                               factor: r.double("factor", default: 0.1),
                                               patience: r.int("patience", default: 10),
                                               mode: MonitorMode(name: r.string("mode", default: "auto")),
                                               minDelta: r.double("min_delta", default: 1e-4),
                                               cooldown: r.int("cooldown", default: 0),
                                               minLR: r.double("min_lr", default: 0))
                case "terminate_on_nan":
                    cb = TerminateOnNaN()
                case "learning_rate_scheduler":
                    cb = try LearningRateScheduler(schedule: r.requiredString("schedule"),
                                                   verbose: r.int("verbose", default: 0))
                case "model_checkpoint":
                    let file = try r.string("filepath", default: "checkpoint-{epoch:02d}")
                    guard !file.isEmpty, !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                        throw ConfigError(field: "filepath", detail: "must be a relative name without '..', got \"\(file)\"")
                    }
                    // Keras formats the path with the epoch's logs and raises KeyError on an epoch that did not
                    // validate; refusing here spares a job that would fail at its first such epoch.
                    if fit.validationFreq != .every(1), file.contains("{val_") {
                        throw ConfigError(field: "filepath", detail: "names a val_ value, which the epochs that fit.validation_freq skips do not have (Keras fails formatting it), got \"\(file)\"")
                    }
                    let dir = checkpointDirectory ?? URL(fileURLWithPath: NSTemporaryDirectory())
                    cb = try ModelCheckpoint(path: dir.appendingPathComponent(file).path,
                                             monitor: r.string("monitor", default: "val_loss"),
                                             mode: MonitorMode(name: r.string("mode", default: "auto")),
                                             saveBestOnly: r.bool("save_best_only", default: false))
                default:
                    throw ConfigError(field: "type", detail: "must be one of threshold_stop, early_stopping, reduce_lr_on_plateau, learning_rate_scheduler, terminate_on_nan, model_checkpoint, got \"\(type)\"")
                }
                try r.finish()
                return cb
            } catch let e as ConfigError { throw e.prefixed(by: path) }
        }
    }

    /// The spec with defaults filled in, as stored with the job.
    public var normalized: JSONValue {
        var fitObj: [String: JSONValue] = ["epochs": .number(Double(fit.epochs)), "batch_size": .number(Double(fit.batchSize)),
                                           "shuffle": .bool(fit.shuffle), "seed": .number(Double(fit.seed))]
        fitObj["validation_split"] = fit.validationSplit.map { .number($0) } ?? .null
        fitObj["steps_per_epoch"] = fit.stepsPerEpoch.map { .number(Double($0)) } ?? .null
        fitObj["validation_steps"] = fit.validationSteps.map { .number(Double($0)) } ?? .null
        switch fit.validationFreq {
        case .every(let n): fitObj["validation_freq"] = .number(Double(n))
        case .epochs(let e): fitObj["validation_freq"] = .ints(e.sorted())
        }
        fitObj["class_weight"] = fit.classWeight.map { cw in .object(Dictionary(uniqueKeysWithValues: cw.map { (String($0.key), .number($0.value)) })) } ?? .null
        var ds: [String: JSONValue] = ["name": .string(dataset.name), "validation": dataset.validation.map { .string($0) } ?? .null]
        if let t = dataset.trainLimit { ds["train_limit"] = .number(Double(t)) }
        if let t = dataset.testLimit { ds["test_limit"] = .number(Double(t)) }
        ds["rescale"] = .number(dataset.rescale)
        if let dir = dataset.directory {
            ds = ["directory": .string(dir), "target_size": .ints(dataset.targetSize ?? []),
                  "color_mode": .string(dataset.colorMode), "rescale": .number(dataset.rescale),
                  "interpolation": .string(dataset.interpolation)]
            if let v = dataset.validationDirectory { ds["validation_directory"] = .string(v) }
            if let v = dataset.validationSplit { ds["validation_split"] = .number(v) }
            if let m = dataset.classMode { ds["class_mode"] = .string(m) }
            if let c = dataset.classes { ds["classes"] = .array(c.map { .string($0) }) }
        }
        if let a = dataset.augmentation {
            ds["augmentation"] = .object([
                "rotation_range": .number(a.rotationRange), "width_shift_range": .number(a.widthShiftRange),
                "height_shift_range": .number(a.heightShiftRange), "shear_range": .number(a.shearRange),
                "zoom_range": .number(a.zoomRange), "horizontal_flip": .bool(a.horizontalFlip),
                "fill_mode": .string(a.fillMode.rawValue), "cval": .number(Double(a.cval))])
        }
        var spec: [String: JSONValue] = [
            "name": .string(name), "dataset": .object(ds), "model": model,
            "compile": .object(["optimizer": optimizer, "loss": loss, "metrics": .array(metrics)]),
            "fit": .object(fitObj), "callbacks": .array(callbacks),
        ]
        if let initialModel { spec["initial_model"] = .string(initialModel) }
        return .object(spec)
    }
}
