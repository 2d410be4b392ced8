import Foundation
import Testing
@testable import SequentNN

@Suite struct ModelTests {
    static let cnn: JSONValue = [
        "input_shape": [28, 28, 1],
        "layers": [
            ["type": "Conv2D", "filters": 64, "kernel_size": [3, 3], "activation": "relu"],
            ["type": "MaxPooling2D", "pool_size": [2, 2]],
            ["type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu"],
            ["type": "MaxPooling2D", "pool_size": 2],
            ["type": "Flatten"],
            ["type": "Dense", "units": 128, "activation": "relu"],
            ["type": "Dense", "units": 10, "activation": "softmax"],
        ],
    ]

    @Test func summaryMatchesKeras() throws {
        let model = try ModelConfig.makeModel(Self.cnn)
        #expect(model.parameterCount == 243_786)
        #expect(model.layers.map(\.outputShape) == [[26, 26, 64], [13, 13, 64], [11, 11, 64], [5, 5, 64], [1600], [128], [10]])
        #expect(model.layers.map(\.parameterCount) == [640, 0, 36_928, 0, 0, 204_928, 1_290])
        let text = model.summary()
        #expect(text.contains("│ conv2d (Conv2D)                 │ (None, 26, 26, 64)     │           640 │"))
        #expect(text.contains("│ max_pooling2d_1 (MaxPooling2D)  │ (None, 5, 5, 64)       │             0 │"))
        #expect(text.contains("│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │"))
        #expect(text.contains(" Total params: 243,786 (952.29 KB)"))
        #expect(text.hasPrefix("Model: \"sequential\"\n┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳"))
    }

