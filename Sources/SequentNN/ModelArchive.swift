import Foundation

/// A saved model: a directory with `config.json` (architecture, compile settings, metadata) and
/// `model.weights.safetensors` (tensors named `<layer>/<weight>`, e.g. `dense/kernel`, in Keras's layouts).
///
/// Loading the weights into the same architecture in Keras takes a few lines:
/// ```python
/// from safetensors.numpy import load_file
/// w = load_file("model.weights.safetensors")
/// for layer in model.layers:
///     if layer.weights: layer.set_weights([w[f"{layer.name}/{v.name}"] for v in layer.weights])
/// ```
/// Optimizer state (for resuming) is stored as `optimizer/<slot>` with the step count in the metadata.
public enum ModelArchive {
    public static let configFile = "config.json"
    public static let weightsFile = "model.weights.safetensors"

    /// Writes the model to `directory` (created if needed). Files are written to a temporary name, flushed
    /// and renamed, so a crash never leaves a half-written model behind.
    public static func save(_ model: Sequential, to directory: URL, metadata: [String: JSONValue] = [:],
                            includeOptimizer: Bool = false) throws {
        try createDirectory(directory)
        var tensors: [String: Tensor] = [:]
        for (i, layer) in model.layers.enumerated() {
            for (spec, t) in zip(layer.parameters, model.weights(ofLayer: i)) { tensors["\(layer.name)/\(spec.name)"] = t }
        }
        var meta = ["format": "sequent", "framework": "sequent"]
        if includeOptimizer, let opt = model.optimizer {
            opt.prepare(parameterCount: model.parameterCount)
            for (k, name) in opt.slotNames.enumerated() {
                let s = opt.slot(k)
                tensors["optimizer/\(name)"] = Tensor(shape: [s.count], scalars: Array(s))
            }
            meta["optimizer_iterations"] = String(opt.iterations)
            meta["optimizer_learning_rate"] = String(opt.learningRate)
        }
        var config: [String: JSONValue] = ["format": "sequent-model", "version": 1, "model": model.architecture,
                                           "parameter_count": .number(Double(model.parameterCount))]
        if let opt = model.optimizer, let loss = model.loss {
            var lossConfig: [String: JSONValue] = ["type": .string(loss.name), "from_logits": .bool(loss.fromLogits)]
            // Smoothing is part of the objective: a reloaded model that resumes training must keep it.
            // Float's shortest decimal form, so 0.1 is saved as 0.1 rather than 0.10000000149.
            if let ls = (loss as? CategoricalCrossentropy)?.labelSmoothing ?? (loss as? BinaryCrossentropy)?.labelSmoothing,
               ls != 0, let d = Double("\(ls)") {
                lossConfig["label_smoothing"] = .number(d)
            }
            config["compile"] = .object([
                "optimizer": .object(opt.config),
                "loss": .object(lossConfig),
                // A name when the name alone resolves to the same metric (older archives, readable configs),
                // else Keras's class_name/config form, which keeps k, threshold and a custom name.
                "metrics": .array(model.metrics.map { m in
                    (try? Metric.resolve(m.name, loss: loss, outputWidth: model.outputWidth, field: "")) == m ? .string(m.name) : m.config
                }),
            ])
        }
        if !metadata.isEmpty { config["metadata"] = .object(metadata) }
        try writeAtomically(Safetensors.encode(tensors, metadata: meta), to: directory.appendingPathComponent(weightsFile))
        try writeAtomically(Data(JSONValue.object(config).serialized(pretty: true).utf8),
                            to: directory.appendingPathComponent(configFile))
    }

    /// A loaded model and what was saved with it.
    public struct Loaded {
        public var model: Sequential
        public var metadata: [String: JSONValue]
        public var config: JSONValue
    }

    /// Reads a model saved by `save`; compiles it again when compile settings were saved.
    public static func load(from directory: URL, restoreOptimizer: Bool = false) throws -> Loaded {
        let configData = try Data(contentsOf: directory.appendingPathComponent(configFile))
        let config = try JSONValue.parse(configData)
        guard let arch = config["model"] else { throw TrainingError("\(configFile) has no \"model\"") }
        let model = try ModelConfig.makeModel(arch, path: "model")
        if let compile = config["compile"], let opt = compile["optimizer"], let loss = compile["loss"] {
            let metrics = compile["metrics"]?.arrayValue ?? []
            try model.compile(optimizer: makeOptimizer(opt), loss: makeLoss(loss), metrics: metrics)
        }
        let (tensors, meta) = try Safetensors.decode(Data(contentsOf: directory.appendingPathComponent(weightsFile)))
        for (i, layer) in model.layers.enumerated() where !layer.parameters.isEmpty {
            let ts = try layer.parameters.map { spec -> Tensor in
                guard let t = tensors["\(layer.name)/\(spec.name)"] else {
                    throw TrainingError("\(weightsFile) has no tensor \(layer.name)/\(spec.name)")
                }
                return t
            }
            try model.setWeights(ofLayer: i, ts)
        }
        if restoreOptimizer, let opt = model.optimizer {
            opt.prepare(parameterCount: model.parameterCount)
            for (k, name) in opt.slotNames.enumerated() {
                guard let t = tensors["optimizer/\(name)"], t.count == opt.slot(k).count else {
                    throw TrainingError("\(weightsFile) has no optimizer state \(name) of the right size")
                }
                _ = t.scalars.withUnsafeBufferPointer { opt.slot(k).update(fromContentsOf: $0) }
            }
            opt.iterations = Int(meta["optimizer_iterations"] ?? "") ?? 0
            if let lr = Float(meta["optimizer_learning_rate"] ?? "") { opt.learningRate = lr }
        }
        return Loaded(model: model, metadata: config["metadata"]?.objectValue ?? [:], config: config)
    }

    /// Write to `<name>.tmp`, fsync, rename over `url`, fsync the folder. On any failure (a full disk most
    /// likely) the temporary file is removed and `url` is untouched, so nothing ever names a half-written file.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let tmp = url.appendingPathExtension("tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(code: errno, path: tmp.path) }
        var failure: Int32 = 0
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        // tmpfs and NFS may report ENOSPC only at fsync or close.
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        // rename(2) replaces the target atomically: readers see the old file or the new one, never a mix.
        if failure == 0, rename(tmp.path, url.path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp.path)
            throw FileWriteError(code: failure, path: url.path)
        }
        // Make the rename itself durable (the folder's entry), not only the file's bytes.
        let dir = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// Creates `directory` and its parents (mkdir -p) with mkdir(2), so a failure carries its errno (Foundation's
    /// error on Linux does not) as a `FileWriteError`.
    static func createDirectory(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FileWriteError(code: ENOTDIR, path: directory.path) }
            return
        }
        let parent = directory.deletingLastPathComponent()
        if parent.path != directory.path { try createDirectory(parent) }
        if mkdir(directory.path, 0o755) != 0, errno != EEXIST { throw FileWriteError(code: errno, path: directory.path) }
    }
}

/// A file the engine could not write, with the `errno`. `description` is fit for a job's error shown to users:
/// it names neither the path (kept in `path` for the log) nor Foundation's error domains.
public struct FileWriteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let path: String

    public init(code: Int32, path: String) {
        self.code = code
        self.path = path
    }

    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }

    public var description: String {
        isDiskFull ? "no space left on the disk of the data directory"
            : "the file could not be written (\(String(cString: strerror(code))))"
    }
}
