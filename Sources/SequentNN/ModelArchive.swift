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
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
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
            config["compile"] = .object([
                "optimizer": .object(opt.config),
                "loss": .object(["type": .string(loss.name), "from_logits": .bool(loss.fromLogits)]),
                "metrics": .array(model.metrics.map { .string($0.name) }),
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
            let metrics = compile["metrics"]?.arrayValue?.compactMap(\.stringValue) ?? []
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

    /// Write to `<name>.tmp`, fsync, rename over `url`.
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        let tmp = url.appendingPathExtension("tmp")
        try data.write(to: tmp)
        let fd = open(tmp.path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        // rename(2) replaces the target atomically: readers see the old file or the new one, never a mix.
        guard rename(tmp.path, url.path) == 0 else {
            throw TrainingError("could not rename \(tmp.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