    @Test func badConfigsNameTheFieldAndValue() throws {
        func error(_ layers: [JSONValue], input: [Int] = [28, 28, 1]) -> String? {
            do {
                _ = try ModelConfig.makeModel(["input_shape": .ints(input), "layers": .array(layers)])
                return nil
            } catch let e as ConfigError { return e.message } catch { return "\(error)" }
        }
        #expect(error([["type": "Flatten"], ["type": "Dense", "units": 0]]) == "model.layers[1].units must be > 0, got 0")
        #expect(error([["type": "Denze", "units": 3]])
            == "model.layers[0].type must be one of \(ModelConfig.layerTypes.joined(separator: ", ")), got \"Denze\"")
        #expect(error([["type": "Conv2D", "filters": 4, "kernel_size": [5, 5]]], input: [3, 3, 1])
            == "model.layers[0].kernel_size (5, 5) is larger than the input (3, 3) with padding \"valid\"")
        #expect(error([["type": "Conv2D", "filters": 4, "kernel_size": 3], ["type": "MaxPooling2D", "pool_size": 2],
                       ["type": "MaxPooling2D", "pool_size": 2], ["type": "MaxPooling2D", "pool_size": 2],
                       ["type": "MaxPooling2D", "pool_size": 2]], input: [10, 10, 1])
            == "model.layers[4].pool_size (2, 2) is larger than the input (1, 1) with padding \"valid\"")
        #expect(error([["type": "Dense", "unit": 3]]) == "model.layers[0].units is required")
        #expect(error([["type": "Dense", "units": 3, "unit": 3]]) == "model.layers[0].unit is not a known field, got 3")
        #expect(error([["type": "Dense", "units": 3, "activation": "mish"]])
            == "model.layers[0].activation must be one of linear, relu, sigmoid, softmax, tanh, leaky_relu, elu, selu, gelu, silu, softplus, relu6, hard_sigmoid, got \"mish\"")
        #expect(error([["type": "Dropout", "rate": 1.5]]) == "model.layers[0].rate must be in [0, 1), got 1.5")
        #expect(error([["type": "Conv2D", "filters": 2, "kernel_size": [3, -1]]])
            == "model.layers[0].kernel_size must be positive, got [3, -1]")
        #expect(error([["type": "Conv2D", "filters": 2, "kernel_size": 3]], input: [28, 28])
            == "model.layers[0] needs a 3-D input (height, width, channels), got [28, 28]")
        #expect(error([["type": "Flatten"]], input: [28, -1]) == "model.input_shape must be a list of positive integers, got [28, -1]")
    }

    @Test func kerasToJSONModelBuilds() throws {
        // What keras 3 `model.to_json()` writes for Sequential([Input((28, 28, 1)), Conv2D(8, 3, activation="relu"),
        // MaxPooling2D(), Flatten(), Dense(10, activation="softmax")]), trimmed of nothing.
        let json = """
        {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
         "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
         "layers": [
          {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "dtype": "float32", "sparse": false, "name": "input_layer"}, "registered_name": null},
          {"module": "keras.layers", "class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true, "dtype": "float32", "filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28, 1]}},
          {"module": "keras.layers", "class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "trainable": true, "dtype": "float32", "pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}, "registered_name": null},
          {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flatten", "trainable": true, "dtype": "float32", "data_format": "channels_last"}, "registered_name": null},
          {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 10, "activation": "softmax", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null}
         ], "build_input_shape": [null, 28, 28, 1]}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28, 1]}}
        """
        let model = try ModelConfig.makeModel(JSONValue.parse(json))
        #expect(model.inputShape == [28, 28, 1])
        #expect(model.layers.map(\.typeName) == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"])
        #expect(model.layers.map(\.name) == ["conv2d", "max_pooling2d", "flatten", "dense"])
        #expect(model.parameterCount == 80 + 1352 * 10 + 10)
    }

    @Test func saveLoadRoundTripPredictsIdentically() throws {
        let model = try ModelConfig.makeModel(Self.cnn, seed: 42)
        try model.compile(optimizer: Adam(learningRate: 0.002), loss: SparseCategoricalCrossentropy(), metrics: ["accuracy"])
        let x = Tensor(shape: [3, 28, 28, 1], scalars: randomArray(3 * 784, seed: 1, scale: 0.5).map { $0 + 0.5 })
        let y = Tensor(shape: [3], scalars: [1, 7, 3])
        var options = FitOptions(epochs: 1, batchSize: 3)
        options.shuffle = false
        try model.fit(x: x, y: y, options: options)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-roundtrip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(model, to: dir, metadata: ["class_names": ["a", "b"]], includeOptimizer: true)
        let loaded = try ModelArchive.load(from: dir, restoreOptimizer: true)
        #expect(try loaded.model.predict(x).scalars == model.predict(x).scalars)
        #expect(loaded.model.optimizer?.iterations == 1)
        #expect(loaded.model.optimizer?.learningRate == 0.002)
        #expect(loaded.metadata["class_names"] == ["a", "b"])
        // The weights file is standard safetensors with Keras layouts and names.
        let (tensors, _) = try Safetensors.decode(Data(contentsOf: dir.appendingPathComponent(ModelArchive.weightsFile)))
        #expect(tensors["conv2d/kernel"]?.shape == [3, 3, 1, 64])
        #expect(tensors["dense/kernel"]?.shape == [1600, 128])
        #expect(tensors["dense_1/bias"]?.shape == [10])
        #expect(tensors["optimizer/m"]?.count == model.parameterCount)
        // A Predictor (the serving path) gives the same probabilities as batched predict.
        let predictor = loaded.model.makePredictor()
        let single = predictor.predict(Array(x.scalars[784..<1568]))
        let batched = try model.predict(x).scalars[10..<20]
        for (a, b) in zip(single, batched) { #expect(abs(a - b) < 1e-6) }
        #expect(abs(single.reduce(0, +) - 1) < 1e-5)
    }

    @Test func safetensorsRejectsCorruptFiles() throws {
        let good = Safetensors.encode(["a": Tensor(shape: [2], scalars: [1, 2])])
        #expect(throws: TrainingError.self) { try Safetensors.decode(good.prefix(5)) }
        var bad = good
        bad[0] = 0xFF
        #expect(throws: TrainingError.self) { try Safetensors.decode(bad) }
        #expect(throws: TrainingError.self) { try Safetensors.decode(good.prefix(good.count - 1)) }
        #expect(try Safetensors.decode(good).tensors["a"]?.scalars == [1, 2])
    }

    @Test func jsonParserHandlesEscapesAndRejectsGarbage() throws {
        let v = try JSONValue.parse(#"{"a": [1, 2.5e1, -3], "b": "x\"\u00e9\n", "c": true, "d": null}"#)
        #expect(v["a"] == [1, 25, -3])
        #expect(v["b"]?.stringValue == "x\"é\n")
        #expect(v["c"] == true)
        #expect(v["d"] == .null)
        for bad in ["{", "[1,]", "{\"a\" 1}", "01x", "\"\\q\"", String(repeating: "[", count: 500)] {
            #expect(throws: ConfigError.self) { try JSONValue.parse(bad) }
        }
        #expect(JSONValue.parse(roundTrip: v) == v)
    }

    @Test func jsonStringsPlainAndEscapedAreReadWhole() throws {
        // A long plain string (a base64 image) is taken in one piece; escapes after a plain run still decode.
        let long = String(repeating: "QUJD", count: 100_000)
        #expect(try JSONValue.parse(bytes: Array(#"{"b64": "\#(long)"}"#.utf8))["b64"]?.stringValue == long)
        #expect(try JSONValue.parse(#"["abc\u0041\\def", "é\"", ""]"#) == ["abcA\\def", "é\"", ""])
        // The errors are unchanged: where a string is unterminated, holds a control character or bad UTF-8.
        func detail(_ bytes: [UInt8]) -> String? {
            do { _ = try JSONValue.parse(bytes: bytes); return nil } catch { return (error as? ConfigError)?.detail }
        }
        #expect(detail(Array(#"["abc"#.utf8)) == "is not valid JSON: unterminated string at byte 5")
        #expect(detail(Array("[\"ab\ncd\"]".utf8)) == "is not valid JSON: control character in string at byte 4")
        #expect(detail([0x5B, 0x22, 0x61, 0xC3, 0x28, 0x22, 0x5D]) == "is not valid JSON: invalid UTF-8 in string at byte 6")
        #expect(detail(Array(#"["a\"#.utf8)) == "is not valid JSON: unterminated escape at byte 4")
    }
}

extension JSONValue {
    static func parse(roundTrip v: JSONValue) -> JSONValue { (try? JSONValue.parse(v.serialized())) ?? .null }
}

@Suite struct ActivationsTests {
    @Test func everyLayerOutputIsReturnedWithItsShape() throws {
        let model = try Sequential(inputShape: [6, 6, 1], layers: [
            Conv2D(filters: 2, kernelSize: [3, 3], activation: .relu), MaxPooling2D(), Flatten(), Dense(units: 3, activation: .softmax),
        ])
        try model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
        let x = randomArray(36, seed: 1)
        let acts = model.activations(for: x)
        #expect(acts.map(\.name) == ["conv2d", "max_pooling2d", "flatten", "dense"])
        #expect(acts.map(\.shape) == [[4, 4, 2], [2, 2, 2], [8], [3]])
        #expect(acts[0].values.allSatisfy { $0 >= 0 })                       // relu applied
        #expect(abs(acts[3].values.reduce(0, +) - 1) < 1e-5)                 // the fused softmax is applied too
        let predicted = try model.predict(Tensor(shape: [1, 6, 6, 1], scalars: x)).scalars
        for (a, b) in zip(acts[3].values, predicted) { #expect(abs(a - b) < 1e-6) }
    }
}
