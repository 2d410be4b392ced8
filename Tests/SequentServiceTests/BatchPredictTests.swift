import Foundation
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService

/// `POST /v1/models/{id}/predict/batch` over a real socket with a trained model, archives made by Python's zipfile
/// and tarfile; and `?include_input=true` on single predict.
@Suite(.serialized) struct BatchPredictTests {
    final class Fixture: @unchecked Sendable {
        let server: EndToEndTests.Server
        let modelID: String
        let test: LabeledData

        init() throws {
            server = try EndToEndTests.Server { $0.maxDatasetEntries = 20 }
            let id = try #require(try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1)).json["id"]?.stringValue)
            let done = try server.wait(id, for: ["succeeded", "failed"])
            modelID = try #require(done["model_id"]?.stringValue)
            test = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 20).test
        }

        /// Test image `i` as a 28×28 gray PNG.
        func png(_ i: Int) throws -> [UInt8] {
            let pixels = test.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
            return try ImageDecoder.encodePNG(pixels, width: 28, height: 28, colorType: .gray)
        }
    }

    nonisolated(unsafe) static var shared: Fixture?
    static func fixture() throws -> Fixture {
        if let f = shared { return f }
        let f = try Fixture()
        shared = f
        return f
    }

    /// An archive of `entries` (`kind` "zip" or "tgz"), written by Python, which keeps names such as `../x.png`.
    static func archive(_ kind: String, _ entries: [(name: String, bytes: [UInt8])]) throws -> [UInt8] {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var manifest: [JSONValue] = []
        for (i, e) in entries.enumerated() {
            let file = dir.appendingPathComponent("e\(i)")
            try Data(e.bytes).write(to: file)
            manifest.append(.array([.string(e.name), .string(file.path)]))
        }
        let list = dir.appendingPathComponent("manifest.json")
        try Data(JSONValue.array(manifest).serialized().utf8).write(to: list)
        let out = dir.appendingPathComponent("out")
        let script = """
            import json, sys, tarfile, zipfile
            kind, listing, out = sys.argv[1:4]
            entries = json.load(open(listing))
            if kind == 'zip':
                with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
                    for name, path in entries: z.writestr(zipfile.ZipInfo(name), open(path, 'rb').read())
            else:
                with tarfile.open(out, 'w:gz') as t:
                    for name, path in entries:
                        info = tarfile.TarInfo(name); data = open(path, 'rb').read(); info.size = len(data)
                        import io; t.addfile(info, io.BytesIO(data))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, kind, list.path, out.path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return [UInt8](try Data(contentsOf: out))
    }

    func post(_ f: Fixture, _ body: [UInt8], type: String, query: String = "") throws -> HTTPClient.Response {
        try f.server.client.request("POST", "/v1/models/\(f.modelID)/predict/batch\(query)", bodyBytes: body, contentType: type)
    }

    @Test func zipAndTarGzAsJSONWithTheBadFilesListed() throws {
        let f = try Self.fixture()
        let entries: [(name: String, bytes: [UInt8])] = [
            ("shirts/0.png", try f.png(0)), ("shirts/1.png", try f.png(1)), ("notes.txt", Array("hello".utf8)),
            ("broken.png", Array(try f.png(2).prefix(40))), ("__MACOSX/._0.png", [0, 1, 2]), ("2.png", try f.png(2)),
        ]
        // The same images one by one through single predict: the batch must agree with it.
        var single: [String: JSONValue] = [:]
        for (name, bytes) in entries where name.hasSuffix("png") && !name.hasPrefix("__") && name != "broken.png" {
            let r = try f.server.client.request("POST", "/v1/models/\(f.modelID)/predict", bodyBytes: bytes, contentType: "image/png")
            single[name] = r.json["predictions"]?[0]
        }
        for (kind, type) in [("zip", "application/zip"), ("tgz", "application/gzip")] {
            let r = try post(f, try Self.archive(kind, entries), type: type, query: "?top_k=2")
            #expect(r.status == 200, "\(kind): \(r.text)")
            #expect(r.json["model_id"]?.stringValue == f.modelID)
            #expect(r.json["count"]?.doubleValue == 3)
            let predictions = r.json["predictions"]?.arrayValue ?? []
            #expect(predictions.compactMap { $0["file"]?.stringValue } == ["shirts/0.png", "shirts/1.png", "2.png"])
            for p in predictions {
                let file = p["file"]?.stringValue ?? ""
                #expect(p["label"] == single[file]?["label"], "\(file)")
                // A batch sums in another order than a single input: equal to float rounding.
                let difference = abs((p["probability"]?.doubleValue ?? 0) - (single[file]?["probability"]?.doubleValue ?? 1))
                #expect(difference < 1e-5, "\(file)")
                #expect(p["top"]?.arrayValue?.count == 2)
            }
            let errors = r.json["errors"]?.arrayValue ?? []
            #expect(errors.compactMap { $0["file"]?.stringValue } == ["notes.txt", "broken.png"])
            #expect(errors.allSatisfy { !($0["reason"]?.stringValue ?? "").isEmpty })
        }
        // Multipart: one file part.
        let zip = try Self.archive("zip", entries)
        let form = PredictTests.multipartBytes([("file", "images.zip", zip)])
        let r = try post(f, form, type: "multipart/form-data; boundary=XyZ123")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["count"]?.doubleValue == 3)
        // Nothing of the extraction is left in the datasets folder.
        let root = f.server.service.configuration.datasetsRoot
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func csvHasAColumnPerClassAndTheErrors() throws {
        let f = try Self.fixture()
        let zip = try Self.archive("zip", [("a,\"b\".png", try f.png(0)), ("=cmd|' /C calc'!A0.png", try f.png(1)),
                                           ("junk.bin", [1, 2, 3])])
        let r = try post(f, zip, type: "application/zip", query: "?format=csv")
        #expect(r.status == 200, "\(r.text)")
        #expect(r.headers["content-type"]?.hasPrefix("text/csv") == true)
        #expect(r.headers["content-disposition"]?.hasPrefix("attachment") == true)
        #expect(r.text.hasSuffix("\r\n"))
        let lines = r.text.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count == 4)
        // A file name a spreadsheet would run as a formula is written as text.
        #expect(lines.contains { $0.hasPrefix("\"'=cmd|' /C calc'!A0.png\",") || $0.hasPrefix("'=cmd|' /C calc'!A0.png,") })
        #expect(!lines.contains { $0.hasPrefix("=") })
        #expect(lines.first == "file,label,probability," + FashionMNIST.classNames.joined(separator: ",") + ",error")
        let row = lines.dropFirst().first ?? ""
        #expect(row.hasPrefix("\"a,\"\"b\"\".png\","))
        let cells = row.dropFirst("\"a,\"\"b\"\".png\",".count).split(separator: ",", omittingEmptySubsequences: false)
        #expect(cells.count == 2 + 10 + 1)
        let probabilities = cells[2..<12].compactMap { Double($0) }
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-4)
        #expect(Double(cells[1]) == probabilities.max())
        #expect(cells.last == "")
        let bad = lines.last ?? ""
        #expect(bad.hasPrefix("junk.bin,,," + String(repeating: ",", count: 10)))
        #expect(bad.count > "junk.bin,,,".count + 10)
    }

    @Test func refusedArchivesAndRequests() throws {
        let f = try Self.fixture()
        let png = try f.png(0)
        let traversal = try post(f, try Self.archive("zip", [("../x.png", png)]), type: "application/zip")
        #expect(traversal.status == 400)
        #expect(traversal.json["error"]?["message"]?.stringValue == "../x.png: '..' in a path is not allowed")
        let empty = try post(f, try Self.archive("zip", []), type: "application/zip")
        #expect(empty.status == 400)
        #expect(empty.json["error"]?["code"]?.stringValue == "empty_archive")
        let many = try post(f, try Self.archive("tgz", (0..<21).map { ("\($0).png", png) }), type: "application/gzip")
        #expect(many.status == 400)
        #expect(many.json["error"]?["message"]?.stringValue == "the archive has more than 20 entries")
        let wrongType = try post(f, try Self.archive("zip", [("a.png", png)]), type: "text/plain")
        #expect(wrongType.status == 415)
        #expect(wrongType.json["error"]?["code"]?.stringValue == "unsupported_media_type")
        let notArchive = try post(f, png, type: "application/zip")
        #expect(notArchive.status == 415)
        #expect(notArchive.json["error"]?["message"]?.stringValue?.contains("not a zip, tar or tar.gz") == true)
        let corrupt = try post(f, Array(try Self.archive("tgz", [("a.png", png)]).dropLast(12)), type: "application/gzip")
        #expect(corrupt.status == 400, "\(corrupt.text)")
        let format = try post(f, try Self.archive("zip", [("a.png", png)]), type: "application/zip", query: "?format=xml")
        #expect(format.status == 400)
        #expect(format.json["error"]?["field"]?.stringValue == "format")
        let limit = f.server.service.configuration.maxUploadBytes
        let big = try post(f, [UInt8](repeating: 0, count: limit + 1), type: "application/zip")
        #expect(big.status == 413)
    }

    @Test func includeInputIsWhatPreprocessAnswers() throws {
        let f = try Self.fixture()
        let bytes = try f.png(3)
        let path = "/v1/models/\(f.modelID)"
        let plain = try f.server.client.request("POST", "\(path)/predict", bodyBytes: bytes, contentType: "image/png")
        #expect(plain.json["predictions"]?[0]?["model_input"] == nil)
        let preprocessed = try f.server.client.request("POST", "\(path)/preprocess?invert=true", bodyBytes: bytes, contentType: "image/png")
        let form = PredictTests.multipartBytes([("image", "a.png", bytes), ("image", "b.png", bytes)])
        for (body, type) in [(bytes, "image/png"), (form, "multipart/form-data; boundary=XyZ123")] {
            let r = try f.server.client.request("POST", "\(path)/predict?include_input=true&invert=true", bodyBytes: body, contentType: type)
            #expect(r.status == 200, "\(r.text)")
            for p in r.json["predictions"]?.arrayValue ?? [] {
                guard case .object(var expected)? = preprocessed.json["inputs"]?[0] else { Issue.record("no input"); continue }
                expected["input"] = nil
                #expect(p["model_input"] == .object(expected))
                #expect(p["model_input"]?["inverted"] == .bool(true))
            }
        }
        let b64 = Data(bytes).base64EncodedString()
        let json = try f.server.client.request("POST", "\(path)/predict?include_input=1", body: #"{"instances": [{"b64": "\#(b64)"}]}"#)
        #expect(json.json["predictions"]?[0]?["model_input"]?["png_base64"] != nil)
        let bad = try f.server.client.request("POST", "\(path)/predict?include_input=maybe", bodyBytes: bytes, contentType: "image/png")
        #expect(bad.status == 400)
    }
}
