import Foundation
import SequentData
import SequentHTTP
import SequentInterchange
import SequentNN
import SequentONNX
import SequentStore

/// Models that come from Keras (`POST /v1/models`) and go back out (`GET /v1/models/{id}/export`). An imported
/// model is stored like a trained one — Sequent's archive (config.json + safetensors) with its metadata — and
/// recorded without a job, so every predict route, the model page and fine-tuning take it as they take any model.
extension TrainingService {
    /// What an upload says beside the model file: its name, class names and how to preprocess an image for it.
    struct ImportFields {
        var name: String?
        var classNames: [String]?
        var rescale: Double?
        var interpolation: String?
        var background: String?
    }

    /// Registers `model` (read from Keras's `config`) under `fields.name` (else the Keras model's name); 400 when
    /// the class names do not match its outputs.
    func registerImported(_ model: Sequential, config: JSONValue, kerasVersion: String?, fields: ImportFields) throws
        -> ModelRecord
    {
        let shape = model.inputShape
        guard shape.count == 3 || shape.count == 1, shape.last.map({ [1, 3].contains($0) || shape.count == 1 }) == true else {
            throw ServiceError(400, "invalid_model",
                               "the model's input is \(shape): Sequent serves images, [height, width, 1 or 3] (or a flat vector)")
        }
        let units = model.outputWidth
        let classCount = units == 1 ? 2 : units
        if let names = fields.classNames, names.count != classCount {
            throw ServiceError(400, "invalid_class_names",
                               "\(names.count) class names for a model with \(units) output\(units == 1 ? " (binary: 2 classes)" : "s")",
                               field: "class_names")
        }
        // A leading Rescaling layer means the model takes raw pixels (0–255), as Keras's tutorials build it.
        let rawPixels = model.takesRawPixels
        let rescale = fields.rescale ?? (rawPixels ? 1 : 1.0 / 255)
        guard rescale.isFinite, rescale > 0 else {
            throw ServiceError(400, "invalid_rescale", "rescale must be a positive number, like 0.00392156862745098 (1/255) or 1", field: "rescale")
        }
        let interpolation = fields.interpolation ?? "bilinear"
        guard Preprocessing.Interpolation(rawValue: interpolation) != nil else {
            throw ServiceError(400, "invalid_interpolation", "interpolation \"\(interpolation)\" is not one of bilinear, nearest, area",
                               field: "interpolation")
        }
        let background = fields.background ?? "dark"
        guard Preprocessing.Background(rawValue: background) != nil else {
            throw ServiceError(400, "invalid_background", "background \"\(background)\" is not dark or light", field: "background")
        }
        let name = fields.name ?? model.name
        try Self.checkModelName(name)
        let channels = shape.count == 3 ? shape[2] : 1
        let metadata: [String: JSONValue] = [
            "class_names": .array((fields.classNames ?? (0..<classCount).map { "class \($0)" }).map { .string($0) }),
            "input_shape": .ints(shape),
            "preprocessing": ["color_mode": .string(channels == 1 ? "grayscale" : "rgb"), "rescale": .number(rescale),
                              "background": .string(background), "interpolation": .string(interpolation)],
            "summary": .array(model.summaryRows), "parameter_count": .number(Double(model.parameterCount)),
            "source": ["format": "keras", "keras_version": kerasVersion.map { .string($0) } ?? .null],
            "outputs_logits": .bool(KerasModelFile.outputsLogits(config: config, model: model)),
        ]
        let id = "m_" + Self.randomID()
        let staging = try artifacts.stage(.model)
        do {
            try ModelArchive.save(model, to: staging, metadata: metadata)
            let receipt = try artifacts.commit(staging, as: .model, id: id)
            let path = (artifacts as? LocalArtifactStore)?.location(.model, id: id).path ?? "artifact:model/\(id)"
            let record = ModelRecord(id: id, jobID: "", name: name, path: path,
                                     sha256: receipt.files[ModelArchive.weightsFile] ?? "",
                                     metadataJSON: JSONValue.object(metadata).serialized(), artifactSHA256: receipt.sha256)
            do { try store.addModel(record) } catch {
                try? artifacts.remove(.model, id: id)
                throw error
            }
            return record
        } catch {
            artifacts.discard(staging)
            throw error
        }
    }

