import Foundation
import SequentNN

/// Keras 3's model files: a `.keras` archive (`config.json`, `model.weights.h5`, `metadata.json`) or a Sequential's
/// `to_json()` with its `.weights.h5`. The weights file holds each layer's variables at `layers/<key>/vars/<k>`, in
/// the order of `layer.weights` — the order and layouts Sequent's layers keep too (Conv2D HWIO, Dense
/// [inputs, units], BatchNormalization gamma, beta, moving mean, moving variance). The key is not the layer's name:
/// Keras's saver names a list's items by class, snake_case, numbered in order (`conv2d`, `conv2d_1`, `dense`), so
/// a Dense named "head" is stored as `layers/dense`.
public enum KerasModelFile {
    /// The weights-file keys of the model's layers, as Keras's `_save_container_state` numbers them.
    static func storageKeys(_ model: Sequential) -> [String] {
        var used: [String: Int] = [:]
        return model.layers.map { layer in
            let base = snakeCase(layer.typeName)
            if let n = used[base] {
                used[base] = n + 1
                return "\(base)_\(n + 1)"
            }
            used[base] = 0
            return base
        }
    }

    /// Keras's `naming.to_snake_case`: `MaxPooling2D` → `max_pooling2d`, `LeakyReLU` → `leaky_re_lu`.
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
        // 1. Before an uppercase letter that starts a lowercase run, when something precedes it.
        var first: [Character] = []
        for (i, c) in chars.enumerated() {
            if i > 0, c.isUppercase, i + 1 < chars.count, chars[i + 1].isLowercase { first.append("_") }
            first.append(c)
        }
        // 2. Between a lowercase letter and an uppercase one.
        var out = ""
        for (i, c) in first.enumerated() {
            if i > 0, c.isUppercase, first[i - 1].isLowercase { out.append("_") }
            out.append(c)
        }
        return out.lowercased()
    }

    /// The model `config` (a Sequential's serialized config: `config.json`, or `to_json()`) describes, with the
    /// weights of `weightsFile`. Anything the engine cannot run is refused by the config reader with the layer's
    /// name; every layer's weights must be in the file with the layer's shapes, and no weight is left unread.
    public static func load(config: JSONValue, weightsFile: URL) throws -> Sequential {
        let model = try makeModel(config)
        let file = try HDF5File.open(weightsFile)
        if !file.exists("layers") {
            let legacy = file.exists("model_weights") || (try? file.children("/"))?.contains { model.layers.map(\.name).contains($0) } == true
            throw InterchangeError(legacy
                ? "the weights are in the Keras 2 (legacy) HDF5 layout; save them with Keras 3: model.save(\"model.keras\") or model.save_weights(\"model.weights.h5\")"
                : "the weights file has no layers group: it is not a Keras 3 .weights.h5")
        }
        let keys = storageKeys(model)
        for (i, layer) in model.layers.enumerated() where !layer.parameters.isEmpty {
            let group = "layers/\(keys[i])/vars"
            guard file.exists(group) else {
                throw InterchangeError("the weights file has no weights for layer \"\(layer.name)\" (\(layer.typeName)): expected \(group)")
            }
            let stored = try file.children(group)
            guard stored.count == layer.parameters.count else {
                throw InterchangeError("layer \"\(layer.name)\" (\(layer.typeName)) has \(layer.parameters.count) weights, the file has \(stored.count) under \(group)")
            }
            let tensors = try layer.parameters.enumerated().map { k, spec in
                Tensor(shape: spec.shape, scalars: try file.readFloats("\(group)/\(k)", expected: spec.shape))
            }
            try model.setWeights(ofLayer: i, tensors)
        }
        return model
    }

    /// A Sequential from Keras's serialized form. Only Sequential models: a Functional model (several inputs,
    /// branches) is refused by name.
    static func makeModel(_ config: JSONValue) throws -> Sequential {
        guard let cls = config["class_name"]?.stringValue else {
            throw InterchangeError("the model config has no class_name: it is not what Keras's model.to_json() or config.json holds")
        }
        guard cls == "Sequential" else {
            throw InterchangeError("the model is a Keras \(cls) model; Sequent runs Sequential models only")
        }
        do {
            return try ModelConfig.makeModel(config, path: "config")
        } catch let e as ConfigError {
            throw InterchangeError("the model cannot be run: \(e)")
        }
    }

    /// Whether the model's outputs are logits: its `compile_config` loss is `from_logits` and its last layer has no
    /// softmax or sigmoid (what predict needs to turn outputs into probabilities). False without a compile config.
    public static func outputsLogits(config: JSONValue, model: Sequential) -> Bool {
        let loss = config["compile_config"]?["loss"]
        let fromLogits = loss?["config"]?["from_logits"]?.boolValue ?? false
        let last = model.layers.last?.activation ?? .linear
        return fromLogits && last != .softmax && last != .sigmoid
    }

    // MARK: - Export

    /// The model as Keras 3 serializes a Sequential (`config.json`): an InputLayer, then each layer's config with
    /// its name, trainable flag and build shape. Compile settings are left out: Keras then loads the model
    /// uncompiled, which predicts the same, rather than with an optimizer whose state the file does not hold.
    public static func config(_ model: Sequential) -> JSONValue {
        var layers: [JSONValue] = [[
            "module": "keras.layers", "class_name": "InputLayer", "registered_name": .null,
            "config": ["batch_shape": .array([.null] + model.inputShape.map { .number(Double($0)) }), "dtype": "float32",
                       "sparse": false, "name": "input_layer"],
        ]]
        var shape = model.inputShape
        for (i, layer) in model.layers.enumerated() {
            var c = layer.config
            c["name"] = .string(layer.name)
            c["trainable"] = .bool(model.layerTrainable[i])
            c["dtype"] = "float32"
            layers.append(["module": "keras.layers", "class_name": .string(layer.typeName), "registered_name": .null,
                           "config": .object(c), "build_config": ["input_shape": batchShape(shape)]])
            shape = layer.outputShape
        }
        return ["module": "keras", "class_name": "Sequential", "registered_name": .null,
                "config": ["name": .string(model.name), "trainable": true, "dtype": "float32", "layers": .array(layers)],
                "build_config": ["input_shape": batchShape(model.inputShape)]]
    }

    private static func batchShape(_ shape: [Int]) -> JSONValue { .array([.null] + shape.map { .number(Double($0)) }) }

    /// Writes the weights as Keras 3's `.weights.h5`: `layers/<key>/vars/<k>` for every layer (weightless layers
    /// get an empty `vars` group, as Keras writes), each `vars` group named by an attribute, and the model's own
    /// empty `vars`.
    public static func writeWeights(_ model: Sequential, to url: URL) throws {
        let file = try HDF5File.create(url)
        let keys = storageKeys(model)
        for (i, layer) in model.layers.enumerated() {
            let group = "layers/\(keys[i])/vars"
            try file.createGroup(group)
            try file.setStringAttribute(group, name: "name", value: layer.name)
            for (k, t) in model.weights(ofLayer: i).enumerated() {
                try file.writeFloats("\(group)/\(k)", shape: t.shape, values: t.scalars)
            }
        }
        try file.createGroup("vars")
        try file.setStringAttribute("vars", name: "name", value: model.name)
    }

    /// `metadata.json` of a `.keras` archive.
    static func metadata(date: Date = Date()) -> JSONValue {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        return ["keras_version": "3.15.1", "date_saved": .string(f.string(from: date))]
    }

    /// The three files of a `.keras` archive in `directory`: `config.json`, `metadata.json`, `model.weights.h5`.
    public static func writeArchiveFiles(_ model: Sequential, to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(metadata().serialized().utf8).write(to: directory.appendingPathComponent("metadata.json"))
        try Data(config(model).serialized().utf8).write(to: directory.appendingPathComponent("config.json"))
        try writeWeights(model, to: directory.appendingPathComponent("model.weights.h5"))
        return ["metadata.json", "config.json", "model.weights.h5"]
    }
}
