import Foundation
import Testing
@testable import SequentData
@testable import SequentNN
@testable import SequentService

/// The Open Inference Protocol v2 routes over HTTP, against a model trained through the service: metadata,
/// readiness, `infer` with JSON and with binary tensors (as tritonclient sends them), the classification
/// extension, and the refusals.
@Suite(.serialized) struct InferenceProtocolTests {
    /// A server with one trained model: (server, model id, job name).
    static func trained() throws -> (EndToEndTests.Server, String, String) {
        let server = try EndToEndTests.Server()
        let created = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 256))
        let done = try server.wait(try #require(created.json["id"]?.stringValue), for: ["succeeded", "failed"])
        return (server, try #require(done["model_id"]?.stringValue), "e2e")
    }

    /// Sample images: `n` × 784 values in [0, 1].
    static func samples(_ n: Int) -> [Float] {
        (0..<(n * 784)).map { Float(($0 * 7919) % 256) / 255 }
    }

    /// A v2 body with the input as binary data after the JSON header, as tritonclient.http sends it.
    static func binaryBody(_ values: [Float], n: Int, outputs: String? = nil) -> (body: [UInt8], headerLength: Int) {
        let outputsPart = outputs.map { #", "outputs": \#($0)"# } ?? #", "parameters": {"binary_data_output": true}"#
        let json = #"{"inputs": [{"name": "input", "shape": [\#(n), 28, 28, 1], "datatype": "FP32", "parameters": {"binary_data_size": \#(values.count * 4)}}]\#(outputsPart)}"#
        let header = Array(json.utf8)
        return (header + values.withUnsafeBytes { Array($0) }, header.count)
    }

    @Test func metadataHealthAndReadiness() throws {
        let (server, modelID, name) = try Self.trained()
        defer { server.stop() }
        let c = server.client
        #expect(try c.request("GET", "/v2/health/live").json["live"] == true)
        #expect(try c.request("GET", "/v2/health/ready").json["ready"] == true)
        let meta = try c.request("GET", "/v2")
        #expect(meta.json["name"] == "sequent" && meta.json["extensions"]?.arrayValue?.contains("binary_tensor_data") == true)
        for path in ["/v2/models/\(name)", "/v2/models/\(modelID)", "/v2/models/\(name)/versions/\(modelID)"] {
            let m = try c.request("GET", path)
            #expect(m.status == 200, "\(path): \(m.text)")
            #expect(m.json["versions"] == [.string(modelID)])
            #expect(m.json["inputs"]?[0]?["name"] == "input" && m.json["inputs"]?[0]?["datatype"] == "FP32")
            #expect(m.json["inputs"]?[0]?["shape"] == .ints([-1, 28, 28, 1]))
            #expect(m.json["outputs"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["output", "probabilities"])
            #expect(m.json["outputs"]?[0]?["shape"] == .ints([-1, 10]))
            #expect(try c.request("GET", path + "/ready").json["ready"] == true)
        }
        let missing = try c.request("GET", "/v2/models/nope")
        #expect(missing.status == 404 && missing.json["error"]?.stringValue?.contains("nope") == true)
        let wrongVersion = try c.request("GET", "/v2/models/\(name)/versions/m_other/ready")
        #expect(wrongVersion.status == 404 && wrongVersion.json["error"]?.stringValue?.contains("m_other") == true)
    }

    @Test func inferWithJSONAndBinaryTensorsGivesThePredictRouteOutputs() throws {
        let (server, modelID, name) = try Self.trained()
        defer { server.stop() }
        let c = server.client
        let x = Self.samples(3)
        // The reference: TF Serving's route on the same tensors (its `predictions` are the raw outputs).
        let rows = (0..<3).map { i in "[" + x[(i * 784)..<((i + 1) * 784)].map { String($0) }.joined(separator: ",") + "]" }
        let tf = try c.request("POST", "/v1/models/\(modelID):predict", body: #"{"instances": [\#(rows.joined(separator: ","))]}"#)
        #expect(tf.status == 200, "\(tf.text.prefix(300))")
        let expected = (tf.json["predictions"]?.arrayValue ?? []).flatMap { $0.arrayValue?.compactMap(\.doubleValue) ?? [] }
        #expect(expected.count == 30)

        // JSON in, JSON out (flat data, as the protocol allows), with the request id echoed.
        let flat = x.map { String($0) }.joined(separator: ",")
        let r = try c.request("POST", "/v2/models/\(name)/infer",
                              body: #"{"id": "r1", "inputs": [{"name": "input", "shape": [3, 28, 28, 1], "datatype": "FP32", "data": [\#(flat)]}]}"#)
        #expect(r.status == 200, "\(r.text.prefix(300))")
        #expect(r.json["model_name"]?.stringValue == name && r.json["model_version"]?.stringValue == modelID && r.json["id"] == "r1")
        let out = try #require(r.json["outputs"]?.arrayValue)
        #expect(out.compactMap { $0["name"]?.stringValue } == ["output", "probabilities"])
        #expect(out[0]["shape"] == .ints([3, 10]) && out[0]["datatype"] == "FP32")
        let got = out[0]["data"]?.arrayValue?.compactMap(\.doubleValue) ?? []
        #expect(got.count == 30 && zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        // Nested data gives the same answer.
        let nested = try c.request("POST", "/v2/models/\(name)/infer",
                                   body: #"{"inputs": [{"name": "input", "shape": [3, 28, 28, 1], "datatype": "FP32", "data": [\#(rows.joined(separator: ","))]}]}"#)
        #expect(nested.json["outputs"]?[0]?["data"] == out[0]["data"])

        // Binary in, binary out: the JSON header, then each output's FP32 bytes in order.
        let (body, length) = Self.binaryBody(x, n: 3)
        let b = try c.request("POST", "/v2/models/\(name)/versions/\(modelID)/infer", bodyBytes: body,
                              contentType: "application/octet-stream",
                              headers: ["Inference-Header-Content-Length": String(length)])
        #expect(b.status == 200, "\(b.text.prefix(300))")
        let split = try #require(b.headers["inference-header-content-length"].flatMap(Int.init))
        let header = try JSONValue.parse(Data(b.body[0..<split]))
        let sizes = (header["outputs"]?.arrayValue ?? []).compactMap { $0["parameters"]?["binary_data_size"]?.intValue }
        #expect(sizes == [120, 120] && b.body.count == split + 240)
        let floats = b.body[split...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(zip(floats.prefix(30), expected).allSatisfy { abs(Double($0) - $1) <= 1e-6 * max(1, abs($1)) })
        // The probabilities of a softmax model are its outputs; each row sums to 1.
        #expect(floats[30..<40].reduce(0, +) > 0.999 && floats[30..<40].reduce(0, +) < 1.001)
    }

    @Test func classificationExtension() throws {
        let (server, _, name) = try Self.trained()
        defer { server.stop() }
        let x = Self.samples(2)
        let (body, length) = Self.binaryBody(x, n: 2, outputs: #"[{"name": "probabilities", "parameters": {"classification": 3, "binary_data": false}}]"#)
        let r = try server.client.request("POST", "/v2/models/\(name)/infer", bodyBytes: body,
                                          headers: ["Inference-Header-Content-Length": String(length)])
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let o = try #require(r.json["outputs"]?[0])
        #expect(o["datatype"] == "BYTES" && o["shape"] == .ints([2, 3]))
        let strings = o["data"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(strings.count == 6)
        let first = strings[0].split(separator: ":")
        #expect(first.count == 3 && FashionMNIST.classNames.contains(String(first[2])))
        let scores = strings.prefix(3).compactMap { Double($0.split(separator: ":")[0]) }
        #expect(scores == scores.sorted(by: >))
        #expect(InferenceProtocol.classification([0.1, 0.7, 0.2], k: 2, labels: ["a", "b", "c"]) == ["0.7:1:b", "0.2:2:c"])
    }

    @Test func badRequestsAreRefusedNamingWhatIsWrong() throws {
        let (server, _, name) = try Self.trained()
        defer { server.stop() }
        let c = server.client
        let path = "/v2/models/\(name)/infer"
        func input(_ fields: String) -> String { #"{"inputs": [{\#(fields)}]}"# }
        let ones = Array(repeating: "1", count: 784).joined(separator: ",")
        let cases: [(String, String)] = [
            ("not json", "inference request"),
            (#"{"inputs": []}"#, "inputs"),
            (input(#""name": "pixels", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [\#(ones)]"#), "pixels"),
            (input(#""name": "input", "shape": [1, 28, 28, 1], "datatype": "INT64", "data": [\#(ones)]"#), "INT64"),
            (input(#""name": "input", "shape": [1, 784], "datatype": "FP32", "data": [\#(ones)]"#), "[1, 784]"),
            (input(#""name": "input", "shape": [2, 28, 28, 1], "datatype": "FP32", "data": [\#(ones)]"#), "784 values"),
            (input(#""name": "input", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": ["a"]"#), "numbers"),
            (input(#""name": "input", "shape": [1, 28, 28, 1], "datatype": "FP32""#), "data"),
            (input(#""name": "input", "shape": [0, 28, 28, 1], "datatype": "FP32", "data": []"#), "1 ≤ N"),
            (#"{"inputs": [{"name": "input", "shape": [1, 28, 28, 1], "datatype": "FP32", "data": [\#(ones)]}], "outputs": [{"name": "logits"}]}"#, "logits"),
        ]
        for (body, word) in cases {
            let r = try c.request("POST", path, body: body)
            #expect(r.status == 400, "\(body.prefix(80)): \(r.status)")
            #expect(r.json["error"]?.stringValue?.contains(word) == true, "\(word): \(r.text.prefix(300))")
        }
        // Binary framing that does not add up.
        var (body, length) = Self.binaryBody(Self.samples(1), n: 1)
        body.removeLast(4)
        let short = try c.request("POST", path, bodyBytes: body, headers: ["Inference-Header-Content-Length": String(length)])
        #expect(short.status == 400 && short.json["error"]?.stringValue?.contains("binary data") == true)
        let beyond = try c.request("POST", path, bodyBytes: body, headers: ["Inference-Header-Content-Length": "99999999"])
        #expect(beyond.status == 400 && beyond.json["error"]?.stringValue?.contains("Inference-Header-Content-Length") == true)
        var nan = Self.samples(1)
        nan[5] = .nan
        let (nanBody, nanLength) = Self.binaryBody(nan, n: 1)
        let nonFinite = try c.request("POST", path, bodyBytes: nanBody, headers: ["Inference-Header-Content-Length": String(nanLength)])
        #expect(nonFinite.status == 400 && nonFinite.json["error"]?.stringValue?.contains("non-finite") == true)
        #expect(try c.request("POST", "/v2/models/nope/infer", body: "{}").status == 404)
    }
}
