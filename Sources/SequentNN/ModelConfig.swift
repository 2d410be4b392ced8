/// Reading and writing a model's architecture as JSON.
///
/// Two spellings are accepted: Sequent's own (`{"input_shape": [28, 28, 1], "layers": [{"type": "Dense",
/// "units": 10}]}`) and what Keras's `model.to_json()` writes for a Sequential model (`{"class_name":
/// "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28,
/// 1]}}, {"class_name": "Dense", "config": {…}}]}}`), so a model designed in Keras can be pasted as is.
public enum ModelConfig {
    /// Builds a model from either spelling. `path` prefixes field names in errors (e.g. "model").
    ///
    /// Both spellings take `"freeze": ["dense", …]` beside the layers (next to `class_name` for Keras's JSON):
    /// the named layers are frozen as with Keras's `trainable=False`.
    public static func makeModel(_ value: JSONValue, path: String = "model", seed: UInt64 = 1) throws -> Sequential {
        guard case .object(let top) = value else {
            throw ConfigError(field: path, detail: "must be a JSON object, got \(value.brief)")
        }
        if top["class_name"] != nil {
            return try makeKerasModel(value, path: path, seed: seed)
        }
        var r = try ConfigReader(value, path: path)
        do {
            let name = try r.string("name", default: "sequential")
            guard let layersValue = r.value("layers"), let items = layersValue.arrayValue else {
                throw ConfigError(field: "layers", detail: "must be a list of layers")
            }
            var inputShape = try r.intList("input_shape")
            let freeze = r.value("freeze")
            var layers: [(layer: Layer, trainable: Bool)] = []
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
                layers.append(try parseLayer(item, path: field, keras: false))
            }
            try r.finish()
            guard let inputShape else {
                throw ConfigError(field: "input_shape", detail: "is required (e.g. [28, 28, 1])")
            }
            let model = try Sequential(inputShape: inputShape, layers: layers.map(\.layer), name: name, seed: seed)
            for (i, l) in layers.enumerated() where !l.trainable { model.setTrainable(false, layer: i) }
            try applyFreeze(freeze, to: model)
            return model
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }

