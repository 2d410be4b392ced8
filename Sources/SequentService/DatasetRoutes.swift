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

    enum ArchiveFormat: Equatable {
        case zip
        /// Plain or gzip-compressed: `TarArchive` tells them apart itself.
        case tar
        /// What the bytes are instead, for the error message.
        case unsupported(String)
    }

    /// The archive format by magic bytes (the first 512 bytes are enough for all of them).
    static func archiveFormat(_ head: [UInt8]) -> ArchiveFormat {
        if head.starts(with: [0x50, 0x4B, 3, 4]) || head.starts(with: [0x50, 0x4B, 5, 6]) { return .zip }
        if head.starts(with: [0x1F, 0x8B]) || TarArchive.isTar(head) { return .tar }
        let known: [([UInt8], String)] = [
            (Array("BZh".utf8), "bzip2-compressed"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz-compressed"),
            ([0x28, 0xB5, 0x2F, 0xFD], "zstd-compressed"), ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "a 7z archive"),
            (Array("Rar!".utf8), "a RAR archive"), ([0x50, 0x4B], "a zip archive of an unsupported kind"),
        ]
        if let (_, what) = known.first(where: { head.starts(with: $0.0) }) { return .unsupported(what) }
        return .unsupported(head.isEmpty ? "empty" : "not a zip, tar or tar.gz archive")
    }

    /// The first 512 bytes of `range` of `file` (all of it when nil), or fewer when it is shorter.
    static func readHead(of file: URL, range: Range<Int>?) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range?.lowerBound ?? 0))
        let data = try handle.read(upToCount: min(512, range?.count ?? 512)) ?? Data()
        return [UInt8](data)
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
        // Uploads are spooled into the datasets folder itself (hidden `.spool-*` files): on the disk the dataset
        // lands on, not in a /tmp that may be RAM. Leftovers of a crash (spools, staging and unwrap folders) go now.
        let stale = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [])
            .filter { $0.hasPrefix(".spool-") || $0.hasPrefix(".upload-") || $0.hasPrefix(".unwrap-") }
        for name in stale { try? FileManager.default.removeItem(at: root.appendingPathComponent(name)) }
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
            // The archive is the whole body, or the file part's bytes of a multipart body: either way it stays in the
            // spooled file and is read from there in pieces.
            var range: Range<Int>?
            let type = (request.header("content-type") ?? "").lowercased()
            if type.hasPrefix("multipart/form-data") {
                let boundary = try Multipart.boundary(fromContentType: request.header("content-type") ?? "")
                let parts = try Multipart.parse(contentsOf: body, boundary: boundary, maxParts: 8)
                if let field = parts.first(where: { $0.name == "name" && $0.filename == nil }) {
                    name = String(decoding: try Multipart.read(field, from: body, limit: 1024), as: UTF8.self)
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
                guard let file = parts.first(where: { $0.name == "file" || $0.filename != nil }) else {
                    throw ServiceError(400, "no_file", "the form has no file part: curl -F name=shoes -F file=@shoes.tar.gz")
                }
                range = file.range
            } else if !type.isEmpty && !HTTPApp.archiveMediaTypes.contains(where: { type.hasPrefix($0) }) {
                throw ServiceError(415, "unsupported_media_type",
                                   "send a zip or tar.gz as multipart/form-data (name + file) or as the body with ?name= "
                                   + "(application/zip, application/gzip, application/x-tar or application/octet-stream), not \(type)")
            }
            guard let name else { throw ServiceError(400, "invalid_dataset_name", "a dataset name is required (form field name or ?name=)", field: "name") }
            try HTTPApp.checkDatasetName(name)
            try HTTPApp.checkNotBuiltin(name)
            let dest = root.appendingPathComponent(name)
            guard !FileManager.default.fileExists(atPath: dest.path) else {
                throw ServiceError(409, "dataset_exists", "a dataset named \(name) already exists; delete it first")
            }
            // The format is what the bytes say, whatever the Content-Type claimed.
            let head = try HTTPApp.readHead(of: body, range: range)
            do {
                switch HTTPApp.archiveFormat(head) {
                case .zip: _ = try ZipArchive.extract(file: body, range: range, to: dest, limits: limits)
                case .tar: _ = try TarArchive.extract(file: body, range: range, to: dest, limits: limits)
                case .unsupported(let what):
                    throw ServiceError(415, "unsupported_archive",
                                       "the upload is \(what); send a zip, tar or tar.gz of class folders", field: "file")
                }
            } catch let e as ArchiveError {
                if FileManager.default.fileExists(atPath: dest.path) {  // another upload of the name won the race
                    throw ServiceError(409, "dataset_exists", "a dataset named \(name) already exists; delete it first")
                }
                throw ServiceError(from: e)
            }
            // An archive of one top-level folder ("shoes/boots/…") is unwrapped to the class folders.
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
                // The scan's own errors are about the folders the user sent; any other is the server's.
                guard let e = error as? TrainingError else { throw error }
                throw ServiceError(400, "invalid_dataset", "the archive is not a dataset of class folders: \(e.message)", field: "file")
            }
        }
        route("DELETE", "/v1/datasets/{name}", mutating: true) { _, p in
            let name = p["name"]!
            try HTTPApp.checkDatasetName(name)
            try HTTPApp.checkNotBuiltin(name)
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
