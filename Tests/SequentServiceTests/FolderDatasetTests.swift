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
        #expect(error(["directory": "shoes", "target_size": [28, 28], "color_mode": "grayscale", "interpolation": "bicubic"])
            == "dataset.interpolation must be one of bilinear, nearest, area, got \"bicubic\"")
        #expect(error(["directory": "shoes", "target_size": [28, 28], "color_mode": "grayscale", "interpolation": "nearest"]) == nil)
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

/// The issue's end-to-end flow: export two Fashion-MNIST classes as JPEG folders, zip them, upload, train the
/// 150×150 binary network for an epoch through the API, predict an uploaded JPEG; plus the upload's refusals.
@Suite(.serialized) struct DatasetUploadTests {
    static func zip(_ dir: URL) throws -> [UInt8] {
        let out = dir.deletingLastPathComponent().appendingPathComponent("upload-\(UUID().uuidString).zip")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import shutil, sys; shutil.make_archive(sys.argv[1][:-4], 'zip', sys.argv[2], sys.argv[3])",
                       out.path, dir.deletingLastPathComponent().path, dir.lastPathComponent]
        try p.run()
        p.waitUntilExit()
        return [UInt8](try Data(contentsOf: out))
    }

    @Test func uploadListTrain150PredictDelete() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let work = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: work) }
        // export-images: T-shirts vs ankle boots, under one top folder with train/ and validation/.
        let tree = work.appendingPathComponent("tops-boots")
        let data = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 1000).test
        var counts: [String: Int] = [:]
        for i in 0..<data.count {
            let label = Int(data.y.scalars[i])
            guard label == 0 || label == 9 else { continue }
            let cls = label == 0 ? "tops" : "boots"
            let n = counts[cls, default: 0]
            guard n < 24 else { continue }
            let split = n < 18 ? "train" : "validation"
            let pixels = data.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
            let dir = tree.appendingPathComponent("\(split)/\(cls)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(try ImageDecoder.encodeJPEG(pixels, width: 28, height: 28, channels: 1, quality: 90)).write(to: dir.appendingPathComponent("\(i).JPG"))
            counts[cls] = n + 1
        }
        let archive = try Self.zip(tree)
        var form = Array("--B0\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ntops-boots\r\n--B0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tops-boots.zip\"\r\nContent-Type: application/zip\r\n\r\n".utf8)
        form += archive + Array("\r\n--B0--\r\n".utf8)
        let up = try server.client.request("POST", "/v1/datasets", bodyBytes: form, contentType: "multipart/form-data; boundary=B0")
        #expect(up.status == 201, "\(up.text)")
        #expect(up.json["classes"] == ["boots", "tops"])
        #expect(up.json["splits"]?["train"]?["images"] == 36)
        #expect(up.json["splits"]?["validation"]?["images"] == 12)
        #expect(try server.client.request("POST", "/v1/datasets?name=tops-boots", bodyBytes: archive, contentType: "application/zip").status == 409)
        let list = try server.client.request("GET", "/v1/datasets").json["datasets"]?.arrayValue ?? []
        #expect(list.map { $0["name"]?.stringValue ?? "" } == ["fashion_mnist", "tops-boots"])

        // The tutorial's 150×150 network, RMSprop, binary cross-entropy, one epoch.
        guard case .object(var spec) = try JobSpecTests.recipe("horses-or-humans-150") else { fatalError() }
        spec["dataset"] = ["directory": "tops-boots", "target_size": [150, 150], "color_mode": "rgb", "class_mode": "binary"]
        spec["fit"] = ["epochs": 1, "batch_size": 12]
        let created = try server.client.request("POST", "/v1/jobs", body: JSONValue.object(spec).serialized())
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.stringValue)
        #expect(try server.client.request("DELETE", "/v1/datasets/tops-boots").status == 409)   // in use
        let done = try server.wait(id, for: ["succeeded", "failed"], timeout: 300)
        #expect(done["state"] == "succeeded", "\(done["error"]?.brief ?? "")")
        #expect(done["metrics"]?["val_accuracy"]?.doubleValue != nil)   // validation/ was used
        let modelID = try #require(done["model_id"]?.stringValue)
        let bootIndex = (0..<data.count).first { data.y.scalars[$0] == 9 }!
        let boot = data.x.scalars[(bootIndex * 784)..<((bootIndex + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
        let p = try server.client.request("POST", "/v1/models/\(modelID)/predict",
                                          bodyBytes: try ImageDecoder.encodeJPEG(boot, width: 28, height: 28, channels: 1, quality: 90), contentType: "image/jpeg")
        #expect(p.status == 200)
        #expect(["boots", "tops"].contains(p.json["predictions"]?[0]?["label"]?.stringValue ?? ""))
        #expect(try server.client.request("DELETE", "/v1/datasets/tops-boots").status == 200)
        #expect(try server.client.request("DELETE", "/v1/datasets/tops-boots").status == 404)
    }

    @Test func hostileOrWrongUploadsAreRefusedAndWriteNothing() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let root = URL(fileURLWithPath: server.service.configuration.datasetsRoot)
        func upload(_ bytes: [UInt8], name: String = "x", type: String = "application/zip") throws -> HTTPClient.Response {
            try server.client.request("POST", "/v1/datasets?name=\(name)", bodyBytes: bytes, contentType: type)
        }
        func pyZip(_ script: String) throws -> [UInt8] { try ZipArchiveTestsSupport.make(script) }
        let slip = try upload(try pyZip("z.writestr('../../evil.png', b'x')"))
        #expect(slip.status == 400 && slip.json["error"]?["message"]?.stringValue?.contains("..") == true)
        #expect(try upload(try pyZip("z.writestr('/abs/evil.png', b'x')")).status == 400)
        #expect(try upload(try pyZip("i = zipfile.ZipInfo('cats/l.png'); i.create_system = 3; i.external_attr = (0o120777 << 16); z.writestr(i, '/etc/passwd')")).status == 400)
        #expect(try upload(try pyZip("z.writestr('cats/bomb.png', b'\\\\0' * 30_000_000)")).status == 400)
        #expect(try upload(try pyZip("z.writestr('readme.txt', b'no classes here')")).status == 400)
        let notTar = try upload([0x1F, 0x8B, 8, 0, 0, 0])   // gzip, but cut short
        #expect(notTar.status == 400 && notTar.json["error"]?["message"]?.stringValue?.contains("truncated") == true)
        #expect(try upload(Array("BZh91AY&SY".utf8)).json["error"]?["message"]?.stringValue?.contains("bzip2") == true)
        #expect(try upload(try pyZip("z.writestr('cats/a.png', b'x')"), name: "../etc").status == 400)
        #expect(try upload(Array("plain".utf8), type: "text/plain").status == 415)
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(!FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("evil.png").path))
    }
}

enum ZipArchiveTestsSupport {
    static func make(_ script: String) throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("z-\(UUID().uuidString).zip").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n" + script + "\nz.close()", path]
        try p.run()
        p.waitUntilExit()
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
