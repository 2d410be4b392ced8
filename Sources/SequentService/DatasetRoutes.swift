import Foundation
import SequentData
import SequentHTTP
import SequentNN
import SequentStore

/// `GET /v1/datasets`, `POST /v1/datasets` (a zip of class folders) and `DELETE /v1/datasets/{name}`.
extension HTTPApp {
    /// Dataset names: what a job spec's `dataset.directory` refers to.
    static func checkDatasetName(_ name: String) throws {
        guard (1...64).contains(name.count), name != "fashion_mnist",
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }),
              !name.hasPrefix(".") else {
            throw ServiceError(400, "invalid_dataset_name", "name must be 1–64 letters, digits, '-', '_' or '.' (not starting with '.', not fashion_mnist), got \"\(name)\"", field: "name")
        }
    }

    /// Classes and image counts of a class-folder tree.
    static func describeFolders(_ url: URL) throws -> JSONValue {
        let (classes, files) = try DirectoryDataset.scan(url)
        var counts = [Int](repeating: 0, count: classes.count)
        for f in files { counts[f.label] += 1 }
        return .object(["classes": .array(zip(classes, counts).map { ["name": .string($0), "count": .number(Double($1))] }),
                        "images": .number(Double(files.count))])
    }

    /// A dataset directory as the API shows it: its splits (`train` and `validation`, or just `all`).
    static func describeDataset(name: String, root: URL) throws -> JSONValue {
        let dir = root.appendingPathComponent(name)
        var splits: [String: JSONValue] = [:]
        let fm = FileManager.default
        if fm.fileExists(atPath: dir.appendingPathComponent("train").path) {
            splits["train"] = try describeFolders(dir.appendingPathComponent("train"))
            if fm.fileExists(atPath: dir.appendingPathComponent("validation").path) {
                splits["validation"] = try describeFolders(dir.appendingPathComponent("validation"))
            }
        } else {
            splits["all"] = try describeFolders(dir)
        }
        let first = splits["train"] ?? splits["all"]
        return .object(["name": .string(name), "builtin": false, "classes": .array((first?["classes"]?.arrayValue ?? []).compactMap { $0["name"] }),
                        "splits": .object(splits)])
    }

    func registerDatasetRoutes() {
        let service = self.service
        let root = URL(fileURLWithPath: service.configuration.datasetsRoot)
        route("GET", "/v1/datasets") { _, _ in
            var items: [JSONValue] = [["name": "fashion_mnist", "builtin": true,
                                       "classes": .array(FashionMNIST.classNames.map { .string($0) }),
                                       "splits": ["train": ["images": 60000], "test": ["images": 10000]]]]
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            for n in names { if let d = try? HTTPApp.describeDataset(name: n, root: root) { items.append(d) } }
            return APIResult(200, ["datasets": .array(items)])
        }
        route("POST", "/v1/datasets", mutating: true, bodyLimit: service.configuration.maxDatasetBytes) { request, _ in
            var name = request.query["name"]
            var archive: [UInt8] = []
            let type = (request.header("content-type") ?? "").lowercased()
            if type.hasPrefix("multipart/form-data") {
                let parts: [MultipartPart]
                do {
                    parts = try Multipart.parse(request.body, boundary: try Multipart.boundary(fromContentType: request.header("content-type") ?? ""), maxParts: 8)
                } catch let e as MultipartError { throw ServiceError(400, "invalid_multipart", e.description) }
                if let field = parts.first(where: { $0.name == "name" && $0.filename == nil }) {
                    name = String(decoding: field.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }
                guard let file = parts.first(where: { $0.name == "file" || $0.filename != nil }) else {
                    throw ServiceError(400, "no_file", "the form has no file part: curl -F name=shoes -F file=@shoes.zip")
                }
                archive = file.body
            } else if type.hasPrefix("application/zip") || type.hasPrefix("application/octet-stream") || type.isEmpty {
                archive = request.body
            } else {
                throw ServiceError(415, "unsupported_media_type", "send a zip as multipart/form-data (name + file) or application/zip with ?name=, not \(type)")
            }
            guard let name else { throw ServiceError(400, "invalid_dataset_name", "a dataset name is required (form field name or ?name=)", field: "name") }
            try HTTPApp.checkDatasetName(name)
            guard archive.starts(with: [0x50, 0x4B]) else {
                let hint = archive.starts(with: [0x1F, 0x8B]) ? " (tar.gz is not supported yet)" : ""
                throw ServiceError(415, "unsupported_archive", "the upload is not a zip archive\(hint)", field: "file")
            }
            let dest = root.appendingPathComponent(name)
            guard !FileManager.default.fileExists(atPath: dest.path) else {
                throw ServiceError(409, "dataset_exists", "a dataset named \(name) already exists; delete it first")
            }
            do {
                try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
                _ = try ZipArchive.extract(archive, to: dest)
            } catch let e as ZipArchive.Error {
                throw ServiceError(400, "invalid_archive", e.description, field: "file")
            }
            // A zip of one top-level folder ("shoes/boots/…") is unwrapped to the class folders.
            let fm = FileManager.default
            let top = ((try? fm.contentsOfDirectory(atPath: dest.path)) ?? []).filter { !$0.hasPrefix(".") && $0 != "__MACOSX" }
            if top.count == 1, !["train", "validation"].contains(top[0]) {
                let inner = dest.appendingPathComponent(top[0])
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: inner.path, isDirectory: &isDir), isDir.boolValue {
                    let tmp = root.appendingPathComponent(".unwrap-\(UUID().uuidString)")
                    try fm.moveItem(at: inner, to: tmp)
                    try fm.removeItem(at: dest)
                    try fm.moveItem(at: tmp, to: dest)
                }
            }
            do {
                return APIResult(201, try HTTPApp.describeDataset(name: name, root: root),
                                 headers: [("Location", "/v1/datasets/\(name)")])
            } catch {
                try? fm.removeItem(at: dest)
                throw ServiceError(400, "invalid_dataset", "the archive is not a dataset of class folders: \(error)", field: "file")
            }
        }
        route("DELETE", "/v1/datasets/{name}", mutating: true) { _, p in
            let name = p["name"]!
            try HTTPApp.checkDatasetName(name)
            let dest = root.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: dest.path) else { throw ServiceError.notFound("dataset", name) }
            for state in [JobState.queued, .running, .cancelling] {
                for job in try service.store.jobs(state: state, limit: 10_000, before: nil) {
                    let ds = (try? JSONValue.parse(job.specJSON))?["dataset"]
                    let used = [ds?["directory"]?.stringValue, ds?["validation_directory"]?.stringValue].compactMap { $0 }
                    if used.contains(where: { $0 == name || $0.hasPrefix(name + "/") }) {
                        throw ServiceError(409, "dataset_in_use", "job \(job.id) (\(state.rawValue)) uses dataset \(name)")
                    }
                }
            }
            try FileManager.default.removeItem(at: dest)
            return APIResult(200, ["deleted": .string(name)])
        }
    }
}
