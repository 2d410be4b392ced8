import Foundation
import SequentData
import SequentHTTP
import SequentNN
import SequentStore

/// The dashboard: the static files of `Public/` (the page, its style sheet and its ES modules under `js/`) and the routes only the dashboard needs — sample images of
/// the training data, the preprocessed input a model sees, and the feature maps of its convolutional layers.
extension HTTPApp {
    func registerDashboardRoutes() {
        // Static files: these two, and the modules of Public/js/ by a name checked against a strict pattern,
        // never a path taken from the request.
        for (path, file, type) in [("/", "index.html", "text/html; charset=utf-8"),
                                   ("/style.css", "style.css", "text/css; charset=utf-8")] {
            router.add("GET", path) { [logger] request, _ in
                HTTPApp.answering(request, logger: logger) {
                    try DashboardFiles.response(file: file, contentType: type, request: request)
                }
            }
        }
        router.add("GET", "/js/{module}.js") { [logger] request, p in
            HTTPApp.answering(request, logger: logger) {
                try DashboardFiles.response(module: p["module"] ?? "", request: request)
            }
        }

        let fashionDirectory = service.configuration.fashionMNISTDirectory
        route("GET", "/v1/datasets/fashion_mnist/samples") { request, _ in
            try DashboardAPI.samples(query: request.query, directory: fashionDirectory)
        }

        let predict = self.predict, uploadLimit = service.configuration.maxUploadBytes
        route("POST", "/v1/models/{id}/preprocess", bodyLimit: uploadLimit) { request, p in
            try DashboardAPI.preprocess(request, modelID: p["id"]!, predict: predict)
        }
        route("POST", "/v1/models/{id}/feature-maps", bodyLimit: uploadLimit) { request, p in
            try DashboardAPI.featureMaps(request, modelID: p["id"]!, predict: predict)
        }
    }
}

/// Finds and serves the dashboard's files.
enum DashboardFiles {
    /// Where `Public/` is looked for, first match wins: `$SEQUENT_PUBLIC_DIR`, `./Public` (the server runs from
    /// the repository root), then beside the executable — `.build/debug/sequent` → `../../Public`, also through
    /// the resolved path (`.build/<triple>/debug/sequent` → `../../../Public`).
    static func candidateDirectories() -> [URL] {
        var out: [URL] = []
        if let env = ProcessInfo.processInfo.environment["SEQUENT_PUBLIC_DIR"], !env.isEmpty {
            out.append(URL(fileURLWithPath: env))
        }
        out.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Public"))
        if let arg0 = CommandLine.arguments.first, arg0.contains("/") {
            let exeDir = URL(fileURLWithPath: arg0).deletingLastPathComponent()
            out.append(exeDir.appendingPathComponent("../../Public").standardizedFileURL)
        }
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let exeDir = URL(fileURLWithPath: resolved).deletingLastPathComponent()
            out.append(exeDir.appendingPathComponent("../../Public").standardizedFileURL)
            out.append(exeDir.appendingPathComponent("../../../Public").standardizedFileURL)
        }
        return out
    }

    /// The first candidate directory holding `file`.
    static func locate(_ file: String) -> URL? {
        for dir in candidateDirectories() {
            let url = dir.appendingPathComponent(file)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue { return url }
        }
        return nil
    }

    /// Names of the dashboard's modules (`Public/js/<name>.js`): lower-case letters, digits, `-` and `_`, so no
    /// dot, slash or percent sign ever reaches the file system.
    static let modulePattern = "^[a-z][a-z0-9_-]{0,63}$"

    /// `GET /js/<name>.js`: a module of the page as `text/javascript` (browsers refuse ES modules served as
    /// anything else); a name outside `modulePattern` is a 404 like a missing file.
    static func response(module: String, request: HTTPRequest) throws -> HTTPResponse {
        guard module.range(of: modulePattern, options: .regularExpression) != nil else {
            throw ServiceError(404, "not_found", "no dashboard module named \"\(module.prefix(64))\"")
        }
        return try response(file: "js/\(module).js", contentType: "text/javascript; charset=utf-8", request: request)
    }

    /// The file, read on every request (edits show on reload), with `Cache-Control: no-cache` and an ETag so the
    /// revalidation costs a 304; a 404 `ServiceError` when the file is missing.
    static func response(file: String, contentType: String, request: HTTPRequest) throws -> HTTPResponse {
        guard let url = locate(file), let data = FileManager.default.contents(atPath: url.path) else {
            throw ServiceError(404, "not_found",
                "the dashboard file \(file) was not found (looked in Public/ under the working directory and beside the executable; set SEQUENT_PUBLIC_DIR)")
        }
        let bytes = [UInt8](data)
        let etag = "\"\(SHA256.hex(data).prefix(16))\""
        var headers: HTTPHeaders = ["Cache-Control": "no-cache", "ETag": etag, "X-Content-Type-Options": "nosniff"]
        if request.header("if-none-match")?.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag }) == true {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers["Content-Type"] = contentType
        return HTTPResponse(status: 200, headers: headers, body: bytes)
    }
}

