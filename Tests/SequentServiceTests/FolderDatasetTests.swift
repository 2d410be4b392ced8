import Foundation
import Testing
@testable import SequentData
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Training on a folder of images through the service: two Fashion-MNIST classes exported as JPEG class
/// folders (plus a corrupt file), the binary sigmoid network, then predicting an uploaded JPEG.
@Suite(.serialized) struct FolderDatasetTests {
    @Test func horsesOrHumansRecipesParse() throws {
        let big = try JobSpec.parse(JobSpecTests.recipe("horses-or-humans"))
        #expect(try big.makeModel().inputShape == [300, 300, 3])
        let small = try JobSpec.parse(JobSpecTests.recipe("horses-or-humans-150"))
        #expect(try small.makeModel().parameterCount == 9_494_561)   // as Keras counts it
        #expect(small.dataset.classMode == "binary")
    }

    @Test func folderSpecsAreValidated() throws {
        func error(_ ds: JSONValue, model: JSONValue? = nil) -> String? {
            let spec: JSONValue = ["dataset": ds, "compile": ["optimizer": "rmsprop", "loss": "binary_crossentropy"],
                                   "model": model ?? ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 1, "activation": "sigmoid"]]]]
            do { _ = try JobSpec.parse(spec); return nil } catch let e as ConfigError { return e.message } catch { return "\(error)" }
        }
        let ok: JSONValue = ["directory": "shoes", "target_size": [28, 28], "color_mode": "grayscale", "class_mode": "binary"]
        #expect(error(ok) == nil)
        #expect(error(["directory": "../etc", "target_size": [28, 28]])?.hasPrefix("dataset.directory must be a dataset name relative") == true)
        #expect(error(["directory": "/abs", "target_size": [28, 28]])?.hasPrefix("dataset.directory must be") == true)
        #expect(error(["directory": "shoes"]) == "dataset.target_size is required, e.g. [150, 150]")
        #expect(error(["directory": "shoes", "target_size": [28, 28], "color_mode": "grayscale", "class_mode": "categorical"])
            == "dataset.class_mode \"categorical\" needs the loss categorical_crossentropy, the job compiles binary_crossentropy")
        #expect(error(["directory": "shoes", "target_size": [32, 32], "color_mode": "grayscale"])
            == "model.input_shape must be [32, 32, 1] for target_size [32, 32] and color_mode \"grayscale\", got [28, 28, 1]")
        #expect(error(["directory": "shoes", "target_size": [28, 28], "validation_split": 0.2, "validation_directory": "v"])
            == "dataset.validation_split cannot be combined with validation_directory")
    }

    @Test func trainOnExportedFoldersAndPredictAnUpload() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        // Two classes (T-shirt/top vs Ankle boot) as JPEG folders under the server's datasets root.
        let data = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 2000).test
        let root = URL(fileURLWithPath: server.service.configuration.datasetsRoot).appendingPathComponent("shirts-boots")
        var written = [0: 0, 9: 0]
        for i in 0..<data.count {
            let label = Int(data.y.scalars[i])
            guard let n = written[label], n < 150 else { continue }
            let pixels = data.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
            let dir = root.appendingPathComponent(label == 0 ? "shirts" : "boots")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(try ImageDecoder.encodeJPEG(pixels, width: 28, height: 28, channels: 1, quality: 92))
                .write(to: dir.appendingPathComponent("\(i).jpg"))
            written[label] = n + 1
        }
        try Data("not a jpeg".utf8).write(to: root.appendingPathComponent("boots/corrupt.jpg"))
        let spec = """
        {"name": "shirts-boots", "dataset": {"directory": "shirts-boots", "validation_split": 0.2, "target_size": [28, 28],
         "color_mode": "grayscale", "class_mode": "binary"},
         "model": {"input_shape": [28, 28, 1], "layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu"},
           {"type": "MaxPooling2D"}, {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "relu"},
           {"type": "Dense", "units": 1, "activation": "sigmoid"}]},
         "compile": {"optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["accuracy"]},
         "fit": {"epochs": 3, "batch_size": 16}}
        """
        let missing = try server.client.request("POST", "/v1/jobs", body: spec.replacingOccurrences(of: "\"directory\": \"shirts-boots\"", with: "\"directory\": \"nope\""))
        #expect(missing.status == 400 && missing.json["error"]?["field"] == "dataset.directory")
        let created = try server.client.request("POST", "/v1/jobs", body: spec)
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded", "\(done["error"]?.brief ?? "")")
        #expect(done["warnings"]?["skipped_count"] == 1)
        #expect(done["warnings"]?["skipped_images"]?[0]?["path"] == "boots/corrupt.jpg")
        #expect((done["metrics"]?["val_accuracy"]?.doubleValue ?? 0) > 0.9)   // shirts vs boots is easy
        let modelID = try #require(done["model_id"]?.stringValue)
        let model = try server.client.request("GET", "/v1/models/\(modelID)").json
        #expect(model["class_names"] == ["boots", "shirts"])   // sorted folder names
        // Predict an uploaded boot JPEG: binary answer = probability of class 1 ("shirts").
        let bootIndex = (0..<data.count).first { data.y.scalars[$0] == 9 }!
        let boot = data.x.scalars[(bootIndex * 784)..<((bootIndex + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
        let jpeg = try ImageDecoder.encodeJPEG(boot, width: 28, height: 28, channels: 1, quality: 90)
        let p = try server.client.request("POST", "/v1/models/\(modelID)/predict", bodyBytes: jpeg, contentType: "image/jpeg").json
        #expect(p["predictions"]?[0]?["label"] == "boots", "\(p.brief)")
        #expect((p["predictions"]?[0]?["probability"]?.doubleValue ?? 1) < 0.5)
    }
}

@Suite struct AugmentationSpecTests {
    @Test func augmentationIsParsedValidatedAndKeptInTheStoredSpec() throws {
        let spec: JSONValue = [
            "dataset": ["name": "fashion_mnist", "train_limit": 64, "test_limit": 32,
                        "augmentation": ["rotation_range": 40, "width_shift_range": 0.2, "zoom_range": 0.2, "horizontal_flip": true, "fill_mode": "reflect"]],
            "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 10, "activation": "softmax"]]],
            "fit": ["epochs": 1, "batch_size": 16]]
        let parsed = try JobSpec.parse(spec)
        #expect(parsed.dataset.augmentation?.rotationRange == 40)
        #expect(parsed.dataset.augmentation?.fillMode == .reflect)
        // The worker re-reads the stored (normalized) spec: augmentation must survive it.
        #expect(try JobSpec.parse(parsed.normalized).dataset.augmentation == parsed.dataset.augmentation)
        // And it runs.
        let run = try TrainingRun(spec: parsed, sources: DataSources(fashionMNISTDirectory: JobSpecTests.fashionDirectory))
        #expect(run.fitOptions().augment != nil)
        #expect(try run.run(callbacks: []).history.epochs.count == 1)
        var bad = spec
        if case .object(var o) = bad, case .object(var d) = o["dataset"]! { d["augmentation"] = ["zoom_range": 2]; o["dataset"] = .object(d); bad = .object(o) }
        #expect(throws: ConfigError(field: "dataset.augmentation.zoom_range", detail: "must be in 0...0.99, got 2.0")) { try JobSpec.parse(bad) }
    }
}
