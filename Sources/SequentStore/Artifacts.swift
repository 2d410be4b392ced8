import Foundation

/// What an artifact is: each kind is its own namespace of ids.
public enum ArtifactKind: String, Sendable, CaseIterable {
    /// A trained model's folder (`config.json`, `model.weights.safetensors`); id = the model id.
    case model
    /// A job's checkpoint; id = `<job id>/epoch-<n>` (`<job id>` alone names all of a job's checkpoints for
    /// `remove`).
    case checkpoint
    /// An uploaded dataset of class folders; id = its name.
    case dataset
}

/// What `commit` made durable: the artifact digest and each file's SHA-256 (relative path → hex).
public struct ArtifactReceipt: Sendable, Equatable {
    public var sha256: String
    public var files: [String: String]

    public init(sha256: String, files: [String: String]) {
        self.sha256 = sha256
        self.files = files
    }
}

/// An artifact store's refusal.
public enum ArtifactError: Error, Equatable, CustomStringConvertible {
    case notFound(ArtifactKind, String)
    /// `commit` without `replacing` found the id taken (another upload of a dataset name won).
    case exists(ArtifactKind, String)
    /// The content does not match the digest it was recorded with (a disk error, a tampered file).
    case corrupt(ArtifactKind, String)
    /// A file-system call failed with `errno` (ENOSPC: the disk is full).
    case io(code: Int32, path: String)

    public var isDiskFull: Bool {
        if case .io(let code, _) = self { return code == ENOSPC || code == EDQUOT }
        return false
    }

    public var description: String {
        switch self {
        case .notFound(let k, let id): return "no \(k.rawValue) artifact \(id)"
        case .exists(let k, let id): return "the \(k.rawValue) artifact \(id) already exists"
        case .corrupt(let k, let id): return "the \(k.rawValue) artifact \(id) does not match its SHA-256"
        case .io(let code, let path): return "\(String(cString: strerror(code))) (\(path))"
        }
    }
}

/// Models, checkpoints and uploaded datasets, addressed by kind and id; the database records their digests.
///
/// An artifact is a folder of files. A writer asks for a staging location, writes the folder there (creating it:
/// `ModelArchive.save` and the archive extractor both do), and `commit`s it, which makes it durable under its id
/// and returns its digest. A reader `open`s it and gets a local folder, checked against the recorded digest. The
/// local store keeps the folders in the data directory (one rename per commit); a remote one (PostgreSQL chunked
/// `bytea`, an object store) uploads on commit and downloads on open into a cache keyed by the digest, so the
/// engine and the dataset readers only ever see local files.
public protocol ArtifactStore: Sendable {
    /// A local path, not yet existing, to write a `kind` artifact's folder at before `commit`.
    func stage(_ kind: ArtifactKind) throws -> URL
    /// Makes the folder at `staging` the artifact `id` (the staging path is gone afterwards) and returns its digest.
    /// An existing artifact of the id is replaced when `replacing`, else the commit throws `.exists`.
    func commit(_ staging: URL, as kind: ArtifactKind, id: String, replacing: Bool) throws -> ArtifactReceipt
    /// Removes a staging folder that will not be committed (its write failed).
    func discard(_ staging: URL)
    /// A local folder holding the artifact's files, for reading only. With `sha256`, content that does not match
    /// it is refused (`.corrupt`). Throws `.notFound` when there is no such artifact.
    func open(_ kind: ArtifactKind, id: String, sha256: String?) throws -> URL
    /// Removes the artifact `id` and, for checkpoints, every artifact under `id/`; nothing when there is none.
    func remove(_ kind: ArtifactKind, id: String) throws
    /// The ids of the artifacts of `kind` (for the start-up sweep and the dataset list).
    func list(_ kind: ArtifactKind) throws -> [String]
    /// Removes what interrupted writes left (staging folders, temporary files) and returns what it removed, for
    /// the log. Call it at start-up, before any worker runs.
    func removeLeftovers() throws -> [String]
}