    /// Model names as job names: 1–100 characters, no control characters.
    static func checkModelName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 100, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServiceError(400, "invalid_name", "the model name must be 1–100 characters without control characters", field: "name")
        }
    }
}

extension HTTPApp {
    /// Prefix of the folders an import is unpacked in, under the datasets root (swept at start-up).
    static let importFolderPrefix = ".import-"

    func registerModelImportRoutes() {
        let service = self.service
        let root = URL(fileURLWithPath: service.configuration.datasetsRoot)
        route("POST", "/v1/models", mutating: true, bodyLimit: service.configuration.maxDatasetBytes,
              spoolBodyTo: root) { request, _ in
            guard let body = request.bodyFile else {
                throw ServiceError(400, "no_file", "send the model as the request body: \(HTTPApp.importUsage)")
            }
            let scratch = root.appendingPathComponent(HTTPApp.importFolderPrefix + UUID().uuidString)
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            let record = try HTTPApp.importModel(request, body: body, scratch: scratch, service: service)
            return APIResult(201, ModelView.json(record), headers: [("Location", "/v1/models/\(record.id)")])
        }
        route("GET", "/v1/models/{id}/export") { request, p in
            try HTTPApp.exportModel(p["id"]!, format: request.query["format"] ?? "keras", service: service)
        }
    }

    static let importUsage = "curl -F file=@model.keras -F name=my-model http://…/v1/models (or -F file=@model.json -F weights=@model.weights.h5)"

    /// Reads the upload (multipart `file` [+ `weights`] and fields, or a raw `.keras` body with the fields in the
    /// query), and registers the model.
    static func importModel(_ request: HTTPRequest, body: URL, scratch: URL, service: TrainingService) throws -> ModelRecord {
        let type = (request.header("content-type") ?? "").lowercased()
        var fieldValues = request.query
        var filePart: MultipartFilePart?
        var weightsRange: Range<Int>?
        if type.hasPrefix("multipart/form-data") {
            let boundary = try Multipart.boundary(fromContentType: request.header("content-type") ?? "")
            let parts = try Multipart.parse(contentsOf: body, boundary: boundary, maxParts: 16)
            for part in parts {
                switch part.name {
                case "file": filePart = part
                case "weights": weightsRange = part.range
                case let name? where part.filename == nil:
                    fieldValues[name] = String(decoding: try Multipart.read(part, from: body, limit: 1 << 20), as: UTF8.self)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                default: break
                }
            }
            guard filePart != nil else { throw ServiceError(400, "no_file", "the form has no part named file: \(importUsage)") }
        } else {
            guard type.isEmpty || type.hasPrefix("application/zip") || type.hasPrefix("application/octet-stream") else {
                throw ServiceError(415, "unsupported_media_type",
                                   "send a .keras as multipart/form-data (\(importUsage)) or as an application/zip body, not \(type)")
            }
        }
        let fields = try importFields(fieldValues)
        let fileRange = filePart?.range
        let head = try readHead(body, range: fileRange, count: 1)
        let config: JSONValue
        let weightsFile: URL
        var kerasVersion: String?
        if head.first == UInt8(ascii: "{") {
            // model.to_json() beside a .weights.h5.
            guard let weightsRange, let filePart else {
                throw ServiceError(400, "no_weights", "a model JSON needs its weights: add -F weights=@model.weights.h5", field: "weights")
            }
            config = try parseJSON(try Multipart.read(filePart, from: body, limit: 16 << 20), what: "the model JSON", field: "file")
            weightsFile = scratch.appendingPathComponent("model.weights.h5")
            try copyRange(body, weightsRange, to: weightsFile)
        } else {
            let unpacked = scratch.appendingPathComponent("keras")
            do throws(ArchiveError) {
                _ = try ArchiveExtractor.extract(file: body, range: fileRange, to: unpacked)
            } catch {
                if error.unsupportedFormat {
                    throw ServiceError(400, "invalid_model", "the file is neither a .keras archive (a zip) nor a model JSON: \(error)", field: "file")
                }
                throw ServiceError(from: error)
            }
            let configURL = unpacked.appendingPathComponent("config.json")
            weightsFile = unpacked.appendingPathComponent("model.weights.h5")
            guard let data = FileManager.default.contents(atPath: configURL.path),
                  FileManager.default.fileExists(atPath: weightsFile.path) else {
                throw ServiceError(400, "invalid_model", "a .keras archive holds config.json and model.weights.h5 at its top; this one does not", field: "file")
            }
            config = try parseJSON([UInt8](data), what: "config.json", field: "file")
            let meta = FileManager.default.contents(atPath: unpacked.appendingPathComponent("metadata.json").path)
            kerasVersion = meta.flatMap { try? JSONValue.parse($0) }?["keras_version"]?.stringValue
        }
        let model: Sequential
        do { model = try KerasModelFile.load(config: config, weightsFile: weightsFile) } catch let e as InterchangeError {
            throw ServiceError(400, "invalid_model", e.message, field: "file")
        }
        return try service.registerImported(model, config: config, kerasVersion: kerasVersion, fields: fields)
    }

