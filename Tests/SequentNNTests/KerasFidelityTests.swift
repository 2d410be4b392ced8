import Foundation
import Testing
@testable import SequentNN

/// "No silent difference": every key of a Keras layer config is honoured or refused (trainable, regularizers,
/// initializers), checked against what Keras 3 does with the same config.
@Suite struct KerasFidelityTests {
    static let glorot = #"{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}"#
    static let zeros = #"{"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}"#

    /// A Keras 3 Dense config with every key `to_json` writes, `extra` replacing or adding keys.
    static func dense(_ name: String, _ units: Int, _ activation: String, _ extra: String = "") -> String {
        var keys: [(String, String)] = [
            ("name", "\"\(name)\""), ("trainable", "true"),
            ("dtype", #"{"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}"#),
            ("units", "\(units)"), ("activation", "\"\(activation)\""), ("use_bias", "true"),
            ("kernel_initializer", glorot), ("bias_initializer", zeros), ("kernel_regularizer", "null"),
            ("bias_regularizer", "null"), ("kernel_constraint", "null"), ("bias_constraint", "null"),
            ("quantization_config", "null"),
        ]
        if !extra.isEmpty {
            let parsed = try! JSONValue.parse("{\(extra)}")
            for (k, v) in parsed.objectValue!.sorted(by: { $0.key < $1.key }) {
                keys.removeAll { $0.0 == k }
                keys.append((k, v.serialized()))
            }
        }
        let config = keys.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ")
        return #"{"module": "keras.layers", "class_name": "Dense", "config": {\#(config)}, "registered_name": null, "build_config": {"input_shape": [null, 784]}}"#
    }

    /// The tutorial's Flatten → Dense(128, relu) → Dense(10, softmax) as Keras 3's `model.to_json()` writes it.
    static func tutorial(hidden: String = "", output: String = "", top: String = "", sequential: String = "") -> JSONValue {
        let json = """
        {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
         "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
         "layers": [
          {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null},
          {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flatten", "trainable": true, "dtype": "float32", "data_format": "channels_last"}, "registered_name": null, "build_config": {"input_shape": [null, 28, 28]}},
          \(dense("dense", 128, "relu", hidden)),
          \(dense("dense_1", 10, "softmax", output))
         ], "build_input_shape": [null, 28, 28]\(sequential)}, "registered_name": null,
         "build_config": {"input_shape": [null, 28, 28]}\(top)}
        """
        return try! JSONValue.parse(json)
    }

    static func batch(_ n: Int) -> (x: [Float], y: [Float]) {
        (randomArray(n * 784, seed: 3, scale: 0.5).map { $0 + 0.5 }, labels(n, classes: 10, seed: 4))
    }

    // MARK: trainable

    @Test func frozenLayerIsCountedAsKerasDoesAndNotTrained() throws {
        let model = try ModelConfig.makeModel(Self.tutorial(hidden: #""trainable": false"#))
        #expect(model.parameterCount == 101_770)
        #expect(model.trainableParameterCount == 1_290)
        #expect(model.layerTrainable == [true, false, true])
        let text = model.summary()
        #expect(text.contains(" Total params: 101,770 (397.54 KB)"))
        #expect(text.contains(" Trainable params: 1,290 (5.04 KB)"))
        #expect(text.contains(" Non-trainable params: 100,480 (392.50 KB)"))

        try model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy())
        let frozen = model.weights(ofLayer: 1), head = model.weights(ofLayer: 2)
        let (x, y) = Self.batch(16)
        _ = model.trainStep(x: x, y: y, n: 16, step: 0)
        #expect(model.weights(ofLayer: 1) == frozen)
        #expect(model.weights(ofLayer: 2) != head)
    }

    @Test func frozenMiddleLayerPassesGradientsThrough() throws {
        // Dense → frozen Dense → Dense: the first layer still learns through the frozen one.
        let model = try ModelConfig.makeModel([
            "input_shape": [6],
            "layers": [["type": "Dense", "units": 8, "activation": "relu"],
                       ["type": "Dense", "units": 8, "activation": "relu", "trainable": false],
                       ["type": "Dense", "units": 3, "activation": "softmax"]],
        ])
        try model.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy())
        let before = (0..<3).map { model.weights(ofLayer: $0) }
        let x = randomArray(4 * 6, seed: 9), y: [Float] = [0, 1, 2, 1]
        _ = model.trainStep(x: x, y: y, n: 4, step: 0)
        #expect(model.weights(ofLayer: 0) != before[0])
        #expect(model.weights(ofLayer: 1) == before[1])
        #expect(model.weights(ofLayer: 2) != before[2])
        // The saved architecture keeps the flag.
        let again = try ModelConfig.makeModel(model.architecture)
        #expect(again.layerTrainable == [true, false, true])
    }

    @Test func freezeByNameAndWholeModel() throws {
        let byName = try ModelConfig.makeModel(Self.tutorial(top: #", "freeze": ["dense"]"#))
        #expect(byName.trainableParameterCount == 1_290)
        let sequentSpelling = try ModelConfig.makeModel([
            "input_shape": [28, 28], "freeze": ["dense"],
            "layers": [["type": "Flatten"], ["type": "Dense", "units": 128], ["type": "Dense", "units": 10]],
        ])
        #expect(sequentSpelling.layerTrainable == [true, false, true])
        let whole = try ModelConfig.makeModel(Self.tutorial(sequential: #", "trainable": false"#))
        #expect(whole.trainableParameterCount == 0)
        #expect(whole.summary().contains(" Non-trainable params: 101,770 (397.54 KB)"))

        #expect(throws: ConfigError(field: "model.freeze[0]", detail: "names no layer of the model, got \"dens\" (layers: flatten, dense, dense_1)")) {
            try ModelConfig.makeModel(Self.tutorial(top: #", "freeze": ["dens"]"#))
        }
        #expect(throws: ConfigError(field: "model.freeze", detail: "must be a list of layer names, got \"dense\"")) {
            try ModelConfig.makeModel(Self.tutorial(top: #", "freeze": "dense""#))
        }
    }

    // MARK: regularizers

    @Test func l2PenaltyIsAddedToTheLossAndItsGradient() throws {
        let l2 = #""kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": null}"#
        let l1l2 = #""kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2", "config": {"l1": 0.001, "l2": 0.002}, "registered_name": null}, "bias_regularizer": "l2""#
        let plain = try ModelConfig.makeModel(Self.tutorial(), seed: 7)
        let regular = try ModelConfig.makeModel(Self.tutorial(hidden: l2, output: l1l2), seed: 7)
        #expect(plain.weightsSnapshot() == regular.weightsSnapshot())
        let lr: Float = 0.1
        for m in [plain, regular] { try m.compile(optimizer: SGD(learningRate: lr), loss: SparseCategoricalCrossentropy()) }

        // The penalty of the initial weights, as Keras computes it: l2·Σw² + l1·Σ|w| (biases start at zero).
        let k1 = regular.weights(ofLayer: 1)[0].scalars, k2 = regular.weights(ofLayer: 2)[0].scalars
        let penalty = 0.01 * k1.reduce(0) { $0 + Double($1) * Double($1) }
            + 0.001 * k2.reduce(0) { $0 + abs(Double($1)) } + 0.002 * k2.reduce(0) { $0 + Double($1) * Double($1) }
        #expect(penalty > 0.1)
        let (x, y) = Self.batch(8)
        // Validation loss includes the penalty too, as Keras's does.
        let va = plain.testStep(x: x, y: y, n: 8), vb = regular.testStep(x: x, y: y, n: 8)
        #expect(abs((vb.lossSum - va.lossSum) / 8 - penalty) < 1e-6)
        let a = plain.trainStep(x: x, y: y, n: 8, step: 0), b = regular.trainStep(x: x, y: y, n: 8, step: 0)
        #expect(abs((b.lossSum - a.lossSum) / 8 - penalty) < 1e-9 * max(1, penalty) + 1e-6)

        // SGD: w' = w − lr·(g + 2·l2·w + l1·sign(w)), so the two models differ by exactly the penalty's gradient.
        let p2 = plain.weights(ofLayer: 2)[0].scalars, r2 = regular.weights(ofLayer: 2)[0].scalars
        var worst: Float = 0
        for i in k2.indices {
            let w = k2[i]
            let expected = -lr * (2 * 0.002 * w + 0.001 * (w > 0 ? 1 : w < 0 ? -1 : 0))
            worst = max(worst, abs((r2[i] - p2[i]) - expected))
        }
        #expect(worst < 1e-6)
        let p1 = plain.weights(ofLayer: 1)[0].scalars, r1 = regular.weights(ofLayer: 1)[0].scalars
        #expect(zip(k1.indices, zip(p1, r1)).allSatisfy { i, pr in abs((pr.1 - pr.0) - (-lr * 2 * 0.01 * k1[i])) < 1e-6 })

    }

    @Test func regularizedGradientMatchesFiniteDifferences() throws {
        let model = try ModelConfig.makeModel([
            "input_shape": [5],
            "layers": [["type": "Dense", "units": 4, "activation": "tanh",
                        "kernel_regularizer": ["class_name": "L1L2", "config": ["l1": 0.05, "l2": 0.1]],
                        "bias_regularizer": ["class_name": "L1", "config": ["l1": 0.02]],
                        "bias_initializer": "ones"],
                       ["type": "Dense", "units": 3, "activation": "softmax", "kernel_regularizer": "l2"]],
        ])
        try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        let result = worstGradientError(model: model, x: randomArray(20, seed: 2), y: [0, 1, 2, 1], n: 4, epsilon: 1e-3)
        #expect(result.error < 2e-2)
    }

    @Test func regularizerOnTheFusedLargeDenseLayer() throws {
        // A Dense with over a million weights takes the fused backward-and-update path.
        func make(_ reg: JSONValue) throws -> Sequential {
            let m = try ModelConfig.makeModel([
                "input_shape": [1024],
                "layers": [["type": "Dense", "units": 1024, "activation": "relu", "kernel_regularizer": reg],
                           ["type": "Dense", "units": 2, "activation": "softmax"]],
            ], seed: 5)
            try m.compile(optimizer: SGD(learningRate: 0.5), loss: SparseCategoricalCrossentropy())
            return m
        }
        let plain = try make(.null), regular = try make(["class_name": "L2", "config": ["l2": 0.25]])
        #expect(regular.plan.largeDense == 0)
        let w = regular.weights(ofLayer: 0)[0].scalars
        let x = randomArray(4 * 1024, seed: 8), y: [Float] = [0, 1, 1, 0]
        _ = plain.trainStep(x: x, y: y, n: 4, step: 0)
        _ = regular.trainStep(x: x, y: y, n: 4, step: 0)
        let p = plain.weights(ofLayer: 0)[0].scalars, r = regular.weights(ofLayer: 0)[0].scalars
        var worst: Float = 0
        for i in stride(from: 0, to: w.count, by: 97) { worst = max(worst, abs((r[i] - p[i]) + 0.5 * 2 * 0.25 * w[i])) }
        #expect(worst < 1e-6)
    }

    // MARK: initializers

    @Test func initializersAndTheirSeedsAreHonoured() throws {
        func make(_ kernel: JSONValue, bias: JSONValue = .null, seed: UInt64) throws -> Sequential {
            try ModelConfig.makeModel(["input_shape": [4], "layers": [
                ["type": "Dense", "units": 3, "kernel_initializer": kernel, "bias_initializer": bias]]], seed: seed)
        }
        let seeded: JSONValue = ["module": "keras.initializers", "class_name": "GlorotUniform", "config": ["seed": 42], "registered_name": .null]
        let a = try make(seeded, seed: 1), b = try make(seeded, seed: 2), c = try make(.null, seed: 1)
        #expect(a.weights(ofLayer: 0)[0] == b.weights(ofLayer: 0)[0])
        #expect(a.weights(ofLayer: 0)[0] != c.weights(ofLayer: 0)[0])
        let other = try make(["class_name": "GlorotUniform", "config": ["seed": 43]], seed: 1)
        #expect(other.weights(ofLayer: 0)[0] != a.weights(ofLayer: 0)[0])
        let ones = try make("he_uniform", bias: ["class_name": "Ones", "config": [:]], seed: 1)
        #expect(ones.weights(ofLayer: 0)[1].scalars == [1, 1, 1])
        #expect((ones.layers[0] as! Dense).kernelInitializer == .heUniform)
        // The saved architecture reads back to the same initialisers, seed included.
        let again = try ModelConfig.makeModel(a.architecture, seed: 9)
        #expect(again.weights(ofLayer: 0)[0] == a.weights(ofLayer: 0)[0])
        let onesAgain = try ModelConfig.makeModel(ones.architecture)
        #expect(onesAgain.weights(ofLayer: 0)[1].scalars == [1, 1, 1])
    }

    // MARK: refused keys

    /// The error for the tutorial model with `extra` in its first Dense layer's config.
    static func denseError(_ extra: String) -> ConfigError? {
        do {
            _ = try ModelConfig.makeModel(tutorial(hidden: extra))
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            return nil
        }
    }

    @Test(arguments: [
        (#""kernel_constraint": {"module": "keras.constraints", "class_name": "NonNeg", "config": {}, "registered_name": null}"#, "kernel_constraint", "NonNeg"),
        (#""bias_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2}}"#, "bias_constraint", "MaxNorm"),
        (#""activity_regularizer": {"class_name": "L2", "config": {"l2": -1}}"#, "activity_regularizer.config.l2", "-1"),
        (#""quantization_config": {"mode": "int8"}"#, "quantization_config", "int8"),
        (#""lora_rank": 4"#, "lora_rank", "4"),
        (#""dtype": "mixed_float16""#, "dtype", "mixed_float16"),
        (#""dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "bfloat16"}}"#, "dtype", "bfloat16"),
        (#""some_future_key": 3"#, "some_future_key", "3"),
        (#""kernel_regularizer": {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.01}}"#, "kernel_regularizer.class_name", "OrthogonalRegularizer"),
        (#""kernel_regularizer": {"class_name": "L2", "config": {"l2": -1}}"#, "kernel_regularizer.config.l2", "-1"),
        (#""kernel_regularizer": {"class_name": "L2", "config": {"l1": 0.1}}"#, "kernel_regularizer.config.l1", "l1"),
        (#""kernel_initializer": {"module": "keras.initializers", "class_name": "STFT", "config": {"seed": null}}"#, "kernel_initializer.class_name", "stft"),
        (#""bias_initializer": "stft""#, "bias_initializer", "stft"),
        (#""kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null, "scale": 2}}"#, "kernel_initializer.config.scale", "2"),
        (#""kernel_initializer": {"module": "my_package", "class_name": "GlorotUniform", "config": {}}"#, "kernel_initializer.module", "my_package"),
        (#""trainable": "no""#, "trainable", "no"),
    ])
    func refusedDenseKeyNamesKeyAndValue(extra: String, key: String, value: String) throws {
        let error = try #require(Self.denseError(extra))
        #expect(error.field == "model.config.layers[2].config.\(key)")
        #expect(error.message.contains(key) && error.message.contains(value), "\(error.message)")
    }

    @Test func refusedKeysOfOtherLayersAndLevels() throws {
        func error(_ json: String) -> String? {
            do { _ = try ModelConfig.makeModel(JSONValue.parse(json)); return nil } catch { return "\(error)" }
        }
        let input = #"{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 2]}}"#
        func model(_ layer: String, config: String = "", top: String = "") -> String {
            #"{"class_name": "Sequential", "config": {"layers": [\#(input), \#(layer)]\#(config)}\#(top)}"#
        }
        let conv = #"{"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "#
        #expect(error(model(conv + #""groups": 2}}"#)) == "model.config.layers[1].config.groups must be 1 (grouped convolutions are not supported), got 2")
        #expect(error(model(conv + #""dilation_rate": [2, 2]}}"#)) == "model.config.layers[1].config.dilation_rate must be 1 or [1, 1] (dilated convolutions are not supported), got [2,2]")
        #expect(error(model(conv + #""data_format": "channels_first"}}"#)) == "model.config.layers[1].config.data_format must be \"channels_last\" (Sequent computes in NHWC), got \"channels_first\"")
        #expect(error(model(#"{"class_name": "Dropout", "config": {"rate": 0.5, "noise_shape": [null, 1, 1, 2]}}"#))
            == "model.config.layers[1].config.noise_shape must be null (dropout noise shapes are not supported), got [null,1,1,2]")
        #expect(error(model(#"{"class_name": "MaxPooling2D", "config": {"pool_size": 2, "data_format": "channels_first"}}"#))?.hasPrefix("model.config.layers[1].config.data_format must be") == true)
        #expect(error(model(#"{"class_name": "Flatten", "config": {"colour": 1}}"#)) == "model.config.layers[1].config.colour is not a known field, got 1")
        #expect(error(model(#"{"class_name": "Rescaling", "config": {"scale": 0.5, "dtype": "float16"}}"#)) == "model.config.layers[1].config.dtype must be \"float32\" (Sequent computes in float32), got \"float16\"")
        // The layer object itself, the InputLayer, the Sequential config and the top level.
        #expect(error(model(#"{"class_name": "Flatten", "config": {}, "registered_name": "my>Flatten"}"#)) == "model.config.layers[1].registered_name must be null (custom objects are not supported), got \"my>Flatten\"")
        #expect(error(model(#"{"class_name": "Flatten", "config": {}, "inbound_nodes": []}"#)) == "model.config.layers[1].inbound_nodes is not a known field, got []")
        #expect(error(#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 4], "sparse": true}}, {"class_name": "Flatten"}]}}"#)
            == "model.config.layers[0].config.sparse must be false (only dense float32 inputs are supported), got true")
        #expect(error(model(#"{"class_name": "Flatten"}"#, config: #", "dtype": "bfloat16""#)) == "model.config.dtype must be \"float32\" (Sequent computes in float32), got \"bfloat16\"")
        #expect(error(model(#"{"class_name": "Flatten"}"#, config: #", "optimizer": 1"#)) == "model.config.optimizer is not a known field, got 1")
        #expect(error(model(#"{"class_name": "Flatten"}"#, top: #", "module": "my_models""#)) == "model.module must be \"keras\" (custom objects are not supported), got \"my_models\"")
        #expect(error(model(#"{"class_name": "Flatten"}"#, top: #", "weights": []"#)) == "model.weights is not a known field, got []")
        // The Sequent spelling goes through the same checks.
        #expect(throws: ConfigError(field: "model.layers[0].kernel_constraint", detail: "must be null (constraints are not supported), got \"non_neg\"")) {
            try ModelConfig.makeModel(["input_shape": [3], "layers": [["type": "Dense", "units": 2, "kernel_constraint": "non_neg"]]])
        }
    }

    @Test func kerasDefaultsPass() throws {
        // Every unsupported feature at its default value, as Keras writes them.
        let model = try ModelConfig.makeModel(Self.tutorial(
            hidden: #""lora_rank": null, "activity_regularizer": null, "kernel_constraint": null"#,
            top: #", "compile_config": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}"#))
        #expect(model.trainableParameterCount == 101_770)
        let conv = try ModelConfig.makeModel(JSONValue.parse("""
        {"class_name": "Sequential", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 2]}},
          {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3, "groups": 1, "dilation_rate": 1, "data_format": null, "lora_rank": null}},
          {"class_name": "Dropout", "config": {"rate": 0.5, "seed": 3, "noise_shape": null}},
          {"class_name": "MaxPooling2D", "config": {"pool_size": 2, "data_format": "channels_last"}},
          {"class_name": "Flatten", "config": {"data_format": "channels_last"}}]}}
        """))
        #expect(conv.layers.map(\.typeName) == ["Conv2D", "Dropout", "MaxPooling2D", "Flatten"])
        #expect((conv.layers[1] as! Dropout).seed == 3)
    }
}