/// The digest of a folder: SHA-256 of its manifest, the lines `<file SHA-256>  <relative path>\n` of every regular
/// file in path order (`sha256sum`'s format), so a changed, added, removed or renamed file changes it.
public enum ArtifactDigest {
    public static func of(directory: URL) throws -> ArtifactReceipt {
        var files: [String: String] = [:]
        let base = directory.standardizedFileURL.path
        let walk = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walk?.nextObject() as? URL {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            let path = url.standardizedFileURL.path
            let relative = path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : url.lastPathComponent
            files[relative] = try SHA256.hex(contentsOf: url)
        }
        return ArtifactReceipt(sha256: manifestDigest(files), files: files)
    }

    /// The digest of the manifest of `files` (relative path → SHA-256).
    public static func manifestDigest(_ files: [String: String]) -> String {
        let manifest = files.keys.sorted().map { "\(files[$0]!)  \($0)\n" }.joined()
        return SHA256.hex(Data(manifest.utf8))
    }
}

extension ArtifactStore {
    /// `commit` refusing to replace.
    public func commit(_ staging: URL, as kind: ArtifactKind, id: String) throws -> ArtifactReceipt {
        try commit(staging, as: kind, id: id, replacing: false)
    }
}

/// The default `ArtifactStore`: folders in the data directory, today's layout (`models/<id>/`,
/// `checkpoints/<job>/epoch-<n>/`, `<datasets root>/<name>/`). Staging folders are hidden siblings
/// (`.staging-<uuid>`) on the same file system, so a commit is one `rename(2)` followed by an fsync of the parent:
/// a crash leaves the artifact whole or absent, plus a staging folder `removeLeftovers` deletes.
public final class LocalArtifactStore: ArtifactStore, @unchecked Sendable {
    // @unchecked: immutable after init; the file system is the state.
    public let roots: [ArtifactKind: URL]
    static let stagingPrefix = ".staging-"
    /// The folders are shared by processes on other machines (an NFS-style directory beside a PostgreSQL store):
    /// `removeLeftovers` then takes only staging folders and `*.tmp` files untouched for `sharedLeftoverAge`, as a
    /// fresh one may be another machine's write in progress.
    public let shared: Bool
    public static let sharedLeftoverAge: TimeInterval = 3600

    /// Roots under `dataDirectory` (`models`, `checkpoints`) and `datasetsRoot` for datasets.
    public init(dataDirectory: URL, datasetsRoot: URL, shared: Bool = false) {
        roots = [.model: dataDirectory.appendingPathComponent("models"),
                 .checkpoint: dataDirectory.appendingPathComponent("checkpoints"),
                 .dataset: datasetsRoot]
        self.shared = shared
    }

    /// Whether a leftover may go: always on a private folder; on a shared one, once nobody has touched it for
    /// `sharedLeftoverAge`.
    private func isAbandoned(_ url: URL) -> Bool {
        guard shared else { return true }
        let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
        return modified.map { Date().timeIntervalSince($0) > Self.sharedLeftoverAge } ?? false
    }

    /// Where the artifact's folder is (whether or not it exists).
    public func location(_ kind: ArtifactKind, id: String) -> URL { roots[kind]!.appendingPathComponent(id) }

