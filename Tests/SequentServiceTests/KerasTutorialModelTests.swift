import Foundation
import Testing
@testable import SequentData
@testable import SequentNN
@testable import SequentService

/// The next tutorials' model, as Keras 3's `model.to_json()` writes it (augmentation layers, a convolution
/// without bias, BatchNormalization, ReLU, pooling, Dropout), through the whole service: submitted over HTTP,
/// trained, registered, and answering predict with the numbers the unfolded model gives.
@Suite(.serialized) struct KerasTutorialModelTests {
    static func layer(_ cls: String, _ config: [String: JSONValue]) -> JSONValue {
        ["module": "keras.layers", "class_name": .string(cls), "config": .object(config), "registered_name": .null]
    }

    static let model: JSONValue = [
        "module": "keras", "class_name": "Sequential", "registered_name": .null,
        "config": ["name": "sequential", "trainable": true, "layers": [
            layer("InputLayer", ["batch_shape": [.null, 28, 28, 1], "dtype": "float32", "sparse": false, "name": "input_layer"]),
            layer("RandomFlip", ["name": "random_flip", "trainable": true, "mode": "horizontal", "seed": 3, "data_format": "channels_last"]),
            layer("RandomRotation", ["name": "random_rotation", "trainable": true, "factor": [-0.05, 0.05], "fill_mode": "reflect",
                                     "interpolation": "bilinear", "seed": .null, "fill_value": 0.0, "data_format": "channels_last"]),
            layer("Conv2D", ["name": "conv2d", "trainable": true, "filters": 16, "kernel_size": [3, 3], "strides": [1, 1],
                             "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                             "activation": "linear", "use_bias": false, "kernel_initializer": "he_normal",
                             "kernel_regularizer": .null, "bias_regularizer": .null, "activity_regularizer": .null,
                             "kernel_constraint": .null, "bias_constraint": .null]),
            layer("BatchNormalization", ["name": "batch_normalization", "trainable": true, "axis": -1, "momentum": 0.99,
                                         "epsilon": 0.001, "center": true, "scale": true, "beta_regularizer": .null,
                                         "gamma_regularizer": .null, "beta_constraint": .null, "gamma_constraint": .null,
                                         "synchronized": false]),
            layer("ReLU", ["name": "re_lu", "trainable": true, "max_value": .null, "negative_slope": 0.0, "threshold": 0.0]),
            layer("MaxPooling2D", ["name": "max_pooling2d", "trainable": true, "pool_size": [2, 2], "padding": "valid",
                                   "strides": [2, 2], "data_format": "channels_last"]),
            layer("Flatten", ["name": "flatten", "trainable": true, "data_format": "channels_last"]),
            layer("Dropout", ["name": "dropout", "trainable": true, "rate": 0.2, "seed": .null, "noise_shape": .null]),
            layer("Dense", ["name": "dense", "trainable": true, "units": 10, "activation": "softmax", "use_bias": true]),
        ]],
    ]

    @Test func trainsOverHTTPAndPredictsAsTheUnfoldedModel() throws {
        try #require(FileManager.default.fileExists(atPath: JobSpecTests.fashionDirectory))
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let spec: JSONValue = [
            "name": "keras-bn", "model": Self.model,
            "dataset": ["name": "fashion_mnist", "validation": "test", "train_limit": 1024, "test_limit": 256],
            "compile": ["optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]],
            "fit": ["epochs": 2, "batch_size": 32],
        ]
        let created = try server.client.request("POST", "/v1/jobs", body: spec.serialized())
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"], timeout: 120)
        #expect(done["state"] == "succeeded", "\(done)")
        // Keras's counts: conv 144, BatchNormalization 64 (32 of them non-trainable), dense 27,050.
        let modelID = try #require(done["model_id"]?.stringValue)
        let loaded = try server.app.predict.model(modelID)
        #expect(loaded.model.parameterCount == 144 + 64 + 27_050)
        #expect(loaded.model.trainableParameterCount == 144 + 32 + 27_050)
        // Two epochs of 1,024 images: well above chance, with the batch statistics and the moving ones agreeing.
        let val = done["metrics"]?["val_accuracy"]?.doubleValue ?? 0
        #expect(val > 0.4, "val_accuracy \(val)")
        // Predict over HTTP runs the folded model; the unfolded one, on the same pixels, gives the same answer.
        let test = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 8).test
        let direct = try loaded.model.predict(test.x)
        for i in 0..<8 {
            let pixels = test.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
            let png = try ImageDecoder.encodePNG(pixels, width: 28, height: 28, colorType: .gray)
            let body = "{\"instances\": [{\"b64\": \"\(Data(png).base64EncodedString())\"}]}"
            let r = try server.client.request("POST", "/v1/models/\(modelID):predict", body: body)
            #expect(r.status == 200, "\(r.text)")
            let probabilities = (r.json["predictions"]?[0]?.arrayValue ?? []).compactMap(\.doubleValue)
            let expected = direct.scalars[(i * 10)..<((i + 1) * 10)].map(Double.init)
            #expect(probabilities.count == 10)
            #expect(zip(probabilities, expected).allSatisfy { abs($0 - $1) < 1e-4 }, "\(probabilities) vs \(expected)")
        }
    }
}
