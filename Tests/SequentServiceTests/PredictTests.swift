import Foundation
import Logging
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Predict over HTTP with a model trained for real: images uploaded as PNG and JPEG in every form the API
/// takes, and every kind of bad upload.
@Suite(.serialized) struct PredictTests {
    /// One server with one trained dense model, shared by the tests of this suite.
    final class Fixture: @unchecked Sendable {
        let server: EndToEndTests.Server
        let modelID: String
        let test: LabeledData

        init() throws {
            server = try EndToEndTests.Server()
            let spec = EndToEndTests.specText(epochs: 3, trainLimit: 6000)
            let id = try #require(try server.client.request("POST", "/v1/jobs", body: spec).json["id"]?.stringValue)
            let done = try server.wait(id, for: ["succeeded", "failed"])
            modelID = try #require(done["model_id"]?.stringValue)
            test = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 300).test
        }

        /// Test image `i` as 8-bit gray pixels.
        func pixels(_ i: Int) -> [UInt8] {
            test.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
        }
    }

    nonisolated(unsafe) static var shared: Fixture?
    static func fixture() throws -> Fixture {
        if let f = shared { return f }
        let f = try Fixture()
        shared = f
        return f
    }

    /// A multipart body as bytes (binary-safe).
    static func multipartBytes(_ files: [(name: String, filename: String, bytes: [UInt8])], boundary: String = "XyZ123") -> [UInt8] {
        var body = [UInt8]()
        for f in files {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(f.name)\"; filename=\"\(f.filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += f.bytes
            body += Array("\r\n".utf8)
        }
        return body + Array("--\(boundary)--\r\n".utf8)
    }

    @Test func uploadedPNGsAndJPEGsClassifyLikeTheTensors() throws {
        let f = try Self.fixture()
        let n = 200
        // Reference: the model on the tensors directly.
        let model = try f.server.app.predict.model(f.modelID)
        let direct = try model.model.predict(f.test.x.slice(0..<n))
        let labels = Array(f.test.y.scalars.prefix(n)).map { Int($0) }
        func accuracy(_ predicted: [Int]) -> Double {
            Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(n)
        }
        let directPred = (0..<n).map { i in argmax(Array(direct.scalars[(i * 10)..<((i + 1) * 10)])) }
        for format in ["png", "jpeg"] {
            var predicted: [Int] = []
            // Several files per request: each request is one batch.
            for chunk in stride(from: 0, to: n, by: 25) {
                let files = try (chunk..<min(n, chunk + 25)).map { i -> (name: String, filename: String, bytes: [UInt8]) in
                    let bytes = format == "png"
                        ? try ImageDecoder.encodePNG(f.pixels(i), width: 28, height: 28, colorType: .gray)
                        : try ImageDecoder.encodeJPEG(f.pixels(i), width: 28, height: 28, channels: 1, quality: 95)
                    return ("image", "t\(i).\(format)", bytes)
                }
                let r = try f.server.client.request("POST", "/v1/models/\(f.modelID)/predict?top_k=3",
                                                    bodyBytes: Self.multipartBytes(files), contentType: "multipart/form-data; boundary=XyZ123")
                #expect(r.status == 200, "\(r.text)")
                let preds = r.json["predictions"]?.arrayValue ?? []
                #expect(preds.count == files.count)
                #expect(preds.first?["input"]?.stringValue == files.first?.filename)
                #expect(preds.first?["top"]?.arrayValue?.count == 3)
                predicted += preds.map { $0["class_index"]?.intValue ?? -1 }
            }
            let gap = abs(accuracy(predicted) - accuracy(directPred))
            #expect(gap <= 0.01, "\(format): uploads \(accuracy(predicted)) vs tensors \(accuracy(directPred))")
            if format == "png" { #expect(predicted == directPred) }   // lossless: identical answers
        }
    }

    @Test func rawBodyJSONInstancesAndTFServing() throws {
        let f = try Self.fixture()
        let png = try ImageDecoder.encodePNG(f.pixels(0), width: 28, height: 28, colorType: .gray)
        let raw = try f.server.client.request("POST", "/v1/models/\(f.modelID)/predict", bodyBytes: png, contentType: "image/png")
        #expect(raw.status == 200)
        let label = raw.json["predictions"]?[0]?["label"]?.stringValue
        #expect(raw.json["predictions"]?.arrayValue?.first?["input"] == "body")
        // The same image as numbers, and by job name instead of id.
        let numbers = f.test.x.scalars[0..<784].map { String($0) }.joined(separator: ",")
        let json = try f.server.client.request("POST", "/v1/models/e2e/predict", body: "{\"instances\": [[\(numbers)]]}")
        #expect(json.status == 200)
        #expect(json.json["predictions"]?.arrayValue?.first?["label"]?.stringValue == label)
        // TF Serving: b64 image and numbers; predictions are probability vectors.
        let b64 = Data(png).base64EncodedString()
        let tf = try f.server.client.request("POST", "/v1/models/\(f.modelID):predict", body: "{\"instances\": [{\"b64\": \"\(b64)\"}, [\(numbers)]]}")
        #expect(tf.status == 200, "\(tf.text)")
        let rows = tf.json["predictions"]?.arrayValue ?? []
        #expect(rows.count == 2 && rows.allSatisfy { $0.arrayValue?.count == 10 })
        let sum = rows[0].arrayValue?.compactMap(\.doubleValue).reduce(0, +) ?? 0
        #expect(abs(sum - 1) < 1e-4)
        let tfErr = try f.server.client.request("POST", "/v1/models/nope:predict", body: "{\"instances\": [[1]]}")
        #expect(tfErr.status == 404)
        #expect(tfErr.json["error"]?.stringValue?.contains("nope") == true)   // TF Serving's {"error": "…"}
        let tfBad = try f.server.client.request("POST", "/v1/models/\(f.modelID):predict", body: "{\"instances\": [[1, 2]]}")
        #expect(tfBad.status == 400 && tfBad.json["error"]?.stringValue != nil)
    }

    @Test func badUploadsGet4xxNamingThePart() throws {
        let f = try Self.fixture()
        let c = f.server.client
        let url = "/v1/models/\(f.modelID)/predict"
        let gif = Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 20)
        let good = try ImageDecoder.encodeJPEG(f.pixels(1), width: 28, height: 28, channels: 1, quality: 90)
        func check(_ bytes: [UInt8], _ status: Int, _ fragment: String, file: String = "x.bin") throws {
            let r = try c.request("POST", url, bodyBytes: Self.multipartBytes([("image", file, bytes)]),
                                  contentType: "multipart/form-data; boundary=XyZ123")
            #expect(r.status == status, "\(file): \(r.text)")
            if !fragment.isEmpty { #expect(r.json["error"]?["message"]?.stringValue?.contains(fragment) == true, "\(r.text)") }
            #expect(r.json["error"]?["message"]?.stringValue?.hasPrefix(file) == true, "\(r.text)")
        }
        try check(gif, 415, "gif", file: "cat.gif")
        try check(Array(good.prefix(good.count / 2)), 400, "JPEG", file: "half.jpg")
        var scribbled = good
        for i in stride(from: 20, to: scribbled.count - 2, by: 7) { scribbled[i] ^= 0x5A }
        try check(scribbled, 400, "", file: "scribbled.jpg")
        try check([], 400, "empty", file: "empty.png")
        try check([0x89], 415, "unrecognised", file: "one-byte.png")   // too short to be anything
        // A PNG header claiming 30000×30000 is refused before anything is allocated.
        var bomb = try ImageDecoder.encodePNG([0, 0, 0, 0], width: 2, height: 2, colorType: .gray)
        bomb.replaceSubrange(16..<24, with: [0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30])
        let crc = PredictTests.crc32(Array(bomb[12..<29]))
        bomb.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        try check(bomb, 413, "limit", file: "bomb.png")
        // Multipart problems.
        let noFile = "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b--\r\n"
        let r1 = try c.request("POST", url, body: noFile, contentType: "multipart/form-data; boundary=b")
        #expect(r1.status == 400 && r1.json["error"]?["code"] == "no_image")
        let r2 = try c.request("POST", url, body: noFile, contentType: "multipart/form-data")
        #expect(r2.status == 400 && r2.json["error"]?["code"] == "invalid_multipart")
        let r3 = try c.request("POST", url, body: "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a\"\r\n\r\nxx", contentType: "multipart/form-data; boundary=b")
        #expect(r3.status == 400)
        // Everything else.
        #expect(try c.request("POST", url, body: "", contentType: "image/png").status == 400)
        #expect(try c.request("POST", url, body: "x", contentType: "text/csv").status == 415)
        #expect(try c.request("POST", "/v1/models/m_nope/predict", bodyBytes: good, contentType: "image/jpeg").status == 404)
        #expect(try c.request("POST", url + "?top_k=0", bodyBytes: good, contentType: "image/jpeg").status == 400)
        #expect(try c.request("POST", url + "?invert=maybe", bodyBytes: good, contentType: "image/jpeg").status == 400)
        #expect(try c.request("POST", url, body: "{\"instances\": [[1, 2, 3]]}").status == 400)
        #expect(try c.request("POST", url, body: "{\"instances\": [{\"b64\": \"!!!\"}]}").status == 400)
        // And the server is still fine.
        #expect(try c.request("POST", url, bodyBytes: good, contentType: "image/jpeg").status == 200)
    }

    @Test func aPhotoOnWhiteIsInvertedAutomatically() throws {
        let f = try Self.fixture()
        // A dark boot on a white background (the test image inverted), as a phone photo would look.
        let inverted = f.pixels(0).map { 255 - $0 }
        let png = try ImageDecoder.encodePNG(inverted, width: 28, height: 28, colorType: .gray)
        let url = "/v1/models/\(f.modelID)/predict"
        let auto = try f.server.client.request("POST", url, bodyBytes: png, contentType: "image/png").json
        let original = try f.server.client.request("POST", url, bodyBytes: try ImageDecoder.encodePNG(f.pixels(0), width: 28, height: 28, colorType: .gray), contentType: "image/png").json
        #expect(auto["predictions"]?[0]?["label"] == original["predictions"]?[0]?["label"])
        let forced = try f.server.client.request("POST", url + "?invert=false", bodyBytes: png, contentType: "image/png").json
        #expect(forced["predictions"]?[0]?["probability"] != auto["predictions"]?[0]?["probability"])
    }

    @Test func concurrentRequestsShareBatchesAndGetTheirOwnAnswers() throws {
        let f = try Self.fixture()
        let model = try f.server.app.predict.model(f.modelID)
        let inputs = (0..<64).map { i in Array(f.test.x.scalars[(i * 784)..<((i + 1) * 784)]) }
        let expected = inputs.map { f.server.app.predict.outputs([$0], model: model)[0] }
        nonisolated(unsafe) var got = [[Float]](repeating: [], count: 64)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let out = f.server.app.predict.outputs([inputs[i]], model: model)[0]
            lock.withLock { got[i] = out }
        }
        for i in 0..<64 { for (a, b) in zip(got[i], expected[i]) { #expect(abs(a - b) < 1e-5) } }
    }

    @Test func modelCacheEvictsTheLeastRecentlyUsed() throws {
        let f = try Self.fixture()
        let record = try #require(try f.server.service.store.model(id: f.modelID))
        let cache = ModelCache(budgetBytes: 150_000)   // one 25k-parameter model (100 kB) fits, two do not
        _ = try cache.model(for: record)
        var other = record
        other.id = "copy"
        _ = try cache.model(for: other)
        #expect(cache.count == 1)
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}

func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }

/// The `{"b64": …}` decoder of the predict routes against Foundation's, which it replaced.
@Suite struct Base64Tests {
    @Test func decodesWhatFoundationDecodes() {
        var random = SystemRandomNumberGenerator()
        for count in [0, 1, 2, 3, 4, 5, 100, 3001] {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            let text = Data(bytes).base64EncodedString()
            #expect(Base64.decode(text) == bytes, "\(count) bytes")
            let wrapped = Data(bytes).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn])
            #expect(Base64.decode(wrapped) == bytes, "\(count) bytes, line breaks")
        }
        // Foundation with .ignoreUnknownCharacters on the edge cases: padding ends the data, unknown characters
        // are skipped, a group left without its padding is refused.
        for text in ["QQ==", "QQ", "QQ=", "Q", "QQ==QQ==", "Q Q = =", "QUJD", "QUJ", "QUI=", "-_-_", "=QQ=", "QU=I",
                     "QUJD=", "QUJD===", "QR==", "QUJ=x", "", "QUJDRA==\n", "QUJDRA"] {
            let foundation = Data(base64Encoded: text, options: .ignoreUnknownCharacters).map { [UInt8]($0) }
            #expect(Base64.decode(text) == foundation, "\(text.debugDescription)")
        }
        // Only unknown characters: nothing (Foundation says nil for some lengths); either way the route answers 400.
        #expect(Base64.decode("!!!") == [])
    }
}
