import Foundation
import Logging
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Models compiled with a `from_logits` loss (a linear last layer) answer predict with probabilities in every
/// form: multipart, raw image, JSON instances and TF Serving.
@Suite struct LogitsPredictTests {
    /// A 4×4 grayscale model, Flatten → Dense(`units`, linear), with known weights, saved and registered as
    /// `id`; returns the app (not listening: requests go through `handle`).
    static func app(units: Int, kernel: [Float], bias: [Float], loss: Loss, id: String) throws -> (HTTPApp, URL, Sequential) {
        let capture = ErrorResponseTests.LogCapture()
        let (app, dir) = try ErrorResponseTests.makeApp(capture)
        let model = try Sequential(inputShape: [4, 4, 1], layers: [Flatten(), Dense(units: units)])
        try model.compile(optimizer: Adam(), loss: loss, metrics: ["accuracy"])
        try model.setWeights(ofLayer: 1, [Tensor(shape: [16, units], scalars: kernel), Tensor(shape: [units], scalars: bias)])
        let path = dir.appendingPathComponent("models/\(id)")
        let names: [JSONValue] = (0..<max(units, 2)).map { .string("c\($0)") }
        try ModelArchive.save(model, to: path, metadata: ["class_names": .array(names),
                                                          "preprocessing": ["rescale": .number(1.0 / 255), "background": "dark"]])
        let job = try app.service.submit(TrainingServiceTests.spec(epochs: 1))
        try app.service.store.addModel(ModelRecord(id: id, jobID: job.id, name: "logits", path: path.path,
                                                   sha256: String(repeating: "0", count: 64), metadataJSON: "{}"))
        return (app, dir, model)
    }

    static func post(_ app: HTTPApp, _ target: String, _ body: [UInt8], _ type: String) throws -> JSONValue {
        let response = app.handle(try HTTPRequest(method: "POST", target: target, headers: ["Content-Type": type], body: body))
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        return try JSONValue.parse(Data(response.body))
    }

    static func softmax(_ z: [Float]) -> [Double] {
        let m = Double(z.max()!)
        let e = z.map { exp(Double($0) - m) }
        return e.map { $0 / e.reduce(0, +) }
    }

    @Test func aLogitsModelAnswersProbabilitiesThatSumToOneInEveryForm() throws {
        // Large weights make the logits far from probabilities (the old answer reported them as they were).
        var rng = SeededGenerator(seed: 7)
        let kernel = (0..<(16 * 10)).map { _ in rng.uniform(-3, 3) }
        let bias = (0..<10).map { Float($0) * 0.5 }
        let (app, dir, model) = try Self.app(units: 10, kernel: kernel, bias: bias,
                                             loss: SparseCategoricalCrossentropy(fromLogits: true), id: "m_logits")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pixels: [UInt8] = (0..<16).map { UInt8($0 * 16) }
        let x = pixels.map { Float($0) / 255 }
        let raw = try model.predict(Tensor(shape: [1, 4, 4, 1], scalars: x)).scalars
        #expect(abs(raw.reduce(0, +) - 1) > 0.5)   // the fixture really outputs logits
        let expected = Self.softmax(raw)
        let best = expected.indices.max { expected[$0] < expected[$1] }!

        let png = try ImageDecoder.encodePNG(pixels, width: 4, height: 4, colorType: .gray)
        let numbers = x.map { String($0) }.joined(separator: ",")
        let answers = [
            try Self.post(app, "/v1/models/m_logits/predict?top_k=10", png, "image/png"),
            try Self.post(app, "/v1/models/m_logits/predict?top_k=10", PredictTests.multipartBytes([("image", "a.png", png)]),
                          "multipart/form-data; boundary=XyZ123"),
            try Self.post(app, "/v1/models/m_logits/predict?top_k=10&invert=false", Array("{\"instances\": [[\(numbers)]]}".utf8),
                          "application/json"),
        ]
        for answer in answers {
            let p = try #require(answer["predictions"]?[0])
            let top = try #require(p["top"]?.arrayValue)
            #expect(top.count == 10)
            let sum = top.compactMap { $0["probability"]?.doubleValue }.reduce(0, +)
            #expect(abs(sum - 1) < 1e-6)
            for t in top {
                let i = try #require(t["class_index"]?.intValue)
                #expect(abs((t["probability"]?.doubleValue ?? -1) - expected[i]) < 1e-5)
            }
            #expect(p["class_index"]?.intValue == best)
            #expect(abs((p["probability"]?.doubleValue ?? -1) - expected[best]) < 1e-5)
        }

        // TF Serving: the raw logits as predictions (what TF Serving answers), and the probabilities beside them.
        let tf = try Self.post(app, "/v1/models/m_logits:predict", Array("{\"instances\": [[\(numbers)]]}".utf8), "application/json")
        let logits = (tf["predictions"]?[0]?.arrayValue ?? []).compactMap(\.doubleValue)
        let probabilities = (tf["probabilities"]?[0]?.arrayValue ?? []).compactMap(\.doubleValue)
        #expect(logits.count == 10 && probabilities.count == 10)
        #expect(zip(logits, raw).allSatisfy { abs($0 - Double($1)) < 1e-5 })
        #expect(zip(probabilities, expected).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-6)
    }

