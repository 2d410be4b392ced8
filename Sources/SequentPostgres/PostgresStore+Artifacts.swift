import Foundation
import SequentStore

/// Artifacts as bytea chunks, so every machine of a cluster reads what any other wrote with nothing but the
/// database. Each artifact records the SHA-256 and size of its bytes, and a read checks both. Bytes go from a file
/// and to a file one chunk at a time, so an artifact (an uploaded dataset) never has to fit in memory.
extension PostgresStore {
    /// Bytes per chunk: far below bytea's 1 GB limit, and one chunk at a time is what a statement holds in memory.
    public static let artifactChunkSize = 1 << 20

    /// What is recorded of a stored artifact.
    public struct ArtifactHeader: Sendable, Equatable {
        /// SHA-256 of the stored bytes.
        public var sha256: String
        public var size: Int
        /// The folder's `ArtifactDigest` when the bytes are a packed folder (`PostgresArtifactStore`).
        public var digest: String?
    }

    /// Stores the bytes of `file` as `(kind, id)` in one transaction (a reader sees the old bytes or the new ones,
    /// never a mix), replacing an artifact of that name when `replacing`; otherwise an existing one makes it throw
    /// `.uniqueViolation`. Returns the SHA-256 recorded.
    @discardableResult
    public func put(kind: String, id: String, contentsOf file: URL, digest: String? = nil,
                    replacing: Bool = true) throws -> String {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        return try transaction { c in
            // Deleting the artifact row cascades to its chunks.
            if replacing { try c.execute("DELETE FROM artifacts WHERE kind = $1 AND id = $2", [.text(kind), .text(id)]) }
            // The header first (the chunks reference it); its size and SHA-256 are known once the bytes are sent.
            try c.execute("INSERT INTO artifacts (kind, id, sha256, size, digest) VALUES ($1, $2, '', 0, $3)",
                          [.text(kind), .text(id), PostgresValue(digest)])
            let hasher = SHA256.Hasher()
            var n = 0, size = 0
            while let chunk = try handle.read(upToCount: Self.artifactChunkSize), !chunk.isEmpty {
                hasher.update(chunk)
                try c.execute("INSERT INTO artifact_chunks (kind, id, n, bytes) VALUES ($1, $2, $3, $4)",
                              [.text(kind), .text(id), .int(Int64(n)), .bytes(chunk)])
                n += 1
                size += chunk.count
            }
            let sha256 = hasher.finalizeHex()
            try c.execute("UPDATE artifacts SET sha256 = $3, size = $4 WHERE kind = $1 AND id = $2",
                          [.text(kind), .text(id), .text(sha256), .int(Int64(size))])
            return sha256
        }
    }

    /// The header of an artifact, nil when there is none.
    public func artifactHeader(kind: String, id: String) throws -> ArtifactHeader? {
        try query("SELECT sha256, size, digest FROM artifacts WHERE kind = $1 AND id = $2", [.text(kind), .text(id)],
                  idempotent: true).first.map(Self.header(from:))
    }

    static func header(from row: PostgresRow) -> ArtifactHeader {
        ArtifactHeader(sha256: row["sha256"].text ?? "", size: row["size"].int ?? -1, digest: row["digest"].text)
    }

    /// Writes the artifact's bytes to `file` (created or truncated) and returns its header, nil (and no file) when
    /// there is none. Throws `.corruptArtifact` when the chunks do not add up to the recorded size or SHA-256 (a
    /// partial write cannot happen; a damaged row or a hand edit can).
    public func get(kind: String, id: String, to file: URL) throws -> ArtifactHeader? {
        try pool.withConnection { c in
            // REPEATABLE READ: the header and the chunks come from one snapshot even if a put replaces them meanwhile.
            try c.withTransaction(isolation: .repeatableRead) { c in
                guard let head = try c.query("SELECT sha256, size, digest FROM artifacts WHERE kind = $1 AND id = $2",
                                             [.text(kind), .text(id)]).first.map(Self.header(from:)) else { return nil }
                guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                    throw ArtifactError.io(code: errno, path: file.path)
                }
                let out = try FileHandle(forWritingTo: file)
                defer { try? out.close() }
                let hasher = SHA256.Hasher()
                var n = 0, size = 0
                // One chunk per round trip keeps memory at one chunk.
                while let row = try c.query("SELECT bytes FROM artifact_chunks WHERE kind = $1 AND id = $2 AND n = $3",
                                            [.text(kind), .text(id), .int(Int64(n))]).first {
                    let bytes = row["bytes"].bytes ?? Data()
                    hasher.update(bytes)
                    try out.write(contentsOf: bytes)
                    size += bytes.count
                    n += 1
                }
                guard size == head.size else {
                    throw PostgresError(kind: .corruptArtifact,
                                        message: "artifact \(kind)/\(id) has \(size) bytes, \(head.size) recorded")
                }
                guard hasher.finalizeHex() == head.sha256 else {
                    throw PostgresError(kind: .corruptArtifact, message: "artifact \(kind)/\(id) fails its SHA-256 check")
                }
                return head
            }
        }
    }

    /// Removes the artifact `id` and, with `withDescendants`, those under `id/`; says how many it removed.
    @discardableResult
    public func deleteArtifact(kind: String, id: String, withDescendants: Bool = false) throws -> Int {
        try query("""
            DELETE FROM artifacts
            WHERE kind = $1 AND (id = $2::text OR ($3::bool AND left(id, length($2::text) + 1) = $2::text || '/'))
            RETURNING 1 AS done
            """, [.text(kind), .text(id), .bool(withDescendants)], idempotent: true).count
    }

    /// The ids of the artifacts of `kind`, sorted.
    public func artifactIDs(kind: String) throws -> [String] {
        try query("SELECT id FROM artifacts WHERE kind = $1 ORDER BY id", [.text(kind)], idempotent: true)
            .compactMap { $0["id"].text }
    }
}
