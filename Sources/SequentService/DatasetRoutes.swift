import Foundation
import SequentData
import SequentHTTP
import SequentNN
import SequentStore

/// `GET /v1/datasets`, `POST /v1/datasets` (a zip, tar or tar.gz of class folders, streamed to disk) and
/// `DELETE /v1/datasets/{name}`.
extension HTTPApp {
    /// What `checkDatasetName` accepts, for the OpenAPI document.
    static let datasetNamePattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"

    /// Dataset names: what a job spec's `dataset.directory` refers to, and a folder name under the datasets root.
    /// ASCII only, so a name means the same folder whatever the file system's Unicode normalisation.
    static func checkDatasetName(_ name: String) throws {
        func allowed(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b == 0x2E
        }
        guard (1...64).contains(name.utf8.count), name.utf8.allSatisfy(allowed), !name.hasPrefix(".") else {
            throw ServiceError(400, "invalid_dataset_name", "name must be 1–64 ASCII letters, digits, '-', '_' or '.' (not starting with '.'), got \"\(name)\"", field: "name")
        }
    }

    /// The built-in dataset exists under its name without a folder: neither uploaded over nor deleted.
    static func checkNotBuiltin(_ name: String) throws {
        guard name != "fashion_mnist" else {
            throw ServiceError(409, "builtin_dataset", "fashion_mnist is built in: it cannot be replaced or deleted")
        }
    }

    /// Content types a raw (non-multipart) dataset upload may declare; the format itself is read from the bytes.
    static let archiveMediaTypes = ["application/zip", "application/x-zip-compressed", "application/gzip",
                                    "application/x-gzip", "application/x-tar", "application/x-gtar",
                                    "application/x-compressed-tar", "application/octet-stream"]

    /// Where an uploaded archive lies in a spooled body: the whole body, or the file part's bytes of a multipart
    /// body (then `parts` are the form's parts). Either way it stays in the spooled file and is read from there in
    /// pieces. A raw body must declare an archive type (or none); `usage` is the curl line the errors suggest.
    static func spooledArchive(_ request: HTTPRequest, file body: URL, maxParts: Int,
                               usage: String) throws -> (range: Range<Int>?, parts: [MultipartFilePart]) {
        let type = (request.header("content-type") ?? "").lowercased()
        if type.hasPrefix("multipart/form-data") {
            let boundary = try Multipart.boundary(fromContentType: request.header("content-type") ?? "")
            let parts = try Multipart.parse(contentsOf: body, boundary: boundary, maxParts: maxParts)
            guard let file = parts.first(where: { $0.name == "file" || $0.filename != nil }) else {
                throw ServiceError(400, "no_file", "the form has no file part: \(usage)")
            }
            return (file.range, parts)
        }
        guard type.isEmpty || HTTPApp.archiveMediaTypes.contains(where: { type.hasPrefix($0) }) else {
            throw ServiceError(415, "unsupported_media_type",
                               "send a zip or tar.gz as multipart/form-data (\(usage)) or as the body "
                               + "(application/zip, application/gzip, application/x-tar or application/octet-stream), not \(type)")
        }
        return (nil, [])
    }

    /// Classes and image counts of a class-folder tree.
    static func describeFolders(_ url: URL) throws -> JSONValue {
        let (classes, files) = try DirectoryDataset.scan(url)
        var counts = [Int](repeating: 0, count: classes.count)
        for f in files { counts[f.label] += 1 }
        return .object(["classes": .array(zip(classes, counts).map { ["name": .string($0), "count": .number(Double($1))] }),
                        "images": .number(Double(files.count))])
    }

