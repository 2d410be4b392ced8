import Foundation
import SequentStore

/// The cluster's `ArtifactStore`: every artifact lives in PostgreSQL (chunked bytea, `PostgresStore.put`), so a
/// cluster needs nothing but its database; each machine reads them through a local cache.
///
/// A writer stages a folder in `cacheDirectory/staging/`; `commit` packs its files into one blob (`FolderPack`),
/// stores it with the folder's `ArtifactDigest`, and keeps the staged folder as the cached copy. `open` looks the
/// artifact up (a small query), and returns the cached folder `cacheDirectory/artifacts/<kind>/<id>/<digest>/` when
/// it is there and still matches its digest; otherwise it downloads the blob (checked against its SHA-256),
/// unpacks it beside the cache, checks the files against the digest and renames the folder into place. Replaced
/// artifacts get a new cache folder (the digest is in its path), so a reader of the old one is never disturbed.
public final class PostgresArtifactStore: ArtifactStore, @unchecked Sendable {
    // @unchecked: immutable after init; the database and the file system are the state.
    public let store: PostgresStore
    public let cacheDirectory: URL
    private var stagingRoot: URL { cacheDirectory.appendingPathComponent("staging") }

    /// Artifacts in `store`'s database, cached under `cacheDirectory` (created when missing).
    public init(store: PostgresStore, cacheDirectory: URL) throws {
        self.store = store
        self.cacheDirectory = cacheDirectory
        try FileManager.default.createDirectory(at: cacheDirectory.appendingPathComponent("staging"),
                                                withIntermediateDirectories: true)
    }

    /// The cache folder of one version of an artifact. The id is percent-encoded into one path component, so a
    /// checkpoint `<job>/epoch-<n>` is a sibling of its job's other checkpoints and a removal finds them by prefix.
    func cacheFolder(_ kind: ArtifactKind, id: String, digest: String) -> URL {
        cacheRoot(kind, id: id).appendingPathComponent(digest)
    }

    private func cacheRoot(_ kind: ArtifactKind, id: String) -> URL {
        cacheDirectory.appendingPathComponent("artifacts/\(kind.rawValue)").appendingPathComponent(Self.encode(id))
    }

    static let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")

    static func encode(_ id: String) -> String { id.addingPercentEncoding(withAllowedCharacters: plain) ?? id }

    /// A new path under the staging folder (which `removeLeftovers` empties).
    private func scratch(_ name: String) -> URL {
        stagingRoot.appendingPathComponent("\(name)-\(UUID().uuidString)")
    }

    public func stage(_ kind: ArtifactKind) throws -> URL {
        try FileManager.default.createDirectory(at: stagingRoot, withIntermediateDirectories: true)
        return scratch(kind.rawValue)
    }

    public func commit(_ staging: URL, as kind: ArtifactKind, id: String, replacing: Bool) throws -> ArtifactReceipt {
        let receipt = try ArtifactDigest.of(directory: staging)
        let blob = scratch("pack")
        defer { try? FileManager.default.removeItem(at: blob) }
        try FolderPack.pack(staging, files: receipt.files.keys.sorted(), to: blob)
        do {
            try store.put(kind: kind.rawValue, id: id, contentsOf: blob, digest: receipt.sha256, replacing: replacing)
        } catch let error as PostgresError where error.kind == .uniqueViolation {
            throw ArtifactError.exists(kind, id)
        }
        // The staged folder is exactly what was stored: keep it as this machine's cached copy.
        if !moveIntoCache(staging, kind: kind, id: id, digest: receipt.sha256) {
            try? FileManager.default.removeItem(at: staging)
        }
        return receipt
    }

    /// Renames a checked folder to its cache location; false when it could not (another open put the same content
    /// there first), leaving the folder where it was.
    private func moveIntoCache(_ folder: URL, kind: ArtifactKind, id: String, digest: String) -> Bool {
        let target = cacheFolder(kind, id: id, digest: digest)
        try? FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        return rename(folder.path, target.path) == 0
    }

    public func discard(_ staging: URL) { try? FileManager.default.removeItem(at: staging) }

    public func open(_ kind: ArtifactKind, id: String, sha256: String?) throws -> URL {
        guard let head = try store.artifactHeader(kind: kind.rawValue, id: id) else { throw ArtifactError.notFound(kind, id) }
        // No digest: bytes stored by something other than this store, not a folder.
        guard let digest = head.digest, sha256 == nil || sha256 == digest else { throw ArtifactError.corrupt(kind, id) }
        let cached = cacheFolder(kind, id: id, digest: digest)
        if FileManager.default.fileExists(atPath: cached.path) {
            if (try? ArtifactDigest.of(directory: cached).sha256) == digest { return cached }
            // A damaged copy (a disk error, a hand edit): fetch it again.
            try? FileManager.default.removeItem(at: cached)
        }
        return try download(kind, id: id, expecting: sha256)
    }

    /// Fetches, unpacks and checks the artifact, and puts it in the cache.
    private func download(_ kind: ArtifactKind, id: String, expecting sha256: String?) throws -> URL {
        let work = scratch("open")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let blob = work.appendingPathComponent("blob"), folder = work.appendingPathComponent("folder")
        let head: PostgresStore.ArtifactHeader
        do {
            // Read again: the artifact may have been replaced or removed since the header was.
            guard let found = try store.get(kind: kind.rawValue, id: id, to: blob) else { throw ArtifactError.notFound(kind, id) }
            head = found
        } catch let error as PostgresError where error.kind == .corruptArtifact {
            throw ArtifactError.corrupt(kind, id)
        }
        guard let digest = head.digest, sha256 == nil || sha256 == digest,
              (try? FolderPack.unpack(blob, into: folder)) != nil,
              try ArtifactDigest.of(directory: folder).sha256 == digest else { throw ArtifactError.corrupt(kind, id) }
        // Losing the rename to another open of the same content is fine: its folder is the same.
        _ = moveIntoCache(folder, kind: kind, id: id, digest: digest)
        return cacheFolder(kind, id: id, digest: digest)
    }

    public func remove(_ kind: ArtifactKind, id: String) throws {
        try store.deleteArtifact(kind: kind.rawValue, id: id, withDescendants: kind == .checkpoint)
        let root = cacheRoot(kind, id: id)
        try? FileManager.default.removeItem(at: root)
        guard kind == .checkpoint else { return }
        let parent = root.deletingLastPathComponent(), prefix = Self.encode(id + "/")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
        }
    }

    public func list(_ kind: ArtifactKind) throws -> [String] { try store.artifactIDs(kind: kind.rawValue) }

    /// Only this machine's interrupted writes and downloads (the staging folder): the database holds no partial
    /// artifact (a put is one transaction), and cached folders are complete by construction (renamed into place).
    public func removeLeftovers() throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: stagingRoot.path)) ?? []).sorted()
        for name in names { try? FileManager.default.removeItem(at: stagingRoot.appendingPathComponent(name)) }
        return names.map { "staging/" + $0 }
    }
}
