import Foundation

/// Artifacts (weights, checkpoints, uploaded datasets) as bytea chunks, so every machine of a cluster reads what
/// any other wrote with nothing but the database. Each artifact records the SHA-256 and size of its bytes, and a
/// read checks both.
extension PostgresStore {
    /// Bytes per chunk: far below bytea's 1 GB limit, and one chunk at a time is what a statement holds in memory.
    public static let artifactChunkSize = 1 << 20

    /// Stores `bytes` as `(kind, id)`, replacing an artifact of that name, in one transaction (a reader sees the
    /// old bytes or the new ones, never a mix). Returns the SHA-256 recorded.
    @discardableResult
    public func put(kind: String, id: String, bytes: Data) throws -> String {
        let sha256 = Digest.sha256Hex(bytes)
        try transaction { c in
            // Deleting the artifact row cascades to its chunks.
            try c.execute("DELETE FROM artifacts WHERE kind = $1 AND id = $2", [.text(kind), .text(id)])
            try c.execute("INSERT INTO artifacts (kind, id, sha256, size) VALUES ($1, $2, $3, $4)",
                          [.text(kind), .text(id), .text(sha256), .int(Int64(bytes.count))])
            var n = 0
            for start in stride(from: 0, to: bytes.count, by: Self.artifactChunkSize) {
                let chunk = bytes.subdata(in: bytes.startIndex + start..<bytes.startIndex + min(start + Self.artifactChunkSize, bytes.count))
                try c.execute("INSERT INTO artifact_chunks (kind, id, n, bytes) VALUES ($1, $2, $3, $4)",
                              [.text(kind), .text(id), .int(Int64(n)), .bytes(chunk)])
                n += 1
            }
        }
        return sha256
    }

    /// The artifact's bytes and recorded SHA-256, nil when there is none. Throws `.corruptArtifact` when the chunks
    /// do not add up to the recorded size or digest (a partial write cannot happen; a damaged row or a hand edit can).
    public func get(kind: String, id: String) throws -> (bytes: Data, sha256: String)? {
        try pool.withConnection { c in
            // REPEATABLE READ: the header and the chunks come from one snapshot even if a put replaces them meanwhile.
            try c.withTransaction(isolation: .repeatableRead) { c in
                guard let head = try c.query("SELECT sha256, size FROM artifacts WHERE kind = $1 AND id = $2",
                                             [.text(kind), .text(id)]).first else { return nil }
                let sha256 = head["sha256"].text ?? ""
                let size = head["size"].int ?? -1
                var bytes = Data(capacity: max(size, 0))
                // One chunk per round trip keeps memory at the artifact plus one chunk.
                var n = 0
                while let row = try c.query("SELECT bytes FROM artifact_chunks WHERE kind = $1 AND id = $2 AND n = $3",
                                            [.text(kind), .text(id), .int(Int64(n))]).first {
                    bytes.append(row["bytes"].bytes ?? Data())
                    n += 1
                }
                guard bytes.count == size else {
                    throw PostgresError(kind: .corruptArtifact,
                                        message: "artifact \(kind)/\(id) has \(bytes.count) bytes, \(size) recorded")
                }
                guard Digest.sha256Hex(bytes) == sha256 else {
                    throw PostgresError(kind: .corruptArtifact, message: "artifact \(kind)/\(id) fails its SHA-256 check")
                }
                return (bytes, sha256)
            }
        }
    }

    /// Removes an artifact; says whether there was one.
    @discardableResult
    public func deleteArtifact(kind: String, id: String) throws -> Bool {
        !(try query("DELETE FROM artifacts WHERE kind = $1 AND id = $2 RETURNING 1 AS done", [.text(kind), .text(id)])
            .isEmpty)
    }

    /// The ids of the artifacts of `kind`, sorted.
    public func artifactIDs(kind: String) throws -> [String] {
        try query("SELECT id FROM artifacts WHERE kind = $1 ORDER BY id", [.text(kind)], idempotent: true)
            .compactMap { $0["id"].text }
    }
}