    @Test func aOneUnitLogitModelFlipsItsLabelAtLogitZero() throws {
        // Zero kernel: the logit is the bias whatever the image. 0.3 is class 1 (sigmoid 0.574), although a
        // threshold of 0.5 on the raw output would call it class 0; −0.3 is class 0.
        for (bias, label) in [(Float(0.3), 1), (-0.3, 0), (0.01, 1), (-0.01, 0)] {
            let (app, dir, _) = try Self.app(units: 1, kernel: Array(repeating: 0, count: 16), bias: [bias],
                                             loss: BinaryCrossentropy(fromLogits: true), id: "m_bin")
            defer { try? FileManager.default.removeItem(at: dir) }
            let zeros = Array(repeating: "0", count: 16).joined(separator: ",")
            let answer = try Self.post(app, "/v1/models/m_bin/predict", Array("{\"instances\": [[\(zeros)]]}".utf8), "application/json")
            let p = try #require(answer["predictions"]?[0])
            #expect(p["class_index"]?.intValue == label, "logit \(bias)")
            #expect(p["label"]?.stringValue == "c\(label)")
            #expect(abs((p["probability"]?.doubleValue ?? -1) - 1 / (1 + exp(-Double(bias)))) < 1e-6)
            let tf = try Self.post(app, "/v1/models/m_bin:predict", Array("{\"instances\": [[\(zeros)]]}".utf8), "application/json")
            #expect(abs((tf["probabilities"]?[0]?[0]?.doubleValue ?? -1) - 1 / (1 + exp(-Double(bias)))) < 1e-6)
        }
    }

    @Test func aModelSavedWithoutCompileSettingsReadsItsJobsLoss() throws {
        // An archive without "compile" (copied in by hand): whether it outputs logits comes from its job's spec.
        let capture = ErrorResponseTests.LogCapture()
        let (app, dir) = try ErrorResponseTests.makeApp(capture)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Sequential(inputShape: [4, 4, 1], layers: [Flatten(), Dense(units: 3)])
        try model.setWeights(ofLayer: 1, [Tensor(shape: [16, 3], scalars: Array(repeating: 0, count: 48)), Tensor(shape: [3], scalars: [0, 1, 2])])
        let path = dir.appendingPathComponent("models/m_old")
        try ModelArchive.save(model, to: path)   // not compiled: no compile block
        #expect(try JSONValue.parse(Data(contentsOf: path.appendingPathComponent("config.json")))["compile"] == nil)
        guard case .object(var spec) = TrainingServiceTests.spec(epochs: 1) else { fatalError() }
        spec["compile"] = ["loss": ["type": "categorical_crossentropy", "from_logits": true]]
        spec["model"] = ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 10]]]
        let job = try app.service.submit(.object(spec))
        try app.service.store.addModel(ModelRecord(id: "m_old", jobID: job.id, name: "old", path: path.path,
                                                   sha256: String(repeating: "0", count: 64), metadataJSON: "{}"))
        let zeros = Array(repeating: "0", count: 16).joined(separator: ",")
        let tf = try Self.post(app, "/v1/models/m_old:predict", Array("{\"instances\": [[\(zeros)]]}".utf8), "application/json")
        let probabilities = (tf["probabilities"]?[0]?.arrayValue ?? []).compactMap(\.doubleValue)
        let expected = Self.softmax([0, 1, 2])
        #expect(probabilities.count == 3 && zip(probabilities, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func aSoftmaxModelIsReportedAsItIs() throws {
        // Not from_logits: outputs already are probabilities and must not be squashed a second time.
        let (app, dir, _) = try Self.app(units: 3, kernel: Array(repeating: 0.1, count: 48), bias: [0, 1, 2],
                                         loss: MeanSquaredError(), id: "m_plain")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zeros = Array(repeating: "0", count: 16).joined(separator: ",")
        let tf = try Self.post(app, "/v1/models/m_plain:predict", Array("{\"instances\": [[\(zeros)]]}".utf8), "application/json")
        #expect(tf["probabilities"] == tf["predictions"])
        #expect(tf["predictions"]?[0]?[2]?.doubleValue == 2)
    }
}
