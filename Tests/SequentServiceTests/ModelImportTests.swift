import Foundation
import Testing
@testable import SequentData
import SequentInterchange
@testable import SequentNN
@testable import SequentService

/// Keras models in and out over HTTP (`POST /v1/models`, `GET /v1/models/{id}/export`) and fine-tuning from a
/// model (`initial_model`). The comparison with Keras itself is scripts/interop_test.py, run by .ci/run.
@Suite(.serialized) struct ModelImportTests {
    static let cnn = #"{"input_shape": [28, 28, 1], "layers": [{"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu", "name": "conv"}, {"type": "BatchNormalization", "name": "bn"}, {"type": "MaxPooling2D"}, {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 10, "activation": "softmax", "name": "head"}]}"#

    /// A server with a small CNN trained on it: (server, model id).
    static func trained(configure: (inout ServiceConfiguration) -> Void = { _ in }) throws -> (EndToEndTests.Server, String) {
        let server = try EndToEndTests.Server(configure: configure)
        let created = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 256, model: cnn))
        let done = try server.wait(try #require(created.json["id"]?.stringValue), for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded", "\(done)")
        return (server, try #require(done["model_id"]?.stringValue))
    }

    static func tfOutputs(_ server: EndToEndTests.Server, _ model: String, _ x: [Float]) throws -> [Double] {
        let rows = (0..<(x.count / 784)).map { i in "[" + x[(i * 784)..<((i + 1) * 784)].map { String($0) }.joined(separator: ",") + "]" }
        let r = try server.client.request("POST", "/v1/models/\(model):predict", body: #"{"instances": [\#(rows.joined(separator: ","))]}"#)
        #expect(r.status == 200, "\(r.text.prefix(300))")
        return (r.json["predictions"]?.arrayValue ?? []).flatMap { $0.arrayValue?.compactMap(\.doubleValue) ?? [] }
    }

    static func upload(_ server: EndToEndTests.Server, _ parts: [(name: String, filename: String, bytes: [UInt8])],
                       fields: [(String, String)] = []) throws -> HTTPClient.Response {
        var body = PredictTests.multipartBytes(parts)
        // Plain fields before the closing boundary.
        body.removeLast("--XyZ123--\r\n".utf8.count)
        for (k, v) in fields { body += Array("--XyZ123\r\nContent-Disposition: form-data; name=\"\(k)\"\r\n\r\n\(v)\r\n".utf8) }
        body += Array("--XyZ123--\r\n".utf8)
        return try server.client.request("POST", "/v1/models", bodyBytes: body, contentType: "multipart/form-data; boundary=XyZ123")
    }

    @Test func exportedKerasImportsBackAndPredictsTheSame() throws {
        let (server, modelID) = try Self.trained()
        defer { server.stop() }
        let export = try server.client.request("GET", "/v1/models/\(modelID)/export?format=keras")
        #expect(export.status == 200 && export.headers["content-type"] == "application/zip")
        #expect(export.headers["content-disposition"]?.contains(".keras\"") == true)
        let imported = try Self.upload(server, [("file", "model.keras", export.body)],
                                       fields: [("name", "reimported"), ("class_names", FashionMNIST.classNames.joined(separator: ","))])
        #expect(imported.status == 201, "\(imported.text.prefix(400))")
        let id = try #require(imported.json["id"]?.stringValue)
        #expect(imported.headers["location"] == "/v1/models/\(id)")
        #expect(imported.json["job_id"] == .null && imported.json["name"] == "reimported")
        #expect(imported.json["source"]?["format"] == "keras")
        #expect(imported.json["class_names"]?.arrayValue?.count == 10)
        let x = InferenceProtocolTests.samples(4)
        let a = try Self.tfOutputs(server, modelID, x), b = try Self.tfOutputs(server, id, x)
        #expect(a.count == 40 && a == b)
        // Imported, it has no dataset to be evaluated on: a 409 that says so.
        let evaluation = try server.client.request("GET", "/v1/models/\(id)/evaluation")
        #expect(evaluation.status == 409 && evaluation.text.contains("imported"))
        // By its name, like a trained model, and in the list.
        #expect(try server.client.request("GET", "/v1/models/reimported").json["id"]?.stringValue == id)
        // The raw-body form, fields in the query.
        let raw = try server.client.request("POST", "/v1/models?name=raw", bodyBytes: export.body, contentType: "application/zip")
        #expect(raw.status == 201 && raw.json["name"] == "raw", "\(raw.text.prefix(300))")
        // safetensors: Sequent's own files, zipped.
        let st = try server.client.request("GET", "/v1/models/\(modelID)/export?format=safetensors")
        #expect(st.status == 200 && st.headers["content-disposition"]?.hasSuffix(".zip\"") == true)
        #expect(String(decoding: st.body, as: UTF8.self).contains(ModelArchive.weightsFile))
        let onnx = try server.client.request("GET", "/v1/models/\(modelID)/export?format=onnx")
        #expect(onnx.status == 200 && onnx.headers["content-disposition"]?.hasSuffix(".onnx\"") == true && onnx.body.count > 1000)
        let bad = try server.client.request("GET", "/v1/models/\(modelID)/export?format=pt")
        #expect(bad.status == 400 && bad.text.contains("pt"))
    }

    @Test func aModelJSONWithItsWeightsFile() throws {
        let (server, _) = try Self.trained()
        defer { server.stop() }
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ModelConfig.makeModel(try JSONValue.parse(Data(Self.cnn.utf8)), seed: 3)
        _ = try KerasModelFile.writeArchiveFiles(model, to: dir)
        let config = [UInt8](try Data(contentsOf: dir.appendingPathComponent("config.json")))
        let weights = [UInt8](try Data(contentsOf: dir.appendingPathComponent("model.weights.h5")))
        let r = try Self.upload(server, [("file", "model.json", config), ("weights", "model.weights.h5", weights)],
                                fields: [("rescale", "1/255")])
        #expect(r.status == 201, "\(r.text.prefix(400))")
        #expect(r.json["preprocessing"]?["rescale"]?.doubleValue.map { abs($0 - 1.0 / 255) < 1e-12 } == true)
        let id = try #require(r.json["id"]?.stringValue)
        let x = InferenceProtocolTests.samples(2)
        let expected = try model.predict(Tensor(shape: [2, 28, 28, 1], scalars: x)).scalars.map(Double.init)
        let got = try Self.tfOutputs(server, id, x)
        #expect(got.count == 20 && zip(got, expected).allSatisfy { abs($0 - $1) < 1e-6 })

        // Refusals, each naming what is wrong.
        let noWeights = try Self.upload(server, [("file", "model.json", config)])
        #expect(noWeights.status == 400 && noWeights.text.contains("weights"))
        let classes = try Self.upload(server, [("file", "model.json", config), ("weights", "w.h5", weights)], fields: [("class_names", "a,b")])
        #expect(classes.status == 400 && classes.text.contains("2 class names"))
        let junk = try Self.upload(server, [("file", "model.keras", Array("PK not really".utf8))])
        #expect(junk.status == 400, "\(junk.status) \(junk.text.prefix(200))")
        let notH5 = try Self.upload(server, [("file", "model.json", config), ("weights", "w.h5", Array("nope".utf8))])
        #expect(notH5.status == 400 && notH5.text.contains("not an HDF5 file"))
        let lstm = Array(#"{"class_name": "Sequential", "config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 10, 4]}}, {"class_name": "LSTM", "config": {"units": 8, "name": "lstm"}}]}}"#.utf8)
        let unsupported = try Self.upload(server, [("file", "model.json", lstm), ("weights", "w.h5", weights)])
        #expect(unsupported.status == 400 && unsupported.text.contains("LSTM"), "\(unsupported.text.prefix(300))")
        let functional = try Self.upload(server, [("file", "model.json", Array(#"{"class_name": "Functional", "config": {}}"#.utf8)), ("weights", "w.h5", weights)])
        #expect(functional.status == 400 && functional.text.contains("Functional"))
        let badRescale = try Self.upload(server, [("file", "model.json", config), ("weights", "w.h5", weights)], fields: [("rescale", "one/255")])
        #expect(badRescale.status == 400 && badRescale.text.contains("rescale"))
        let zipWithoutConfig = try BatchPredictTests.archive("zip", [("readme.txt", Array("hi".utf8))])
        let empty = try Self.upload(server, [("file", "model.keras", zipWithoutConfig)])
        #expect(empty.status == 400 && empty.text.contains("config.json"))
    }

    @Test func fineTuningStartsFromAModelWithFrozenLayers() throws {
        let (server, base) = try Self.trained()
        defer { server.stop() }
        // The initial model's architecture, its conv layer frozen; the job trains the rest.
        let spec = #"{"name": "tuned", "initial_model": "\#(base)", "freeze": ["conv"], "dataset": {"name": "fashion_mnist", "train_limit": 128, "test_limit": 64}, "fit": {"epochs": 1}}"#
        let created = try server.client.request("POST", "/v1/jobs", body: spec)
        #expect(created.status == 201, "\(created.text.prefix(400))")
        #expect(created.json["spec"]?["initial_model"]?.stringValue == base)
        let done = try server.wait(try #require(created.json["id"]?.stringValue), for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded", "\(done)")
        let tuned = try #require(done["model_id"]?.stringValue)
        let before = try server.app.predict.model(base).model, after = try server.app.predict.model(tuned).model
        let conv = try #require(before.layers.firstIndex { $0.name == "conv" })
        let head = try #require(before.layers.firstIndex { $0.name == "head" })
        #expect(after.weights(ofLayer: conv) == before.weights(ofLayer: conv))
        #expect(after.weights(ofLayer: head) != before.weights(ofLayer: head))

        // A new head (another name) starts fresh; a same-named layer of another shape is refused by name.
        let newHead = Self.cnn.replacingOccurrences(of: #""units": 10, "activation": "softmax", "name": "head""#,
                                                    with: #""units": 10, "activation": "softmax", "name": "head2""#)
        let withNewHead = try server.client.request("POST", "/v1/jobs", body: #"{"name": "tuned2", "initial_model": "e2e", "model": \#(newHead), "dataset": {"name": "fashion_mnist", "train_limit": 64, "test_limit": 32}, "fit": {"epochs": 1}}"#)
        #expect(withNewHead.status == 201, "\(withNewHead.text.prefix(300))")
        _ = try server.wait(try #require(withNewHead.json["id"]?.stringValue), for: ["succeeded", "failed"])
        let misshapen = Self.cnn.replacingOccurrences(of: #""filters": 16"#, with: #""filters": 8"#)
        let refused = try server.client.request("POST", "/v1/jobs", body: #"{"name": "bad", "initial_model": "\#(base)", "model": \#(misshapen), "dataset": {"name": "fashion_mnist", "train_limit": 64}, "fit": {"epochs": 1}}"#)
        #expect(refused.status == 400 && refused.text.contains("conv"), "\(refused.text.prefix(300))")
        let unknown = try server.client.request("POST", "/v1/jobs", body: #"{"name": "bad", "initial_model": "m_nope", "dataset": {"name": "fashion_mnist"}}"#)
        #expect(unknown.status == 400 && unknown.json["error"]?["field"] == "initial_model")
    }

    @Test func aModelIsNotDeletedWhileAJobWaitsToFineTuneFromIt() throws {
        let (server, base) = try Self.trained()
        defer { server.stop() }
        // Stop the worker from claiming: a job beyond the queue's head stays queued behind a long one.
        let long = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 50, trainLimit: 4096))
        let waiting = try server.client.request("POST", "/v1/jobs", body: #"{"name": "later", "initial_model": "\#(base)", "dataset": {"name": "fashion_mnist", "train_limit": 64}, "fit": {"epochs": 1}}"#)
        #expect(waiting.status == 201, "\(waiting.text.prefix(300))")
        let refused = try server.client.request("DELETE", "/v1/models/\(base)")
        let waitingID = try #require(waiting.json["id"]?.stringValue)
        #expect(refused.status == 409 && refused.text.contains(waitingID))
        for id in [waiting.json["id"]?.stringValue, long.json["id"]?.stringValue].compactMap({ $0 }) {
            _ = try server.client.request("POST", "/v1/jobs/\(id)/cancel")
            _ = try server.wait(id, for: ["cancelled", "succeeded", "failed"])
        }
        #expect(try server.client.request("DELETE", "/v1/models/\(base)").status == 204)
    }
}
