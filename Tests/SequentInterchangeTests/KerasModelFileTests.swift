import Foundation
import Testing
@testable import SequentInterchange
@testable import SequentNN

/// Keras 3 model files written and read back through libhdf5, and the refusals. (The comparison with Keras
/// itself is scripts/interop_test.py, run by .ci/run.)
@Suite struct KerasModelFileTests {
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-keras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static let cnn: JSONValue = [
        "input_shape": [12, 12, 3],
        "layers": [
            ["type": "Rescaling", "scale": .number(1.0 / 255)],
            ["type": "Conv2D", "filters": 16, "kernel_size": [3, 3], "activation": "relu", "name": "conv"],
            ["type": "BatchNormalization", "name": "bn"],
            ["type": "MaxPooling2D", "pool_size": [2, 2]],
            ["type": "GlobalAveragePooling2D"],
            ["type": "Dropout", "rate": 0.25],
            ["type": "Dense", "units": 4, "activation": "softmax", "name": "head"],
        ],
    ]

    @Test func exportedFilesLoadBackWithTheSameWeightsAndPredictions() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ModelConfig.makeModel(Self.cnn, seed: 7)
        // Moving statistics away from their initial values, so they are checked too.
        let bn = try #require(model.layers.firstIndex { $0.name == "bn" })
        try model.setWeights(ofLayer: bn, model.layers[bn].parameters.enumerated().map { k, spec in
            Tensor(shape: spec.shape, scalars: (0..<spec.count).map { Float(k + 1) * 0.1 + Float($0) * 0.01 })
        })
        let files = try KerasModelFile.writeArchiveFiles(model, to: dir)
        #expect(files == ["metadata.json", "config.json", "model.weights.h5"])
        let config = try JSONValue.parse(try Data(contentsOf: dir.appendingPathComponent("config.json")))
        #expect(config["class_name"] == "Sequential")
        #expect(config["config"]?["layers"]?[0]?["class_name"] == "InputLayer")
        #expect(config["config"]?["layers"]?[0]?["config"]?["batch_shape"] == [.null, 12, 12, 3])
        #expect(config["config"]?["layers"]?[2]?["build_config"]?["input_shape"] == [.null, 12, 12, 3])

        let loaded = try KerasModelFile.load(config: config, weightsFile: dir.appendingPathComponent("model.weights.h5"))
        #expect(loaded.layers.map(\.name) == model.layers.map(\.name))
        for i in model.layers.indices { #expect(loaded.weights(ofLayer: i) == model.weights(ofLayer: i), "\(model.layers[i].name)") }
        let x: [Float] = (0..<(2 * 12 * 12 * 3)).map { (i: Int) -> Float in Float((i * 37) % 256) }
        let input = Tensor(shape: [2, 12, 12, 3], scalars: x)
        let a = try model.predict(input).scalars
        let b = try loaded.predict(input).scalars
        #expect(a == b)
    }

