import Foundation
import Logging
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService

/// The dashboard's routes over HTTP: the static files, the Fashion-MNIST sample grid, the preprocessed input and
/// the feature maps of a small CNN trained through the service.
@Suite(.serialized) struct DashboardRoutesTests {
    // MARK: Static files

    @Test func staticFilesAreServedWithTheirContentTypes() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        for (path, type, marker) in [("/", "text/html", "<!doctype html>"), ("/js/main.js", "text/javascript", "import "),
                                     ("/js/chart.js", "text/javascript", "export "),
                                     ("/style.css", "text/css", "prefers-color-scheme")] {
            let r = try server.client.request("GET", path)
            #expect(r.status == 200, "\(path): \(r.text.prefix(200))")
            #expect(r.headers["content-type"]?.hasPrefix(type) == true, "\(path): \(r.headers["content-type"] ?? "none")")
            #expect(r.headers["cache-control"] == "no-cache")
            #expect(r.headers["etag"] != nil)
            #expect(r.text.contains(marker), "\(path)")
        }
        // The page loads nothing from elsewhere (works offline, no CDN).
        let page = try server.client.request("GET", "/").text
        for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "url(http"] {
            #expect(!page.contains(external), "\(external)")
        }
        #expect(page.contains("<script type=\"module\" src=\"/js/main.js\">") && page.contains("href=\"/style.css\""))
        // Only the fixed files and modules named by the strict pattern: nothing else under Public, no traversal.
        #expect(try server.client.request("GET", "/app.js").status == 404)
        #expect(try server.client.request("GET", "/js/no-such-module.js").status == 404)
        for bad in ["/js/..%2Findex.js", "/js/%2e%2e.js", "/js/Main.js", "/js/main.mjs", "/js/.hidden.js", "/js/a.b.js",
                    "/js/main.js.map", "/js/sub/main.js", "/js/"] {
            let status = try server.client.request("GET", bad).status
            #expect([400, 404].contains(status), "\(bad): \(status)")
        }
        #expect(try server.client.request("GET", "/README.md").status == 404)
        #expect([400, 404].contains(try server.client.request("GET", "/../Package.swift").status))
        #expect(try server.client.request("GET", "/Public/index.html").status == 404)
        #expect(try server.client.request("GET", "/index.html").status == 404)
    }

    @Test func staticFilesRevalidateWithETagAnd404WhenMissing() throws {
        let get = try HTTPRequest(method: "GET", target: "/js/main.js")
        let first = try DashboardFiles.response(module: "main", request: get)
        #expect(first.headers["Content-Type"] == "text/javascript; charset=utf-8")
        #expect(first.status == 200)
        let etag = try #require(first.headers["ETag"])
        let again = try HTTPRequest(method: "GET", target: "/js/main.js", headers: ["If-None-Match": etag])
        let second = try DashboardFiles.response(module: "main", request: again)
        #expect(second.status == 304)
        #expect(second.body.isEmpty)
        #expect(throws: ServiceError.self) { try DashboardFiles.response(module: "../index", request: get) }
        let missing = HTTPApp.answering(get, logger: Logger(label: "test")) {
            try DashboardFiles.response(file: "no-such-file.html", contentType: "text/html", request: get)
        }
        #expect(missing.status == 404)
        let body = try JSONValue.parse(Data(missing.body))
        #expect(body["error"]?["code"] == "not_found")
        #expect(missing.headers["Content-Type"] == "application/json")
    }

    // MARK: Samples

    @Test func samplesHaveLabelsAndDecodeTo28x28() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let r = try server.client.request("GET", "/v1/datasets/fashion_mnist/samples?offset=0&count=24")
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let samples = try #require(r.json["samples"]?.arrayValue)
        #expect(samples.count == 24)
        #expect(r.json["total"] == 60000)
        #expect(samples.map { $0["index"]?.intValue } == Array(0..<24))
        // Fashion-MNIST's first training image is an ankle boot (label 9).
        #expect(samples[0]["label"] == "Ankle boot")
        #expect(samples[0]["class_index"] == 9)
        let reference = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 43, testLimit: 1).train
        for s in samples {
            let i = try #require(s["index"]?.intValue)
            #expect(s["class_index"]?.intValue == Int(reference.y.scalars[i]))
            #expect(s["label"]?.stringValue == FashionMNIST.classNames[Int(reference.y.scalars[i])])
            let png = try #require(Data(base64Encoded: s["png_base64"]?.stringValue ?? ""))
            let image = try ImageDecoder.decode([UInt8](png))
            #expect(image.width == 28 && image.height == 28 && image.channels == 1)
            // Lossless: the pixels are the dataset's bytes.
            #expect(image.pixels == reference.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) })
        }
        // The tutorial looks at image 42.
        let one = try server.client.request("GET", "/v1/datasets/fashion_mnist/samples?offset=42&count=1").json
        #expect(one["samples"]?[0]?["index"] == 42)
        #expect(one["samples"]?[0]?["class_index"]?.intValue == Int(reference.y.scalars[42]))
        // The test split, and a page cut at the end of the data.
        let tail = try server.client.request("GET", "/v1/datasets/fashion_mnist/samples?split=test&offset=9990&count=24").json
        #expect(tail["samples"]?.arrayValue?.count == 10)
        #expect(tail["total"] == 10000)
    }

    @Test func badSampleQueriesAre400NamingTheField() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        for (query, field) in [("offset=-1", "offset"), ("offset=abc", "offset"), ("offset=2147483648", "offset"),
                               ("count=0", "count"), ("count=101", "count"), ("count=x", "count"), ("split=valid", "split")] {
            let r = try server.client.request("GET", "/v1/datasets/fashion_mnist/samples?\(query)")
            #expect(r.status == 400, "\(query)")
            #expect(r.json["error"]?["field"]?.stringValue == field, "\(query): \(r.text)")
            #expect(r.json["error"]?["code"] == "invalid_query")
        }
        // A server without the dataset says so, without a 500.
        #expect(throws: ServiceError.self) {
            try DashboardAPI.samples(query: [:], directory: "/nonexistent/fashion")
        }
        do { _ = try DashboardAPI.samples(query: [:], directory: "/nonexistent/fashion") } catch let e as ServiceError {
            #expect(e.status == 503)
            #expect(e.message.contains("dataset-fashion-mnist"))
        }
    }

    // MARK: Feature maps and preprocessing on a small trained CNN

    static let cnn = #"{"input_shape": [28, 28, 1], "layers": [{"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "activation": "relu"}, {"type": "MaxPooling2D", "pool_size": [2, 2]}, {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#

    /// Test image `i` of Fashion-MNIST as a PNG, and the same image as a "photo": 4× larger, dark on white.
    static func testImagePNGs(_ i: Int) throws -> (plain: [UInt8], photo: [UInt8], pixels: [UInt8]) {
        let test = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: i + 1).test
        let pixels = test.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
        var big = [UInt8](repeating: 0, count: 112 * 112)
        for y in 0..<112 { for x in 0..<112 { big[y * 112 + x] = 255 - pixels[(y / 4) * 28 + x / 4] } }
        return (try ImageDecoder.encodePNG(pixels, width: 28, height: 28, colorType: .gray),
                try ImageDecoder.encodePNG(big, width: 112, height: 112, colorType: .gray), pixels)
    }

    @Test func featureMapsAndPreprocessOfATrainedCNN() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let created = try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 512, model: Self.cnn))
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"], timeout: 120)
        #expect(done["state"] == "succeeded", "\(done["error"]?.brief ?? "")")
        let modelID = try #require(done["model_id"]?.stringValue)
        let images = try Self.testImagePNGs(0)

        // Raw PNG body.
        let r = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps", bodyBytes: images.plain, contentType: "image/png")
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let layers = try #require(r.json["layers"]?.arrayValue)
        #expect(layers.map { $0["type"]?.stringValue ?? "" } == ["Conv2D", "MaxPooling2D"])
        #expect(layers.map { $0["name"]?.stringValue ?? "" } == ["conv2d", "max_pooling2d"])
        #expect(layers[0]["shape"] == [26, 26, 4])
        #expect(layers[1]["shape"] == [13, 13, 4])
        for (layer, side) in zip(layers, [26, 13]) {
            let maps = try #require(layer["maps"]?.arrayValue)
            #expect(maps.count == 4)
            for m in maps {
                let png = try #require(Data(base64Encoded: m.stringValue ?? ""))
                let image = try ImageDecoder.decode([UInt8](png))
                #expect(image.width == side && image.height == side && image.channels == 1)
            }
        }
        // `max_maps` shows fewer; a bad value is a 400 naming it.
        let two = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps?max_maps=2", bodyBytes: images.plain, contentType: "image/png")
        #expect(two.json["layers"]?.arrayValue?.map { $0["maps"]?.arrayValue?.count } == [2, 2])
        #expect(two.json["layers"]?[0]?["channels_shown"] == 2)
        for bad in ["0", "x", "5000"] {
            let r = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps?max_maps=\(bad)", bodyBytes: images.plain, contentType: "image/png")
            #expect(r.status == 400 && r.json["error"]?["field"] == "max_maps", "\(bad): \(r.text.prefix(200))")
        }
        // At least one map uses the full 0…255 range (min-max normalised), unless it is constant.
        let firstMap = try ImageDecoder.decode([UInt8](Data(base64Encoded: layers[0]["maps"]?[0]?.stringValue ?? "")!))
        #expect(firstMap.pixels.max() == 255 || Set(firstMap.pixels).count == 1)
        // The input the model saw: the image itself (dark background, not inverted).
        #expect(r.json["input"]?["width"] == 28 && r.json["input"]?["height"] == 28 && r.json["input"]?["channels"] == 1)
        let seen = try ImageDecoder.decode([UInt8](Data(base64Encoded: r.json["input"]?["png_base64"]?.stringValue ?? "")!))
        #expect(seen.pixels == images.pixels)
        #expect(r.json["prediction"]?["label"]?.stringValue != nil)

        // The activations match the engine's own (conv2d output, channel 0, min-max normalised).
        let loaded = try server.app.predict.model(modelID)
        let acts = loaded.model.activations(for: images.pixels.map { Float($0) / 255 })
        let conv = acts[0]
        let plane = (0..<(26 * 26)).map { conv.values[$0 * 4] }
        #expect(DashboardAPI.normalised(plane[...]) == firstMap.pixels)

        // Multipart, as the page sends it: only the first image is used.
        let multipart = PredictTests.multipartBytes([("image", "boot.png", images.plain), ("image", "photo.png", images.photo)])
        let m = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps", bodyBytes: multipart,
                                          contentType: "multipart/form-data; boundary=XyZ123")
        #expect(m.status == 200)
        #expect(m.json["input_name"] == "boot.png")
        #expect(m.json["layers"]?.arrayValue?.count == 2)

        // Preprocess: every image as the model sees it; the photo (dark on white) is inverted and downsized.
        let p = try server.client.request("POST", "/v1/models/\(modelID)/preprocess", bodyBytes: multipart,
                                          contentType: "multipart/form-data; boundary=XyZ123")
        #expect(p.status == 200, "\(p.text.prefix(300))")
        let inputs = try #require(p.json["inputs"]?.arrayValue)
        #expect(inputs.map { $0["input"]?.stringValue ?? "" } == ["boot.png", "photo.png"])
        #expect(inputs.map { $0["inverted"]?.boolValue } == [false, true])
        for item in inputs {
            let image = try ImageDecoder.decode([UInt8](Data(base64Encoded: item["png_base64"]?.stringValue ?? "")!))
            #expect(image.width == 28 && image.height == 28 && image.channels == 1)
        }
        let photoSeen = try ImageDecoder.decode([UInt8](Data(base64Encoded: inputs[1]["png_base64"]?.stringValue ?? "")!))
        let diff = zip(photoSeen.pixels, images.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 255
        #expect(diff <= 2, "the inverted, downsized photo should be the original image, max difference \(diff)")
        // invert=false keeps the photo as it is (light background).
        let kept = try server.client.request("POST", "/v1/models/\(modelID)/preprocess?invert=false", bodyBytes: images.photo, contentType: "image/png")
        #expect(kept.json["inputs"]?[0]?["inverted"] == false)

        // Errors: unknown model, corrupt image, bad query, no file part.
        for path in ["/v1/models/m_missing/feature-maps", "/v1/models/m_missing/preprocess"] {
            let missing = try server.client.request("POST", path, bodyBytes: images.plain, contentType: "image/png")
            #expect(missing.status == 404)
            #expect(missing.json["error"]?["code"] == "not_found")
        }
        let corrupt = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps", bodyBytes: Array(images.plain.prefix(40)), contentType: "image/png")
        #expect(corrupt.status == 400)
        #expect(corrupt.json["error"]?["code"] == "invalid_image")
        let badInvert = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps?invert=maybe", bodyBytes: images.plain, contentType: "image/png")
        #expect(badInvert.status == 400)
        #expect(badInvert.json["error"]?["field"] == "invert")
        let gif = try server.client.request("POST", "/v1/models/\(modelID)/preprocess", bodyBytes: Array("GIF89a-------".utf8), contentType: "image/gif")
        #expect(gif.status == 415)
        #expect(try server.client.request("GET", "/v1/models/\(modelID)/feature-maps").status == 405)
    }

    @Test func denseModelHasNoFeatureMaps() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let id = try #require(try server.client.request("POST", "/v1/jobs", body: EndToEndTests.specText(epochs: 1, trainLimit: 256)).json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"])
        let modelID = try #require(done["model_id"]?.stringValue)
        let r = try server.client.request("POST", "/v1/models/\(modelID)/feature-maps", bodyBytes: try Self.testImagePNGs(1).plain, contentType: "image/png")
        #expect(r.status == 200)
        #expect(r.json["layers"] == [])
        #expect(r.json["input"]?["width"] == 28)
    }

    // MARK: OpenAPI

    @Test func openAPIDocumentsTheDashboardRoutes() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let paths = try server.client.request("GET", "/openapi.json").json["paths"]?.objectValue ?? [:]
        for (method, path) in [("get", "/"), ("get", "/js/{module}.js"), ("get", "/style.css"), ("get", "/v1/datasets/fashion_mnist/samples"),
                               ("post", "/v1/models/{id}/feature-maps"), ("post", "/v1/models/{id}/preprocess")] {
            #expect(paths[path]?[method] != nil, "\(method) \(path)")
        }
        for route in server.app.router.routes {
            #expect(paths[route.pattern]?[route.method.lowercased()] != nil, "\(route) is missing from /openapi.json")
        }
    }
}