/// Fashion-MNIST's raw bytes, loaded on first use and kept (about 55 MB for both splits), one load even under
/// concurrent requests. A failed load is not cached, so installing the dataset later works without a restart.
final class FashionSamples: @unchecked Sendable {
    struct Split: Sendable {
        var count: Int
        var height: Int
        var width: Int
        var images: [UInt8]
        var labels: [UInt8]
    }

    static let shared = FashionSamples()
    private let lock = NSLock()
    private var splits: [String: Split] = [:]

    /// `split` is "train" or "test"; the lock is held while loading so a second request waits for the first load.
    func split(_ split: String, directory: String) throws -> Split {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(directory)|\(split)"
        if let s = splits[key] { return s }
        let prefix = split == "train" ? "train" : "t10k"
        let dir = URL(fileURLWithPath: directory)
        func file(_ name: String) throws -> URL {
            for candidate in [name + ".gz", name] {
                let url = dir.appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
            // The server's directory stays out of the message: the operator knows it, the client need not.
            throw ServiceError(503, "dataset_unavailable", "Fashion-MNIST is not installed on the server (\(name).gz is "
                               + "missing); install the Debian package dataset-fashion-mnist")
        }
        let images = try IDX.read(contentsOf: try file("\(prefix)-images-idx3-ubyte"))
        let labels = try IDX.read(contentsOf: try file("\(prefix)-labels-idx1-ubyte"))
        guard images.shape.count == 3, labels.shape.count == 1, images.shape[0] == labels.shape[0] else {
            throw ServiceError(503, "dataset_unavailable", "Fashion-MNIST \(split): images \(images.shape) and labels \(labels.shape) do not match")
        }
        let s = Split(count: images.shape[0], height: images.shape[1], width: images.shape[2],
                      images: images.bytes, labels: labels.bytes)
        splits[key] = s
        return s
    }
}

/// The handlers behind the dashboard's API routes.
enum DashboardAPI {
    static let maxSampleCount = 100
    /// Channels per layer at most, whatever `max_maps` asks: a bound on the answer's size (a 150×150 map is ~15 KB).
    static let maxMapsPerLayer = 1024

    /// `GET /v1/datasets/fashion_mnist/samples?offset=0&count=24&split=train`
    static func samples(query: [String: String], directory: String) throws -> APIResult {
        let splitName = query["split"] ?? "train"
        guard splitName == "train" || splitName == "test" else {
            throw ServiceError(400, "invalid_query", "split must be train or test, got \"\(splitName)\"", field: "split")
        }
        let count = try API.intQuery(query, "count", default: 24, range: 1...maxSampleCount)
        let offset = try API.intQuery(query, "offset", default: 0, range: 0...Int(Int32.max))
        let data = try FashionSamples.shared.split(splitName, directory: directory)
        // Past the end is an empty page, as for any paged list: the bounds do not depend on the split.
        let start = min(offset, data.count), end = min(data.count, offset + count)
        let size = data.height * data.width
        var samples: [JSONValue] = []
        for i in start..<end {
            let pixels = Array(data.images[(i * size)..<((i + 1) * size)])
            let png = try ImageDecoder.encodePNG(pixels, width: data.width, height: data.height, colorType: .gray)
            let label = Int(data.labels[i])
            samples.append(["index": .number(Double(i)), "class_index": .number(Double(label)),
                            "label": .string(label < FashionMNIST.classNames.count ? FashionMNIST.classNames[label] : "class \(label)"),
                            "png_base64": .string(Data(png).base64EncodedString())])
        }
        return APIResult(200, ["dataset": "fashion_mnist", "split": .string(splitName), "offset": .number(Double(offset)),
                               "count": .number(Double(samples.count)), "total": .number(Double(data.count)),
                               "class_names": .array(FashionMNIST.classNames.map { .string($0) }),
                               "samples": .array(samples)])
    }

    static func invertQuery(_ query: [String: String]) throws -> Preprocessing.Invert {
        let text = query["invert"] ?? "auto"
        guard let invert = Preprocessing.Invert(rawValue: text) else {
            throw ServiceError(400, "invalid_query", "invert must be auto, true or false, got \"\(text)\"", field: "invert")
        }
        return invert
    }

    static func name(_ input: PredictInput) -> String {
        switch input { case .image(let n, _), .tensor(let n, _): return n }
    }