    @Test func missingOrMisshapenWeightsAreRefusedNamingTheLayer() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ModelConfig.makeModel(Self.cnn, seed: 7)
        let weights = dir.appendingPathComponent("w.weights.h5")
        try KerasModelFile.writeWeights(model, to: weights)
        // The same names, another architecture: the head's kernel is 16×4, this one needs 16×8.
        var other = Self.cnn
        if case .object(var top) = other, case .array(var layers) = top["layers"]!, case .object(var head) = layers[6] {
            head["units"] = 8
            layers[6] = .object(head)
            top["layers"] = .array(layers)
            other = .object(top)
        }
        let keras = KerasModelFile.config(try ModelConfig.makeModel(other, seed: 1))
        #expect(throws: InterchangeError("layers/dense/vars/0 has shape [16, 4], the layer needs [16, 8]")) {
            try KerasModelFile.load(config: keras, weightsFile: weights)
        }
        // A layer the file has no weights for: a second Dense, stored as dense_1.
        var longer = Self.cnn
        if case .object(var top) = longer, case .array(var layers) = top["layers"]! {
            layers.append(["type": "Dense", "units": 2, "name": "extra"])
            top["layers"] = .array(layers)
            longer = .object(top)
        }
        let error = #expect(throws: InterchangeError.self) {
            try KerasModelFile.load(config: KerasModelFile.config(try ModelConfig.makeModel(longer, seed: 1)), weightsFile: weights)
        }
        #expect(error?.message.contains("\"extra\"") == true && error?.message.contains("layers/dense_1/vars") == true,
                "\(String(describing: error))")
        // Not HDF5 at all.
        let junk = dir.appendingPathComponent("junk.h5")
        try Data("not hdf5".utf8).write(to: junk)
        #expect(throws: InterchangeError("junk.h5 is not an HDF5 file")) {
            try KerasModelFile.load(config: KerasModelFile.config(model), weightsFile: junk)
        }
    }

    @Test func weightsAreStoredUnderKerasClassKeysNotLayerNames() throws {
        #expect(["Conv2D", "MaxPooling2D", "BatchNormalization", "GlobalAveragePooling2D", "ReLU", "LeakyReLU", "ELU",
                 "RandomFlip", "Dense"].map(KerasModelFile.snakeCase)
                == ["conv2d", "max_pooling2d", "batch_normalization", "global_average_pooling2d", "re_lu", "leaky_re_lu",
                    "elu", "random_flip", "dense"])
        let model = try ModelConfig.makeModel(["input_shape": [8, 8, 1], "layers": [
            ["type": "Conv2D", "filters": 16, "kernel_size": 3, "name": "myconv"], ["type": "Conv2D", "filters": 16, "kernel_size": 3],
            ["type": "Flatten"], ["type": "Dense", "units": 4, "name": "head"], ["type": "Dense", "units": 2]]], seed: 1)
        #expect(KerasModelFile.storageKeys(model) == ["conv2d", "conv2d_1", "flatten", "dense", "dense_1"])
    }

    @Test func aNestedAugmentationBlockRunsInPlace() throws {
        let flip: JSONValue = ["class_name": "RandomFlip", "config": ["mode": "horizontal", "name": "random_flip"]]
        let nested: JSONValue = ["class_name": "Sequential", "config": ["layers": [
            ["class_name": "InputLayer", "config": ["batch_shape": [.null, 8, 8, 1]]],
            ["class_name": "Sequential", "config": ["name": "augment", "layers": [flip]]],
            ["class_name": "Conv2D", "config": ["filters": 16, "kernel_size": [3, 3], "name": "conv2d"]],
        ]]]
        let model = try KerasModelFile.makeModel(nested)
        #expect(model.layers.map(\.typeName) == ["RandomFlip", "Conv2D"])
        // A nested block with weights is refused by name (its weights would sit under the block's keys).
        let weighted: JSONValue = ["class_name": "Sequential", "config": ["layers": [
            ["class_name": "InputLayer", "config": ["batch_shape": [.null, 8, 8, 1]]],
            ["class_name": "Sequential", "config": ["layers": [["class_name": "Conv2D", "config": ["filters": 16, "kernel_size": [3, 3], "name": "inner"]]]]],
        ]]]
        let error = #expect(throws: InterchangeError.self) { try KerasModelFile.makeModel(weighted) }
        #expect(error?.message.contains("\"inner\"") == true, "\(String(describing: error))")
    }

    @Test func functionalModelsAndUnknownLayersAreRefusedByName() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights = dir.appendingPathComponent("w.weights.h5")
        try KerasModelFile.writeWeights(try ModelConfig.makeModel(Self.cnn, seed: 1), to: weights)
        #expect(throws: InterchangeError("the model is a Keras Functional model; Sequent runs Sequential models only")) {
            try KerasModelFile.load(config: ["class_name": "Functional", "config": [:]], weightsFile: weights)
        }
        let lstm: JSONValue = ["class_name": "Sequential", "config": ["layers": [
            ["class_name": "InputLayer", "config": ["batch_shape": [.null, 10, 4]]],
            ["class_name": "LSTM", "config": ["units": 8, "name": "lstm"]],
        ]]]
        let error = #expect(throws: InterchangeError.self) { try KerasModelFile.load(config: lstm, weightsFile: weights) }
        #expect(error?.message.contains("LSTM") == true, "\(String(describing: error))")
    }
}