    /// A dataset folder as the API shows it: its splits (`train` and `validation`, or just `all`).
    static func describeDataset(name: String, folder dir: URL) throws -> JSONValue {
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
        let service = self.service, artifacts = service.artifacts
        let root = URL(fileURLWithPath: service.configuration.datasetsRoot)
        let exists: @Sendable (String) -> Bool = { (try? artifacts.open(.dataset, id: $0, sha256: nil)) != nil }
        route("GET", "/v1/datasets") { _, _ in
            var items: [JSONValue] = [["name": "fashion_mnist", "builtin": true,
                                       "classes": .array(FashionMNIST.classNames.map { .string($0) }),
                                       "splits": ["train": ["images": 60000], "test": ["images": 10000]]]]
            for n in try artifacts.list(.dataset) {
                if let folder = try? artifacts.open(.dataset, id: n, sha256: nil),
                   let d = try? HTTPApp.describeDataset(name: n, folder: folder) { items.append(d) }
            }
            return APIResult(200, ["datasets": .array(items)])
        }
        // Uploads are spooled into the datasets folder itself (hidden `.spool-*` files): on the disk the dataset
        // lands on, not in a /tmp that may be RAM. Leftovers of a crash (spools, staging directories, batch
        // predictions' extracted archives; `.unwrap-*` from versions that unwrapped outside staging) go now.
        let stale = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
            .filter { $0.hasPrefix(".spool-") || $0.hasPrefix(".unwrap-") || $0.hasPrefix(HTTPApp.batchFolderPrefix)
                || $0.hasPrefix(HTTPApp.importFolderPrefix) }
        for name in stale { try? FileManager.default.removeItem(at: root.appendingPathComponent(name)) }
        ArchiveExtractor.removeLeftovers(in: root)
        let limits = {
            var l = ArchiveLimits()
            l.maxEntries = service.configuration.maxDatasetEntries
            return l
        }()
        route("POST", "/v1/datasets", mutating: true, bodyLimit: service.configuration.maxDatasetBytes,
              spoolBodyTo: root) { request, _ in
            guard let body = request.bodyFile else {
                throw ServiceError(400, "no_file",
                                   "send the archive as the request body: curl -F name=shoes -F file=@shoes.tar.gz")
            }
            var name = request.query["name"]
            let archive = try HTTPApp.spooledArchive(request, file: body, maxParts: 8,
                                                     usage: "curl -F name=shoes -F file=@shoes.tar.gz")
            if let field = archive.parts.first(where: { $0.name == "name" && $0.filename == nil }) {
                name = String(decoding: try Multipart.read(field, from: body, limit: 1024), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let range = archive.range
            guard let name else { throw ServiceError(400, "invalid_dataset_name", "a dataset name is required (form field name or ?name=)", field: "name") }
            try HTTPApp.checkDatasetName(name)
            try HTTPApp.checkNotBuiltin(name)
            let taken = ServiceError(409, "dataset_exists", "a dataset named \(name) already exists; delete it first")
            guard !exists(name) else { throw taken }
            // The format is what the bytes say, whatever the Content-Type claimed. An archive of one top-level
            // folder ("shoes/boots/…") is unwrapped to the class folders, inside the extractor's staging, into the
            // artifact store's staging: the dataset appears whole, with the commit.
            let staging = try artifacts.stage(.dataset)
            do throws(ArchiveError) {
                _ = try ArchiveExtractor.extract(file: body, range: range, to: staging, limits: limits) {
                    !["train", "validation"].contains($0)
                }
            } catch {
                artifacts.discard(staging)
                throw ServiceError(from: error)
            }
            do {
                _ = try artifacts.commit(staging, as: .dataset, id: name)
            } catch {
                artifacts.discard(staging)
                if case ArtifactError.exists = error { throw taken }   // another upload of the name won the race
                throw error
            }
            do {
                let folder = try artifacts.open(.dataset, id: name, sha256: nil)
                return APIResult(201, try HTTPApp.describeDataset(name: name, folder: folder),
                                 headers: [("Location", "/v1/datasets/\(name)")])
            } catch {
                try? artifacts.remove(.dataset, id: name)
                // The scan's own errors are about the folders the user sent; any other is the server's.
                guard let e = error as? TrainingError else { throw error }
                throw ServiceError(400, "invalid_dataset", "the archive is not a dataset of class folders: \(e.message)", field: "file")
            }
        }
        route("DELETE", "/v1/datasets/{name}", mutating: true) { _, p in
            let name = p["name"]!
            try HTTPApp.checkDatasetName(name)
            try HTTPApp.checkNotBuiltin(name)
            guard exists(name) else { throw ServiceError.notFound("dataset", name) }
            for state in [JobState.queued, .running, .cancelling] {
                for job in try service.store.jobs(state: state, limit: 10_000, before: nil) {
                    let ds = (try? JSONValue.parse(job.specJSON))?["dataset"]
                    let used = [ds?["directory"]?.stringValue, ds?["validation_directory"]?.stringValue].compactMap { $0 }
                    if used.contains(where: { $0 == name || $0.hasPrefix(name + "/") }) {
                        throw ServiceError(409, "dataset_in_use", "job \(job.id) (\(state.rawValue)) uses dataset \(name)")
                    }
                }
            }
            try artifacts.remove(.dataset, id: name)
            return APIResult(200, ["deleted": .string(name)])
        }
    }
}
