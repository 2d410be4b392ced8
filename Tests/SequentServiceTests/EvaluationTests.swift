import Foundation
import Testing
@testable import SequentData
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The evaluation stored with a model trained through the service, and the routes around it, over HTTP.
@Suite(.serialized) struct EvaluationTests {
    @Test func storedEvaluationMatchesTheJobAndItsImagesDecode() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let created = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 512))
        let id = try #require(created.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded", "\(done)")
        let modelID = try #require(done["model_id"]?.stringValue)

        let r = try server.client.request("GET", "/v1/models/\(modelID)/evaluation")
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let e = r.json
        #expect(e["split"] == "test")
        let samples = try #require(e["samples"]?.intValue)
        #expect(samples == 256)
        let matrix = try #require(e["confusion_matrix"]?.arrayValue?.map { $0.arrayValue?.compactMap(\.intValue) ?? [] })
        #expect(matrix.count == 10 && matrix.allSatisfy { $0.count == 10 })
        #expect(matrix.joined().reduce(0, +) == samples)
        let diagonal = (0..<10).reduce(0) { $0 + matrix[$1][$1] }
        let accuracy = try #require(e["accuracy"]?.doubleValue)
        #expect(abs(accuracy - Double(diagonal) / Double(samples)) < 1e-12)
        // The validation split is the test split here: the last epoch's val_accuracy is the same count.
        let epochs = try server.client.request("GET", "/v1/jobs/\(id)/epochs").json["epochs"]?.arrayValue ?? []
        let valAccuracy = try #require(epochs.last?["val_accuracy"]?.doubleValue)
        #expect(abs(accuracy - valAccuracy) < 1e-6, "\(accuracy) vs \(valAccuracy)")
        #expect(e["per_class"]?.arrayValue?.compactMap { $0["support"]?.intValue } == matrix.map { $0.reduce(0, +) })
        #expect(e["top_k_accuracy"]?["2"]?.doubleValue.map { $0 >= accuracy } == true)
        #expect(e["classes"]?.arrayValue?.count == 10 && e["roc"] == nil)

        // The most confidently wrong, in order, each with an image that decodes to the 28×28 input.
        let wrong = try #require(e["misclassified"]?.arrayValue)
        #expect(wrong.count == min(50, samples - diagonal))
        let probabilities = wrong.compactMap { $0["probability"]?.doubleValue }
        #expect(probabilities == probabilities.sorted(by: >))
        let image = try #require(wrong.first?["image"]?.stringValue)
        let png = try server.client.request("GET", image)
        #expect(png.status == 200 && png.headers["content-type"] == "image/png")
        let decoded = try ImageDecoder.decode(png.body)
        #expect(decoded.width == 28 && decoded.height == 28 && decoded.channels == 1)

        // Bad input: 4xx naming what was wrong.
        let bad = try server.client.request("GET", "/v1/models/\(modelID)/evaluation?split=banana")
        #expect(bad.status == 400 && bad.text.contains("banana"))
        let missing = try server.client.request("GET", "/v1/models/m_nope/evaluation")
        #expect(missing.status == 404 && missing.text.contains("m_nope"))
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation/images/test/256.png").status == 404)
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation/images/test/x.png").status == 404)
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation/images/banana/0.png").status == 400)
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation/images/train/511.png").status == 200)

        // Every cell lists its own samples: the counts are the matrix's, right ones (the diagonal) included.
        for t in 0..<10 {
            for p in 0..<10 {
                let cell = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/\(t)/\(p)?limit=500")
                #expect(cell.status == 200, "\(cell.text.prefix(200))")
                #expect(cell.json["count"]?.intValue == matrix[t][p], "cell \(t),\(p)")
                #expect(cell.json["samples"]?.arrayValue?.count == matrix[t][p])
            }
        }
        let worst = try #require(wrong.first)
        let classes = (e["classes"]?.arrayValue ?? []).compactMap(\.stringValue)
        let t = try #require(classes.firstIndex(of: worst["true_label"]?.stringValue ?? "")),
            p = try #require(classes.firstIndex(of: worst["predicted_label"]?.stringValue ?? ""))
        let cell = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/\(t)/\(p)").json
        #expect(cell["true_label"] == worst["true_label"] && cell["predicted_label"] == worst["predicted_label"])
        #expect(cell["samples"]?[0]?["index"] == worst["index"] && cell["samples"]?[0]?["image"] == worst["image"])
        // The diagonal's samples: most confident first, images that load, pages that continue one another.
        let best = try #require((0..<10).max { matrix[$0][$0] < matrix[$1][$1] })
        let all = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/\(best)/\(best)?limit=500")
            .json["samples"]?.arrayValue ?? []
        let confidences = all.compactMap { $0["probability"]?.doubleValue }
        #expect(confidences.count == matrix[best][best] && confidences == confidences.sorted(by: >))
        let page = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/\(best)/\(best)?offset=2&limit=3")
        #expect(page.json["samples"]?.arrayValue == Array(all.dropFirst(2).prefix(3)))
        let first = try #require(all.first?["image"]?.stringValue)
        #expect(try server.client.request("GET", first).status == 200)
        // Bad input: a class that is not one, and pages out of bounds, named.
        for (path, status, word) in [("10/0", 404, "10"), ("0/x", 404, "x"), ("0/0?limit=0", 400, "limit"),
                                     ("0/0?limit=501", 400, "limit"), ("0/0?offset=-1", 400, "offset"),
                                     ("0/0?split=banana", 400, "banana")] {
            let r = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/\(path)")
            #expect(r.status == status && r.text.contains(word), "\(path): \(r.status) \(r.text.prefix(200))")
        }
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/0/0?offset=100000")
            .json["samples"]?.arrayValue?.isEmpty == true)
    }

    @Test func aModelSavedWithoutOneIsEvaluatedOnRequest() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let created = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 256))
        let done = try server.wait(try #require(created.json["id"]?.stringValue), for: ["succeeded", "failed"])
        let modelID = try #require(done["model_id"]?.stringValue)
        let stored = try server.client.request("GET", "/v1/models/\(modelID)/evaluation").json
        // As a model saved before evaluations were stored: no evaluation.json, and the digest recorded without it.
        let store = try #require(server.service.store as? SQLiteStore)
        let folder = try #require(server.service.artifacts as? LocalArtifactStore).location(.model, id: modelID)
        let storedCell = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/0/0?limit=500").json
        try FileManager.default.removeItem(at: folder.appendingPathComponent(ModelEvaluation.file))
        try FileManager.default.removeItem(at: folder.appendingPathComponent(ModelEvaluation.samplesFile))
        try store.database.execute("UPDATE models SET artifact_sha256 = ? WHERE id = ?",
                                   [.text(try ArtifactDigest.of(directory: folder).sha256), .text(modelID)])
        let computed = try server.client.request("GET", "/v1/models/\(modelID)/evaluation")
        #expect(computed.status == 200, "\(computed.text.prefix(300))")
        for key in ["split", "samples", "accuracy", "confusion_matrix", "per_class"] {
            #expect(computed.json[key] == stored[key], "\(key)")
        }
        // The same images, most confident first; the probabilities agree to float32 rounding (the job evaluated
        // in its training batches, the request in larger ones).
        let again = computed.json["misclassified"]?.arrayValue ?? [], before = stored["misclassified"]?.arrayValue ?? []
        #expect(again.count == before.count && !before.isEmpty)
        for (a, b) in zip(again, before) {
            #expect(a["index"] == b["index"] && a["predicted_label"] == b["predicted_label"] && a["true_label"] == b["true_label"])
            #expect(abs((a["probability"]?.doubleValue ?? 0) - (b["probability"]?.doubleValue ?? 1)) < 1e-5)
        }
        // Computed on the split's own loss (the stored one reused the job's test loss: the same number).
        let loss = try #require(computed.json["loss"]?.doubleValue)
        #expect(abs(loss - (stored["loss"]?.doubleValue ?? .nan)) < 1e-5)
        // The cells are computed too: the same samples in the same order.
        let cell = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/0/0?limit=500")
        #expect(cell.status == 200, "\(cell.text.prefix(300))")
        #expect(cell.json["samples"]?.arrayValue?.compactMap { $0["index"]?.intValue }
            == storedCell["samples"]?.arrayValue?.compactMap { $0["index"]?.intValue })
    }

    @Test func anotherSplitIsComputedOnRequestAndKept() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        // No validation split: asking for one is a 400 naming it.
        let spec = #"{"name": "noval", "dataset": {"name": "fashion_mnist", "train_limit": 300, "test_limit": 100}, "model": {"input_shape": [784], "layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]}, "fit": {"epochs": 1}}"#
        let created = try server.client.request("POST", "/v1/jobs", body: spec)
        let id = try #require(created.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"])
        let modelID = try #require(done["model_id"]?.stringValue)
        let train = try server.client.request("GET", "/v1/models/\(modelID)/evaluation?split=train")
        #expect(train.status == 200, "\(train.text.prefix(300))")
        #expect(train.json["split"] == "train" && train.json["samples"] == 300)
        #expect(train.json["loss"]?.doubleValue != nil)
        let matrix = train.json["confusion_matrix"]?.arrayValue?.flatMap { $0.arrayValue?.compactMap(\.intValue) ?? [] }
        #expect(matrix?.reduce(0, +) == 300)
        let trainCell = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/cells/3/3?split=train").json
        #expect(trainCell["split"] == "train" && trainCell["count"]?.intValue == matrix?[33])
        // Kept: the second answer is the first (its timing included).
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/evaluation?split=train").json == train.json)
        let validation = try server.client.request("GET", "/v1/models/\(modelID)/evaluation?split=validation")
        #expect(validation.status == 400 && validation.text.contains("validation"))
        // The flat [784] input is still shown as a 28×28 image.
        let png = try server.client.request("GET", "/v1/models/\(modelID)/evaluation/images/train/0.png")
        #expect(try ImageDecoder.decode(png.body).width == 28)
    }
}
