import Foundation
import SequentData
import SequentHTTP
import SequentNN

/// `POST /v1/models/{id}/predict/batch`: a zip, tar or tar.gz of images, classified file by file. The archive is
/// spooled and extracted exactly as a dataset upload is (same checks and limits, in the datasets folder under a
/// hidden name that start-up sweeps), then every file is decoded and preprocessed as single predict does and
/// classified in batches. A file that is not an image, or does not decode, is reported with its reason instead.
extension HTTPApp {
    /// The name prefix of a batch's extracted archive in the datasets folder.
    static let batchFolderPrefix = ".batch-"
    /// Files decoded before they go through the model together: bounds the raw bytes held at once.
    static let batchChunk = 256

    /// One file of the archive: its prediction, or why it has none.
    enum BatchItem {
        case prediction(file: String, output: [Float], prepared: (values: [Float], inverted: Bool?))
        case failure(file: String, reason: String)
    }

    /// Entries that are archiving debris rather than the user's files: macOS's `__MACOSX/` forks and hidden files
    /// (`.DS_Store`, `._photo.jpg`).
    static func isArchiveDebris(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.hasPrefix(".") || $0 == "__MACOSX" }
    }

    func registerBatchPredictRoute(predict: PredictService) {
        let config = service.configuration, logger = self.logger
        let root = URL(fileURLWithPath: config.datasetsRoot)
        let limits = {
            var l = ArchiveLimits()
            l.maxEntries = config.maxDatasetEntries
            l.maxTotalBytes = config.maxDatasetBytes
            return l
        }()
        let usage = "curl -F file=@images.zip"
        router.add("POST", "/v1/models/{id}/predict/batch", bodyLimit: config.maxUploadBytes,
                   spoolBodyTo: root) { request, p in
            HTTPApp.answering(request, logger: logger) {
                let format = request.query["format"] ?? "json"
                guard format == "json" || format == "csv" else {
                    throw ServiceError(400, "invalid_query", "format must be json or csv, got \"\(format)\"", field: "format")
                }
                let topK = try HTTPApp.topKQuery(request.query)
                let invert = try DashboardAPI.invertQuery(request.query)
                let model = try predict.model(p["id"]!)
                guard let body = request.bodyFile else {
                    throw ServiceError(400, "no_file", "send a zip or tar.gz of images as the request body: \(usage)")
                }
                let archive = try HTTPApp.spooledArchive(request, file: body, maxParts: 8, usage: usage)
                let folder = root.appendingPathComponent(HTTPApp.batchFolderPrefix + UUID().uuidString)
                defer { try? FileManager.default.removeItem(at: folder) }
                let entries: [ArchiveExtractor.Entry]
                do throws(ArchiveError) {
                    entries = try ArchiveExtractor.extract(file: body, range: archive.range, to: folder, limits: limits)
                } catch {
                    throw ServiceError(archive: error, of: "images")
                }
                let files = entries.filter { !$0.isDirectory && !HTTPApp.isArchiveDebris($0.path) }.map(\.path)
                guard !files.isEmpty else {
                    throw ServiceError(400, "empty_archive", "the archive holds no files", field: "file")
                }
                let items = try HTTPApp.classify(files, in: folder, model: model, predict: predict, invert: invert)
                if format == "csv" { return HTTPApp.batchCSV(items, model: model) }
                return HTTPApp.render(APIResult(200, HTTPApp.batchJSON(items, model: model, topK: topK)))
            }
        }
    }

    /// Decodes, preprocesses and classifies `files` (paths under `folder`), a chunk at a time.
    static func classify(_ files: [String], in folder: URL, model: LoadedModel, predict: PredictService,
                         invert: Preprocessing.Invert) throws -> [BatchItem] {
        var items: [BatchItem] = []
        for start in stride(from: 0, to: files.count, by: batchChunk) {
            var ready: [(file: String, prepared: (values: [Float], inverted: Bool?))] = []
            var chunk: [BatchItem?] = []
            for file in files[start..<min(files.count, start + batchChunk)] {
                do {
                    let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(file)))
                    ready.append((file, try predict.prepared(.image(name: file, bytes: bytes), for: model, invert: invert)))
                    chunk.append(nil)
                } catch let e as ServiceError where e.status < 500 {
                    // The decoder's words without the file name, which the item carries.
                    let reason = e.message.hasPrefix(file + ": ") ? String(e.message.dropFirst(file.count + 2)) : e.message
                    chunk.append(.failure(file: file, reason: reason))
                }
            }
            var outputs = predict.outputs(ready.map(\.prepared.values), model: model).makeIterator()
            var next = ready.makeIterator()
            for slot in chunk {
                if let slot { items.append(slot); continue }
                let (file, prepared) = next.next()!
                items.append(.prediction(file: file, output: outputs.next()!, prepared: prepared))
            }
        }
        return items
    }

    /// `{"model_id", "count", "predictions": [{"file", "label", "probability", "top", …}], "errors": [{"file", "reason"}]}`.
    static func batchJSON(_ items: [BatchItem], model: LoadedModel, topK: Int) -> JSONValue {
        var predictions: [JSONValue] = [], errors: [JSONValue] = []
        for item in items {
            switch item {
            case .prediction(let file, let output, _):
                guard case .object(var o) = PredictService.prediction(output, name: file, model: model, topK: topK) else { continue }
                o["input"] = nil
                o["file"] = .string(file)
                predictions.append(.object(o))
            case .failure(let file, let reason):
                errors.append(["file": .string(file), "reason": .string(reason)])
            }
        }
        return ["model_id": .string(model.id), "count": .number(Double(predictions.count)),
                "predictions": .array(predictions), "errors": .array(errors)]
    }

    /// RFC 4180 CSV: `file,label,probability`, one column per class with its probability, and `error` (empty but
    /// for a file without a prediction, whose label and probabilities are empty).
    static func batchCSV(_ items: [BatchItem], model: LoadedModel) -> HTTPResponse {
        let classes = model.isBinary ? [model.classNames.last ?? "class 1"] : model.classNames
        // File and class names are the user's own text: `CSV.text` keeps a spreadsheet from reading them as formulas.
        var rows = [["file", "label", "probability"] + classes.map(CSV.text) + ["error"]]
        for item in items {
            switch item {
            case .prediction(let file, let output, _):
                let p = PredictService.prediction(output, name: file, model: model, topK: 1)
                let probabilities = model.probabilities(output).map { String($0) }
                rows.append([CSV.text(file), CSV.text(p["label"]?.stringValue ?? ""),
                             String(p["probability"]?.doubleValue ?? 0)] + probabilities + [""])
            case .failure(let file, let reason):
                rows.append([CSV.text(file), "", ""] + [String](repeating: "", count: classes.count) + [CSV.text(reason)])
            }
        }
        var headers: HTTPHeaders = [:]
        headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
        headers["Content-Disposition"] = "attachment; filename=\"predictions-\(model.id).csv\""
        return HTTPResponse(status: 200, headers: headers, body: Array(CSV.document(rows).utf8))
    }
}