    static func importFields(_ values: [String: String]) throws -> TrainingService.ImportFields {
        var f = TrainingService.ImportFields()
        f.name = values["name"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = values["class_names"], !text.isEmpty {
            if text.hasPrefix("[") {
                guard let list = (try? JSONValue.parse(Data(text.utf8)))?.arrayValue?.compactMap(\.stringValue) else {
                    throw ServiceError(400, "invalid_class_names", "class_names must be a JSON list of strings or comma-separated names", field: "class_names")
                }
                f.classNames = list
            } else {
                f.classNames = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        if let text = values["rescale"], !text.isEmpty {
            // "1/255" as the tutorials write it, or a number.
            let parts = text.split(separator: "/").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard (parts.count == 1 || parts.count == 2), parts.allSatisfy({ $0 != nil }),
                  let value = parts.count == 2 ? parts[0]! / parts[1]! : parts[0] else {
                throw ServiceError(400, "invalid_rescale", "rescale must be a number or a fraction like 1/255, got \"\(text)\"", field: "rescale")
            }
            f.rescale = value
        }
        f.interpolation = values["interpolation"].flatMap { $0.isEmpty ? nil : $0 }
        f.background = values["background"].flatMap { $0.isEmpty ? nil : $0 }
        return f
    }

    private static func parseJSON(_ bytes: [UInt8], what: String, field: String) throws -> JSONValue {
        do { return try JSONValue.parse(Data(bytes)) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_json", "\(what) \(e.detail)", field: field)
        }
    }

    /// The first `count` bytes of `range` of `file` (all of it when `range` is nil).
    private static func readHead(_ file: URL, range: Range<Int>?, count: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range?.lowerBound ?? 0))
        let n = min(count, range?.count ?? count)
        return [UInt8](try handle.read(upToCount: n) ?? Data())
    }

    /// Copies `range` of `file` to `destination` a block at a time (the weights can be hundreds of MB).
    private static func copyRange(_ file: URL, _ range: Range<Int>, to destination: URL) throws {
        let input = try FileHandle(forReadingFrom: file)
        defer { try? input.close() }
        guard FileManager.default.createFile(atPath: destination.path, contents: nil) else {
            throw ServiceError(507, "insufficient_storage", "no room to unpack the upload's weights")
        }
        let output = try FileHandle(forWritingTo: destination)
        defer { try? output.close() }
        try input.seek(toOffset: UInt64(range.lowerBound))
        var left = range.count
        while left > 0, let block = try input.read(upToCount: min(left, 1 << 20)), !block.isEmpty {
            try output.write(contentsOf: block)
            left -= block.count
        }
    }

    /// `GET /v1/models/{id}/export?format=keras|onnx|safetensors`: the model as a download.
    static func exportModel(_ id: String, format: String, service: TrainingService) throws -> APIResult {
        guard let record = try service.store.model(id: id) ?? service.store.latestModel(named: id) else {
            throw ServiceError.notFound("model", id)
        }
        let folder = try service.artifacts.open(.model, id: record.id, sha256: record.artifactSHA256)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let base = CSV.fileName(record.name, record.id).dropLast(4)   // "<name>-<id>" made safe for a header
        let archive = scratch.appendingPathComponent("export.zip")
        let fileName: String
        switch format {
        case "keras":
            let model = try ModelArchive.load(from: folder).model
            let files = try KerasModelFile.writeArchiveFiles(model, to: scratch.appendingPathComponent("keras"))
            try ArchiveWriter.zip(files.map { ($0, scratch.appendingPathComponent("keras").appendingPathComponent($0)) }, to: archive)
            fileName = base + ".keras"
        case "onnx":
            let model = try ModelArchive.load(from: folder).model
            let classNames = (try? JSONValue.parse(Data(record.metadataJSON.utf8)))?["class_names"]?.arrayValue?.compactMap(\.stringValue)
            do {
                let bytes = try ONNXExport.export(model, modelName: record.name, classNames: classNames)
                return .download(bytes, contentType: "application/octet-stream", fileName: base + ".onnx")
            } catch let e as ONNXExportError {
                throw ServiceError(422, "cannot_export", "the model cannot be written as ONNX: \(e)")
            }
        case "safetensors":
            try ArchiveWriter.zip([ModelArchive.configFile, ModelArchive.weightsFile].map { ($0, folder.appendingPathComponent($0)) },
                                  to: archive)
            fileName = base + ".zip"
        default:
            throw ServiceError(400, "invalid_query", "format must be keras, onnx or safetensors, got \"\(format)\"", field: "format")
        }
        return .download([UInt8](try Data(contentsOf: archive)), contentType: "application/zip", fileName: fileName)
    }
}

extension TrainingService {
    /// A spec that names `initial_model`, made whole: the model id resolved (a job name names its newest model),
    /// the initial model's architecture as `model` when the spec gives none, and a top-level `freeze` list moved
    /// into the model, so the stored spec says everything the job trains.
    func withInitialModel(_ value: JSONValue) throws -> JSONValue {
        guard case .object(var spec) = value, let named = spec["initial_model"] else { return value }
        guard let name = named.stringValue else {
            throw ConfigError(field: "initial_model", detail: "must be a model id (or job name), got \(named.brief)")
        }
        guard let record = try store.model(id: name) ?? store.latestModel(named: name) else {
            throw ConfigError(field: "initial_model", detail: "\"\(name)\" is not a model on this server")
        }
        spec["initial_model"] = .string(record.id)
        if spec["model"] == nil {
            let folder = try artifacts.open(.model, id: record.id, sha256: record.artifactSHA256)
            let saved = try JSONValue.parse(try Data(contentsOf: folder.appendingPathComponent(ModelArchive.configFile)))
            guard let architecture = saved["model"] else {
                throw ConfigError(field: "initial_model", detail: "model \(record.id) has no architecture in its archive")
            }
            spec["model"] = architecture
        }
        if let freeze = spec.removeValue(forKey: "freeze"), case .object(var model) = spec["model"]! {
            model["freeze"] = freeze
            spec["model"] = .object(model)
        }
        return .object(spec)
    }
}
