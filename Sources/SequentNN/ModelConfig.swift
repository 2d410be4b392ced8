/// Reading and writing a model's architecture as JSON.
///
/// Two spellings are accepted: Sequent's own (`{"input_shape": [28, 28, 1], "layers": [{"type": "Dense",
/// "units": 10}]}`) and what Keras's `model.to_json()` writes for a Sequential model (`{"class_name":
/// "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28,
/// 1]}}, {"class_name": "Dense", "config": {…}}]}}`), so a model designed in Keras can be pasted as is.
public enum ModelConfig {
    /// Keras config keys that carry nothing Sequent needs (or only defaults it checks separately).
    static let kerasIgnorable: Set<String> = [
        "trainable", "dtype", "module", "registered_name", "build_config", "seed", "noise_shape",
        "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint",
        "bias_initializer", "data_format", "dilation_rate", "groups", "lora_rank", "lora_alpha", "quantization_config",
        "batch_input_shape", "input_shape",
    ]

    /// Builds a model from either spelling. `path` prefixes field names in errors (e.g. "model").
    public static func makeModel(_ value: JSONValue, path: String = "model", seed: UInt64 = 1) throws -> Sequential {
        guard case .object(let top) = value else {
            throw ConfigError(field: path, detail: "must be a JSON object, got \(value.brief)")
        }
        if let cls = top["class_name"]?.stringValue {
            guard cls == "Sequential" else {
                throw ConfigError(field: path + ".class_name", detail: "must be \"Sequential\", got \"\(cls)\"")
            }
            return try makeKerasModel(top["config"] ?? .null, path: path + ".config", seed: seed)
        }
        var r = try ConfigReader(value, path: path)
        do {
            let name = try r.string("name", default: "sequential")
            guard let layersValue = r.value("layers"), let items = layersValue.arrayValue else {
                throw ConfigError(field: "layers", detail: "must be a list of layers")
            }
            var inputShape = try r.intList("input_shape")
            var layers: [Layer] = []
            for (i, item) in items.enumerated() {
                let field = "layers[\(i)]"
                // Keras 2 style: the first layer may carry input_shape, or be an explicit Input layer.
                if let type = item["type"]?.stringValue, ["Input", "InputLayer"].contains(type) {
                    guard i == 0, inputShape == nil else {
                        throw ConfigError(field: field + ".type", detail: "an Input layer may only come first, once")
                    }
                    var ir = try ConfigReader(item, path: field)
                    ir.accept("type", "name")
                    inputShape = try (ir.intList("shape") ?? ir.intList("input_shape")).map { $0 }
                    guard inputShape != nil else { throw ConfigError(field: field + ".shape", detail: "is required") }
                    try ir.finish()
                    continue
                }
                if i == 0, inputShape == nil, let s = item["input_shape"] {
                    guard let a = s.arrayValue, a.allSatisfy({ $0.intValue != nil }) else {
                        throw ConfigError(field: field + ".input_shape", detail: "must be a list of integers, got \(s.brief)")
                    }
                    inputShape = a.map { $0.intValue! }
                }
                layers.append(try makeLayer(item, path: field, kerasKeys: false))
            }
            try r.finish()
            guard let inputShape else {
                throw ConfigError(field: "input_shape", detail: "is required (e.g. [28, 28, 1])")
            }
            return try Sequential(inputShape: inputShape, layers: layers, name: name, seed: seed)
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }

    static func makeKerasModel(_ config: JSONValue, path: String, seed: UInt64) throws -> Sequential {
        guard let items = config["layers"]?.arrayValue else {
            throw ConfigError(field: path + ".layers", detail: "must be a list of layers")
        }
        let name = config["name"]?.stringValue ?? "sequential"
        var inputShape: [Int]?
        var layers: [Layer] = []
        for (i, item) in items.enumerated() {
            let field = "\(path).layers[\(i)]"
            guard let cls = item["class_name"]?.stringValue else {
                throw ConfigError(field: field + ".class_name", detail: "is required")
            }
            let inner = item["config"] ?? .object([:])
            if cls == "InputLayer" {
                let shape = (inner["batch_shape"] ?? inner["batch_input_shape"])?.arrayValue
                guard let shape, shape.count >= 2, shape.dropFirst().allSatisfy({ $0.intValue != nil }) else {
                    throw ConfigError(field: field + ".config.batch_shape", detail: "must be [null, dims…] with known dimensions")
                }
                inputShape = shape.dropFirst().map { $0.intValue! }
                continue
            }
            if inputShape == nil, let shape = (inner["batch_input_shape"] ?? inner["batch_shape"])?.arrayValue,
               shape.count >= 2, shape.dropFirst().allSatisfy({ $0.intValue != nil }) {
                inputShape = shape.dropFirst().map { $0.intValue! }
            }
            guard case .object(var obj) = inner else {
                throw ConfigError(field: field + ".config", detail: "must be a JSON object")
            }
            obj["type"] = .string(cls)
            layers.append(try makeLayer(.object(obj), path: field + ".config", kerasKeys: true))
        }
        guard let inputShape else {
            throw ConfigError(field: path + ".layers[0]", detail: "must be an InputLayer with a batch_shape (build the Keras model with keras.Input before calling to_json)")
        }
        do {
            return try Sequential(inputShape: inputShape, layers: layers, name: name, seed: seed)
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }

    /// Keras serialises activations and initialisers either as strings or as `{"class_name": …}` objects.
    static func kerasName(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if let s = value.stringValue { return s }
        if let cls = value["class_name"]?.stringValue {
            // GlorotUniform → glorot_uniform
            return Sequential.snakeCase(cls)
        }
        return nil
    }

    /// The layer types `makeLayer` builds (Keras class names; aliases such as MaxPool2D are read too).
    public static let layerTypes = ["Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                                    "GlobalMaxPooling2D", "Flatten", "Dropout", "Rescaling", "Activation", "ReLU",
                                    "LeakyReLU", "ELU", "Softmax"]

    /// Builds one layer from `{"type": …, …}`; errors are prefixed with `path`.
    public static func makeLayer(_ value: JSONValue, path: String, kerasKeys: Bool = false) throws -> Layer {
        var r = try ConfigReader(value, path: path, ignorable: kerasKeys ? kerasIgnorable : ["input_shape"])
        do {
            let type = try r.requiredString("type")
            let name = try r.string("name", default: "")
            func activation() throws -> Activation {
                let v = r.value("activation")
                if v != nil, kerasName(v) == nil {
                    throw ConfigError(field: "activation", detail: "must be a string, got \(v!.brief)")
                }
                return try Activation(name: kerasName(v))
            }
            func initializer() throws -> Initializer {
                guard let v = r.value("kernel_initializer") else { return .glorotUniform }
                return try Initializer(json: v, field: "kernel_initializer")
            }
            if kerasKeys {
                if let df = r.object["data_format"]?.stringValue, df != "channels_last" {
                    throw ConfigError(field: "data_format", detail: "must be \"channels_last\", got \"\(df)\"")
                }
                if let d = r.object["dilation_rate"], d.intValue.map({ $0 != 1 }) ?? (d.arrayValue?.contains { $0.intValue != 1 } ?? false) {
                    throw ConfigError(field: "dilation_rate", detail: "must be 1 (dilated convolutions are not supported), got \(d.brief)")
                }
            }
            let layer: Layer
            switch type {
            case "Dense":
                layer = try Dense(units: r.requiredInt("units"), activation: activation(),
                                  useBias: r.bool("use_bias", default: true), kernelInitializer: initializer(), name: name)
            case "Conv2D", "Convolution2D":
                guard let kernel = try r.ints("kernel_size", count: 2) else {
                    throw ConfigError(field: "kernel_size", detail: "is required")
                }
                layer = try Conv2D(filters: r.requiredInt("filters"), kernelSize: kernel,
                                   strides: r.ints("strides", count: 2) ?? [1, 1],
                                   padding: Padding(name: r.string("padding", default: "valid")),
                                   activation: activation(), useBias: r.bool("use_bias", default: true),
                                   kernelInitializer: initializer(), name: name)
            case "MaxPooling2D", "MaxPool2D":
                layer = try MaxPooling2D(poolSize: r.ints("pool_size", count: 2) ?? [2, 2],
                                         strides: r.ints("strides", count: 2),
                                         padding: Padding(name: r.string("padding", default: "valid")), name: name)
            case "Flatten":
                layer = Flatten(name: name)
            case "Dropout":
                guard let rate = try r.double("rate") else { throw ConfigError(field: "rate", detail: "is required") }
                layer = try Dropout(rate: Float(rate), name: name)
            case "Rescaling":
                guard let scale = try r.double("scale") else { throw ConfigError(field: "scale", detail: "is required") }
                layer = Rescaling(scale: Float(scale), offset: Float(try r.double("offset", default: 0)), name: name)
            case "AveragePooling2D", "AvgPool2D": layer = try AveragePooling2D.make(&r, name: name)
            case "GlobalAveragePooling2D", "GlobalAvgPool2D": layer = try GlobalAveragePooling2D.make(&r, name: name)
            case "GlobalMaxPooling2D", "GlobalMaxPool2D": layer = try GlobalMaxPooling2D.make(&r, name: name)
            case "Activation": layer = try ActivationLayer.make(&r, name: name)
            case "ReLU": layer = try ReLU.make(&r, name: name)
            case "LeakyReLU": layer = try LeakyReLU.make(&r, name: name)
            case "ELU": layer = try ELU.make(&r, name: name)
            case "Softmax": layer = try Softmax.make(&r, name: name)
            default:
                throw ConfigError(field: "type", detail: "must be one of \(layerTypes.joined(separator: ", ")), got \"\(type)\"")
            }
            try r.finish()
            return layer
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }
}

extension Sequential {
    /// The architecture in Sequent's spelling, with layer names; `ModelConfig.makeModel` reads it back.
    public var architecture: JSONValue {
        .object([
            "name": .string(name),
            "input_shape": .ints(inputShape),
            "layers": .array(layers.map { layer in
                var c = layer.config
                c["type"] = .string(layer.typeName)
                c["name"] = .string(layer.name)
                return .object(c)
            }),
        ])
    }
}