    /// The model input as an image: values are divided by the model's rescale (back to 0…255) when that gives
    /// pixel values, otherwise min-max normalised.
    static func inputImage(_ values: [Float], model: LoadedModel) throws -> JSONValue {
        let pre = model.preprocessing
        let (h, w, c) = (pre.height, pre.width, pre.channels)
        let pixels: [UInt8]
        if pre.rescale > 0, values.allSatisfy({ $0 / pre.rescale >= -0.5 && $0 / pre.rescale <= 255.5 }) {
            pixels = values.map { UInt8(max(0, min(255, ($0 / pre.rescale).rounded()))) }
        } else {
            pixels = normalised(values[...])
        }
        let png = try ImageDecoder.encodePNG(pixels, width: w, height: h, colorType: c == 3 ? .rgb : .gray)
        return ["width": .number(Double(w)), "height": .number(Double(h)), "channels": .number(Double(c)),
                "png_base64": .string(Data(png).base64EncodedString())]
    }

    /// A prepared input as the model saw it (`inputImage`) and whether it was inverted (null for a tensor): what
    /// `/preprocess` answers per input and `/predict?include_input=true` per prediction.
    static func modelInput(_ prepared: (values: [Float], inverted: Bool?), model: LoadedModel) throws -> JSONValue {
        guard case .object(var o) = try inputImage(prepared.values, model: model) else { return .null }
        o["inverted"] = prepared.inverted.map(JSONValue.bool) ?? .null
        return .object(o)
    }

    /// Min-max normalisation to 0…255 (a constant map is black).
    static func normalised(_ values: ArraySlice<Float>) -> [UInt8] {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where v.isFinite { lo = min(lo, v); hi = max(hi, v) }
        let range = hi - lo
        guard range.isFinite, range > 0 else { return [UInt8](repeating: 0, count: values.count) }
        return values.map { $0.isFinite ? UInt8(max(0, min(255, (($0 - lo) / range * 255).rounded()))) : 0 }
    }

    /// `POST /v1/models/{id}/preprocess`: each uploaded image as the model sees it (decoded, converted to its
    /// colour mode, resized, inverted when needed), as a PNG.
    static func preprocess(_ request: HTTPRequest, modelID: String, predict: PredictService) throws -> APIResult {
        let invert = try invertQuery(request.query)
        let model = try predict.model(modelID)
        let inputs = try HTTPApp.predictInputs(request)
        let items: [JSONValue] = try inputs.map { input in
            guard case .object(var o) = try modelInput(predict.prepared(input, for: model, invert: invert), model: model)
            else { return .null }
            o["input"] = .string(name(input))
            return .object(o)
        }
        return APIResult(200, ["model_id": .string(model.id), "inputs": .array(items)])
    }

    /// `POST /v1/models/{id}/feature-maps?max_maps=N`: the first uploaded image through the model, with the output
    /// of each Conv2D and MaxPooling2D layer as grayscale PNGs (every channel, or the first `max_maps`, each min-max
    /// normalised), and the prediction it leads to.
    static func featureMaps(_ request: HTTPRequest, modelID: String, predict: PredictService) throws -> APIResult {
        let invert = try invertQuery(request.query)
        var limit = maxMapsPerLayer
        if let text = request.query["max_maps"] {
            guard let n = Int(text), n >= 1, n <= maxMapsPerLayer else {
                throw ServiceError(400, "invalid_query", "max_maps must be an integer from 1 to \(maxMapsPerLayer), got \"\(text)\"",
                                   field: "max_maps")
            }
            limit = n
        }
        let model = try predict.model(modelID)
        guard let input = try HTTPApp.predictInputs(request).first else {
            throw ServiceError(400, "no_image", "the request has no image")
        }
        let values = try predict.prepare(input, for: model, invert: invert)
        let activations = model.model.activations(for: values)
        var layers: [JSONValue] = []
        for a in activations where (a.type == "Conv2D" || a.type == "MaxPooling2D") && a.shape.count == 3 {
            let (h, w, c) = (a.shape[0], a.shape[1], a.shape[2])
            var maps: [JSONValue] = []
            for ch in 0..<min(c, limit) {
                var plane = [Float](repeating: 0, count: h * w)
                for i in 0..<(h * w) { plane[i] = a.values[i * c + ch] }
                let png = try ImageDecoder.encodePNG(normalised(plane[...]), width: w, height: h, colorType: .gray)
                maps.append(.string(Data(png).base64EncodedString()))
            }
            layers.append(["name": .string(a.name), "type": .string(a.type), "shape": .ints([h, w, c]),
                           "channels_shown": .number(Double(maps.count)), "maps": .array(maps)])
        }
        var body: [String: JSONValue] = ["model_id": .string(model.id), "input_name": .string(name(input)),
                                         "input": try inputImage(values, model: model), "layers": .array(layers)]
        if let output = activations.last?.values {
            body["prediction"] = PredictService.prediction(output, name: name(input), model: model, topK: 3)
        }
        return APIResult(200, .object(body))
    }
}