    /// mkdir -p with mkdir(2), so a failure carries its errno (Foundation's error on Linux does not).
    private static func makeDirectory(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ArtifactError.io(code: ENOTDIR, path: url.path) }
            return
        }
        let parent = url.deletingLastPathComponent()
        if parent.path != url.path { try makeDirectory(parent) }
        if mkdir(url.path, 0o755) != 0, errno != EEXIST { throw ArtifactError.io(code: errno, path: url.path) }
    }

    private static func fsyncDirectory(_ url: URL) {
        let fd = Foundation.open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    public func stage(_ kind: ArtifactKind) throws -> URL {
        try Self.makeDirectory(roots[kind]!)
        return roots[kind]!.appendingPathComponent(Self.stagingPrefix + UUID().uuidString)
    }

    public func commit(_ staging: URL, as kind: ArtifactKind, id: String, replacing: Bool) throws -> ArtifactReceipt {
        let receipt = try ArtifactDigest.of(directory: staging)
        let destination = location(kind, id: id)
        let parent = destination.deletingLastPathComponent()
        try Self.makeDirectory(parent)
        var replaced: URL?
        if FileManager.default.fileExists(atPath: destination.path) {
            guard replacing else { throw ArtifactError.exists(kind, id) }
            // A folder cannot be renamed over a non-empty one: move the old one aside (a `.tmp` the sweep removes).
            let aside = parent.appendingPathComponent(destination.lastPathComponent + ".replaced-\(UUID().uuidString).tmp")
            guard rename(destination.path, aside.path) == 0 else { throw ArtifactError.io(code: errno, path: destination.path) }
            replaced = aside
        }
        guard rename(staging.path, destination.path) == 0 else {
            let code = errno
            if let replaced { _ = rename(replaced.path, destination.path) }
            // Lost a race with another commit of the same id.
            if code == ENOTEMPTY || code == EEXIST { throw ArtifactError.exists(kind, id) }
            throw ArtifactError.io(code: code, path: destination.path)
        }
        Self.fsyncDirectory(parent)
        if let replaced { try? FileManager.default.removeItem(at: replaced) }
        return receipt
    }

    public func discard(_ staging: URL) { try? FileManager.default.removeItem(at: staging) }

    public func open(_ kind: ArtifactKind, id: String, sha256: String?) throws -> URL {
        let url = location(kind, id: id)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ArtifactError.notFound(kind, id)
        }
        if let sha256, try ArtifactDigest.of(directory: url).sha256 != sha256 { throw ArtifactError.corrupt(kind, id) }
        return url
    }

    public func remove(_ kind: ArtifactKind, id: String) throws {
        let url = location(kind, id: id)
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        do { try FileManager.default.removeItem(at: url) } catch { throw ArtifactError.io(code: EIO, path: url.path) }
    }

    /// Visible sub-folders; `*.tmp` ones too where they are names users chose (datasets).
    private func children(_ url: URL, keepingTemporary: Bool = false) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: [.isDirectoryKey])) ?? [])
            .filter { !$0.lastPathComponent.hasPrefix(".") && (keepingTemporary || $0.pathExtension != "tmp")
                && (try? $0.resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true }
    }

    public func list(_ kind: ArtifactKind) throws -> [String] {
        let top = children(roots[kind]!, keepingTemporary: kind == .dataset)
        guard kind == .checkpoint else { return top.map(\.lastPathComponent).sorted() }
        return top.flatMap { job in children(job).map { job.lastPathComponent + "/" + $0.lastPathComponent } }.sorted()
    }

    public func removeLeftovers() throws -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        for kind in ArtifactKind.allCases {
            let root = roots[kind]!
            func remove(_ url: URL) {
                guard isAbandoned(url) else { return }
                if (try? fm.removeItem(at: url)) != nil {
                    removed.append(root.lastPathComponent + "/" + String(url.path.dropFirst(root.path.count + 1)))
                }
            }
            for entry in (try? fm.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []
            where entry.lastPathComponent.hasPrefix(Self.stagingPrefix) {
                remove(entry)
            }
            // Datasets are the uploader's files: only the engine's own temporary files are swept.
            guard kind != .dataset else { continue }
            var temporary: [URL] = []
            let walk = fm.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = walk?.nextObject() as? URL {
                guard url.pathExtension == "tmp" else { continue }
                temporary.append(url)
                walk?.skipDescendants()
            }
            temporary.forEach(remove)
            // A job folder emptied by the removals above names no checkpoint; `list` would not show it.
            if kind == .checkpoint {
                for job in children(root) where ((try? fm.contentsOfDirectory(atPath: job.path)) ?? ["?"]).isEmpty {
                    remove(job)
                }
            }
        }
        return removed
    }
}