    /// Keras's `model.to_json()`: `{"module": "keras", "class_name": "Sequential", "config": {"name", "trainable",
    /// "dtype", "layers": […], "build_input_shape"}, "registered_name", "build_config", "compile_config"}`. Every
    /// key is read or checked, at every level, so nothing Keras would do differently passes unnoticed.
    static func makeKerasModel(_ value: JSONValue, path: String, seed: UInt64) throws -> Sequential {
        var top = try ConfigReader(value, path: path)
        do {
            let cls = try top.requiredString("class_name")
            guard cls == "Sequential" else {
                throw ConfigError(field: "class_name", detail: "must be \"Sequential\", got \"\(cls)\"")
            }
            try checkKerasModule(&top, expected: "keras", className: cls)
            // build_config repeats the input shape, which the InputLayer gives; compile_config is superseded by
            // the job's `compile` (DESIGN.md §4).
            top.accept("build_config", "compile_config")
            let freeze = top.value("freeze")
            var c = try ConfigReader(top.value("config") ?? .object([:]), path: "config")
            try refuseUnread(top)
            let name: String, modelTrainable: Bool, items: [JSONValue]
            do {
                name = try c.string("name", default: "sequential")
                modelTrainable = try c.bool("trainable", default: true)
                try checkDType(c.value("dtype"))
                c.accept("build_input_shape")   // the InputLayer's batch_shape again
                guard let list = c.value("layers")?.arrayValue else {
                    throw ConfigError(field: "layers", detail: "must be a list of layers")
                }
                items = list
                try refuseUnread(c)
            } catch let e as ConfigError { throw e.prefixed(by: "config") }
            var inputShape: [Int]?
            var layers: [(layer: Layer, trainable: Bool)] = []
            for (i, item) in items.enumerated() {
                let field = "config.layers[\(i)]"
                var ir = try ConfigReader(item, path: field)
                let cls: String
                var inner: [String: JSONValue]
                do {
                    cls = try ir.requiredString("class_name")
                    try checkKerasModule(&ir, expected: "keras.layers", className: cls)
                    ir.accept("build_config")   // the input shape, which Sequent derives
                    if cls == "Sequential" { ir.accept("compile_config") }   // a nested block's, never used
                    let config = ir.value("config") ?? .object([:])
                    guard case .object(let o) = config else {
                        throw ConfigError(field: "config", detail: "must be a JSON object, got \(config.brief)")
                    }
                    inner = o
                    try refuseUnread(ir)
                } catch let e as ConfigError { throw e.prefixed(by: field) }
                if cls == "InputLayer" {
                    guard i == 0 else {
                        throw ConfigError(field: field + ".class_name", detail: "an InputLayer may only come first")
                    }
                    inputShape = try parseInputLayer(.object(inner), path: field + ".config")
                    continue
                }
                if cls == "Sequential" {
                    // A block such as the tutorials' `data_augmentation = keras.Sequential([RandomFlip(…), …])`:
                    // its layers run in place. Only weightless ones, since its weights would sit under the block's
                    // own keys in a weights file.
                    var blockConfig = inner
                    let blockItems = inner["layers"]?.arrayValue ?? []
                    if blockItems.first?["class_name"]?.stringValue != "InputLayer" {
                        // An unbuilt block has no InputLayer: right after the model's input it takes that shape.
                        guard layers.isEmpty, let shape = inputShape else {
                            throw ConfigError(field: field, detail: "a nested Sequential after other layers needs its own InputLayer (build it, or put it first)")
                        }
                        let input: JSONValue = ["class_name": "InputLayer",
                                                "config": ["batch_shape": .array([.null] + shape.map { .number(Double($0)) })]]
                        blockConfig["layers"] = .array([input] + blockItems)
                    }
                    let block = try makeKerasModel(["class_name": "Sequential", "config": .object(blockConfig)], path: field, seed: seed)
                    if let weighted = block.layers.first(where: { !$0.parameters.isEmpty }) {
                        throw ConfigError(field: field, detail: "a nested Sequential may hold only weightless layers (augmentation, Rescaling); \"\(weighted.name)\" (\(weighted.typeName)) has weights")
                    }
                    if inputShape == nil, layers.isEmpty { inputShape = block.inputShape }
                    for (k, layer) in block.layers.enumerated() {
                        var config = layer.config
                        config["type"] = .string(layer.typeName)
                        config["name"] = .string(layer.name)
                        layers.append((try makeLayer(.object(config), path: field + ".layers[\(k)]"), block.layerTrainable[k]))
                    }
                    continue
                }
                // Keras 2 wrote the input shape into the first layer's config.
                if inputShape == nil, layers.isEmpty {
                    for key in ["batch_input_shape", "batch_shape"] {
                        if let shape = inner[key]?.arrayValue, shape.count >= 2,
                           shape.dropFirst().allSatisfy({ $0.intValue != nil }) {
                            inputShape = shape.dropFirst().map { $0.intValue! }
                            inner[key] = nil
                        }
                    }
                }
                inner["type"] = .string(cls)
                layers.append(try parseLayer(.object(inner), path: field + ".config", keras: true))
            }
            guard let inputShape else {
                throw ConfigError(field: "config.layers[0]", detail: "must be an InputLayer with a batch_shape (build the Keras model with keras.Input before calling to_json)")
            }
            let model: Sequential
            do {
                model = try Sequential(inputShape: inputShape, layers: layers.map(\.layer), name: name, seed: seed)
            } catch let e as ConfigError { throw e.prefixed(by: "config") }
            for (i, l) in layers.enumerated() where !(l.trainable && modelTrainable) { model.setTrainable(false, layer: i) }
            try applyFreeze(freeze, to: model)
            return model
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }

    /// An InputLayer's config: `batch_shape` (Keras 3) or `batch_input_shape` (Keras 2), float32, dense input.
    static func parseInputLayer(_ value: JSONValue, path: String) throws -> [Int] {
        var r = try ConfigReader(value, path: path)
        do {
            _ = try r.string("name")
            try checkDType(r.value("dtype"))
            guard let shape = (r.value("batch_shape") ?? r.value("batch_input_shape"))?.arrayValue,
                  shape.count >= 2, shape.dropFirst().allSatisfy({ $0.intValue != nil }) else {
                throw ConfigError(field: "batch_shape", detail: "must be [null, dims…] with known dimensions")
            }
            // Keras's defaults: a dense, non-ragged, required input. Anything else is another kind of model.
            for key in ["sparse", "ragged", "optional"] where try r.bool(key, default: false) {
                throw ConfigError(field: key, detail: "must be false (only dense float32 inputs are supported), got true")
            }
            try refuseUnread(r)
            return shape.dropFirst().map { $0.intValue! }
        } catch let e as ConfigError {
            throw e.prefixed(by: path)
        }
    }

    /// Reads Keras's `module` and `registered_name`: a built-in object has a `keras…` module (or none) and no
    /// registered name (or its own class name); anything else is a custom class Sequent cannot know.
    static func checkKerasModule(_ r: inout ConfigReader, expected: String, className: String) throws {
        if let module = try r.string("module"), !module.hasPrefix("keras") {
            throw ConfigError(field: "module", detail: "must be \"\(expected)\" (custom objects are not supported), got \"\(module)\"")
        }
        if let registered = try r.string("registered_name"), registered != className {
            throw ConfigError(field: "registered_name", detail: "must be null (custom objects are not supported), got \"\(registered)\"")
        }
    }

    /// Keras's `dtype`: the string or a `DTypePolicy` object. Sequent computes in float32 only, so any other
    /// policy (mixed_float16, bfloat16, …) would train a different model and is refused.
    static func checkDType(_ value: JSONValue?, field: String = "dtype") throws {
        guard let value else { return }
        let name: String?
        if let s = value.stringValue {
            name = s
        } else if let cls = value["class_name"]?.stringValue, ["DTypePolicy", "FloatDTypePolicy"].contains(cls) {
            name = value["config"]?["name"]?.stringValue
        } else {
            name = nil
        }
        guard name == "float32" else {
            throw ConfigError(field: field, detail: "must be \"float32\" (Sequent computes in float32), got \(value.brief)")
        }
    }

    /// Freezes the layers named in `freeze`; an unknown name is an error, listing the model's layer names.
    static func applyFreeze(_ value: JSONValue?, to model: Sequential) throws {
        guard let value else { return }
        guard let list = value.arrayValue else {
            throw ConfigError(field: "freeze", detail: "must be a list of layer names, got \(value.brief)")
        }
        for (i, item) in list.enumerated() {
            guard let name = item.stringValue else {
                throw ConfigError(field: "freeze[\(i)]", detail: "must be a layer name, got \(item.brief)")
            }
            guard let index = model.layers.firstIndex(where: { $0.name == name }) else {
                let names = model.layers.map(\.name).joined(separator: ", ")
                throw ConfigError(field: "freeze[\(i)]", detail: "names no layer of the model, got \"\(name)\" (layers: \(names))")
            }
            model.setTrainable(false, layer: index)
        }
    }

    /// Keras layer-config keys for features Sequent does not implement, each with the test that its value is
    /// Keras's default (the feature is off) and that default for the error message. A layer parser reads the
    /// keys it honours; `checkRemainingKeys` then holds every other key to this table, so a non-default value
    /// is refused rather than ignored, and a key in neither (e.g. one a future Keras adds) is refused too.
    static let kerasDefaults: [String: (expected: String, isDefault: @Sendable (JSONValue) -> Bool)] = [
        "kernel_constraint": ("null (constraints are not supported)", { $0.isNull }),
        "bias_constraint": ("null (constraints are not supported)", { $0.isNull }),
        // Dense and Conv2D read it; other layers' configs refuse a non-null one.
        "activity_regularizer": ("null (activity regularization is supported on Dense and Conv2D)", { $0.isNull }),
        "noise_shape": ("null (dropout noise shapes are not supported)", { $0.isNull }),
        "quantization_config": ("null (quantized layers are not supported)", { $0.isNull }),
        "lora_rank": ("null (LoRA is not supported)", { $0.isNull }),
        // Keras writes lora_alpha only beside lora_rank, and it does nothing without it.
        "lora_alpha": ("a number", { $0.isNull || $0.doubleValue != nil }),
        "groups": ("1 (grouped convolutions are not supported)", { $0.intValue == 1 }),
        "dilation_rate": ("1 or [1, 1] (dilated convolutions are not supported)", {
            $0.intValue == 1 || ($0.arrayValue.map { !$0.isEmpty && $0.allSatisfy { $0.intValue == 1 } } ?? false)
        }),
        "data_format": ("\"channels_last\" (Sequent computes in NHWC)", { $0.isNull || $0.stringValue == "channels_last" }),
        "batch_input_shape": ("null (only the first layer may carry the input shape)", { $0.isNull }),
        "batch_shape": ("null (only the first layer may carry the input shape)", { $0.isNull }),
        // The augmentation layers' boxes option: Sequent models take images only.
        "bounding_box_format": ("null (bounding boxes are not supported)", { $0.isNull }),
    ]

    /// Refuses every key no parser read whose value is not its Keras default (`kerasDefaults`), and unknown keys.
    static func checkRemainingKeys(_ r: ConfigReader) throws {
        for key in r.unreadKeys {
            let value = r.object[key]!
            guard let entry = kerasDefaults[key] else {
                throw ConfigError(field: key, detail: "is not a known field, got \(value.brief)")
            }
            guard entry.isDefault(value) else {
                throw ConfigError(field: key, detail: "must be \(entry.expected), got \(value.brief)")
            }
        }
    }

    /// Like `ConfigReader.finish`, and the message shows the value too: a key Sequent does not know may be
    /// one a newer Keras added, and the value tells the user what they would lose.
    static func refuseUnread(_ r: ConfigReader) throws {
        if let key = r.unreadKeys.first {
            throw ConfigError(field: key, detail: "is not a known field, got \(r.object[key]!.brief)")
        }
    }

    /// Keras serialises activations either as strings or as `{"class_name": …}` objects.
    static func kerasName(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if let s = value.stringValue { return s }
        if let cls = value["class_name"]?.stringValue {
            return Sequential.snakeCase(cls)
        }
        return nil
    }

    /// The layer types `makeLayer` builds (Keras class names; aliases such as MaxPool2D are read too).
    public static let layerTypes = ["Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                                    "GlobalMaxPooling2D", "Flatten", "Dropout", "Rescaling", "Activation", "ReLU",
                                    "LeakyReLU", "ELU", "Softmax", "BatchNormalization", "RandomFlip", "RandomRotation",
                                    "RandomZoom", "RandomTranslation", "RandomContrast"]

    /// Resolves a Keras initializer and its seed: null (`def`), a name (`"glorot_uniform"`, `"GlorotUniform"`) or
    /// the Keras 3 serialized object `{"module": "keras.initializers", "class_name": "GlorotUniform", "config":
    /// {"seed": 3}, "registered_name": null}`. This is the one place Keras initializer names are mapped: a class
    /// name becomes its snake_case (HeNormal → he_normal) and must be a case of `Initializer`; an initializer
    /// with arguments beyond `seed` (RandomNormal's `stddev`, …) reads them here.
    public static func initializer(_ value: JSONValue?, field: String, default def: Initializer) throws -> (initializer: Initializer, seed: UInt64?) {
        guard let value, !value.isNull else { return (def, nil) }
        if let s = value.stringValue {
            return (try Initializer(name: Sequential.snakeCase(s), field: field), nil)
        }
        var r = try ConfigReader(value, path: field)
        let cls: String
        let config: JSONValue
        let seed: UInt64?
        do {
            cls = try r.requiredString("class_name")
            try checkKerasModule(&r, expected: "keras.initializers", className: cls)
            config = r.value("config") ?? .object([:])
            try refuseUnread(r)
            var c = try ConfigReader(config, path: "config", ignorable: ["mean", "stddev", "minval", "maxval", "value"])
            do { seed = try c.int("seed").map { UInt64(bitPattern: Int64($0)) } } catch let e as ConfigError {
                throw e.prefixed(by: "config")
            }
        } catch let e as ConfigError {
            throw e.prefixed(by: field)
        }
        // The arguments (RandomNormal's mean and stddev, …) and unknown keys are the initializer's own to read.
        let initializer = try Initializer(json: .object(["class_name": .string(cls), "config": config]), field: field)
        return (initializer, seed)
    }

    /// An initializer as `initializer(_:field:default:)` reads it: the name, or the Keras object when seeded.
    static func initializerJSON(_ initializer: Initializer, seed: UInt64?) -> JSONValue {
        guard let seed else { return initializer.configValue }
        let cls = initializer.rawValue.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        var config = initializer.configValue["config"]?.objectValue ?? [:]
        config["seed"] = .number(Double(Int64(bitPattern: seed)))
        return .object(["module": "keras.initializers", "class_name": .string(cls),
                        "config": .object(config), "registered_name": .null])
    }

    /// The weight-related config keys of Dense and Conv2D; keys at their defaults are left out.
    static func weightConfig(_ kernel: Initializer, _ kernelSeed: UInt64?, _ bias: Initializer, _ biasSeed: UInt64?,
                             _ kernelRegularizer: Regularizer?, _ biasRegularizer: Regularizer?,
                             _ activityRegularizer: Regularizer? = nil) -> [String: JSONValue] {
        var c: [String: JSONValue] = ["kernel_initializer": initializerJSON(kernel, seed: kernelSeed)]
        if bias != .zeros || biasSeed != nil { c["bias_initializer"] = initializerJSON(bias, seed: biasSeed) }
        if let kernelRegularizer { c["kernel_regularizer"] = kernelRegularizer.json }
        if let biasRegularizer { c["bias_regularizer"] = biasRegularizer.json }
        if let activityRegularizer { c["activity_regularizer"] = activityRegularizer.json }
        return c
    }

    /// Builds one layer from `{"type": …, …}`; errors are prefixed with `path`.
    public static func makeLayer(_ value: JSONValue, path: String, kerasKeys: Bool = false) throws -> Layer {
        try parseLayer(value, path: path, keras: kerasKeys).layer
    }

    /// Builds one layer and reads its `trainable` flag. Every key is read here or held to `kerasDefaults`.
    static func parseLayer(_ value: JSONValue, path: String, keras: Bool) throws -> (layer: Layer, trainable: Bool) {
        var r = try ConfigReader(value, path: path, ignorable: keras ? [] : ["input_shape"])
        do {
            let type = try r.requiredString("type")
            let name = try r.string("name", default: "")
            let trainable = try r.bool("trainable", default: true)
            try checkDType(r.value("dtype"))
            func activation() throws -> Activation {
                let v = r.value("activation")
                if v != nil, kerasName(v) == nil {
                    throw ConfigError(field: "activation", detail: "must be a string, got \(v!.brief)")
                }
                return try Activation(name: kerasName(v))
            }
            func weights() throws -> (kernel: (initializer: Initializer, seed: UInt64?), bias: (initializer: Initializer, seed: UInt64?),
                                      kernelRegularizer: Regularizer?, biasRegularizer: Regularizer?,
                                      activityRegularizer: Regularizer?) {
                (try initializer(r.value("kernel_initializer"), field: "kernel_initializer", default: .glorotUniform),
                 try initializer(r.value("bias_initializer"), field: "bias_initializer", default: .zeros),
                 try Regularizer.parse(r.value("kernel_regularizer"), field: "kernel_regularizer"),
                 try Regularizer.parse(r.value("bias_regularizer"), field: "bias_regularizer"),
                 try Regularizer.parse(r.value("activity_regularizer"), field: "activity_regularizer"))
            }
            let layer: Layer
            switch type {
            case "Dense":
                let units = try r.requiredInt("units"), act = try activation(), useBias = try r.bool("use_bias", default: true)
                let w = try weights()
                layer = try Dense(units: units, activation: act, useBias: useBias,
                                  kernelInitializer: w.kernel.initializer, kernelSeed: w.kernel.seed,
                                  biasInitializer: w.bias.initializer, biasSeed: w.bias.seed,
                                  kernelRegularizer: w.kernelRegularizer, biasRegularizer: w.biasRegularizer,
                                  activityRegularizer: w.activityRegularizer, name: name)
            case "Conv2D", "Convolution2D":
                guard let kernel = try r.ints("kernel_size", count: 2) else {
                    throw ConfigError(field: "kernel_size", detail: "is required")
                }
                let filters = try r.requiredInt("filters"), strides = try r.ints("strides", count: 2) ?? [1, 1]
                let padding = try Padding(name: r.string("padding", default: "valid"))
                let act = try activation(), useBias = try r.bool("use_bias", default: true)
                let w = try weights()
                layer = try Conv2D(filters: filters, kernelSize: kernel, strides: strides, padding: padding,
                                   activation: act, useBias: useBias,
                                   kernelInitializer: w.kernel.initializer, kernelSeed: w.kernel.seed,
                                   biasInitializer: w.bias.initializer, biasSeed: w.bias.seed,
                                   kernelRegularizer: w.kernelRegularizer, biasRegularizer: w.biasRegularizer,
                                   activityRegularizer: w.activityRegularizer, name: name)
            case "MaxPooling2D", "MaxPool2D":
                layer = try MaxPooling2D(poolSize: r.ints("pool_size", count: 2) ?? [2, 2],
                                         strides: r.ints("strides", count: 2),
                                         padding: Padding(name: r.string("padding", default: "valid")), name: name)
            case "Flatten":
                layer = Flatten(name: name)
            case "Dropout":
                guard let rate = try r.double("rate") else { throw ConfigError(field: "rate", detail: "is required") }
                layer = try Dropout(rate: Float(rate), seed: r.int("seed"), name: name)
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
            case "BatchNormalization", "BatchNorm": layer = try BatchNormalization.make(&r, name: name)
            case "RandomFlip": layer = try RandomFlip.make(&r, name: name)
            case "RandomRotation": layer = try RandomRotation.make(&r, name: name)
            case "RandomZoom": layer = try RandomZoom.make(&r, name: name)
            case "RandomTranslation": layer = try RandomTranslation.make(&r, name: name)
            case "RandomContrast": layer = try RandomContrast.make(&r, name: name)
            default:
                throw ConfigError(field: "type", detail: "must be one of \(layerTypes.joined(separator: ", ")), got \"\(type)\"")
            }
            try checkRemainingKeys(r)
            return (layer, trainable)
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
            "layers": .array(layers.enumerated().map { i, layer in
                var c = layer.config
                c["type"] = .string(layer.typeName)
                c["name"] = .string(layer.name)
                if !layerTrainable[i] { c["trainable"] = .bool(false) }
                return .object(c)
            }),
        ])
    }
}

extension Sequential {
    /// Whether the model takes raw 0–255 pixels: its first layer that does something at inference is `Rescaling`
    /// (the Random* augmentation layers before it, as in the tutorials, pass images through unchanged there).
    public var takesRawPixels: Bool {
        let first = layers.first { !($0 is RandomAffineLayer || $0 is RandomFlip || $0 is RandomContrast) }
        return first is Rescaling
    }
}
