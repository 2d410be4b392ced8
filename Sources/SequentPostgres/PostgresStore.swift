import Foundation
import SequentStore

/// The cluster store: jobs, epochs, step metrics, models, artifacts and events in one PostgreSQL database shared by
/// every `sequent serve` replica and `sequent worker`. The same records and semantics as `SQLiteStore`; the
/// cluster's additions (leases, artifacts, events) are in the other `PostgresStore+…` files.
///
/// Times are written and compared by the database (`now()`, `to_timestamp`), so machines' clocks do not have to
/// agree for leases; they are read back as seconds since 1970.
public final class PostgresStore: ServiceStore, @unchecked Sendable {
    // @unchecked: immutable after init; the pool is thread-safe.
    public let pool: PostgresConnectionPool

    /// Connects (`poolSize` connections at most) and applies the migrations.
    public init(url: String, poolSize: Int = 4) throws {
        pool = try PostgresConnectionPool(url: url, size: poolSize)
        _ = try pool.withConnection { try PostgresSchema.migrate($0) }
    }

    /// Shorthand: one statement on a pooled connection.
    @discardableResult
    func query(_ sql: String, _ params: [PostgresValue] = [], idempotent: Bool = false) throws -> [PostgresRow] {
        try pool.withConnection { try $0.query(sql, params, idempotent: idempotent) }
    }

    func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try pool.withConnection { try $0.withTransaction(body) }
    }

    // MARK: Rows

    /// The job columns with times as seconds since 1970 (so no date text is parsed).
    static let jobColumns = """
        sequence, id, name, state, spec, progress, metrics, stop_reason, error, model_id, checkpoint_epoch, warnings,
        checkpoint_sha256, worker_id, worker_host, worker_pid, note,
        extract(epoch FROM created_at)::float8 AS created_at, extract(epoch FROM started_at)::float8 AS started_at,
        extract(epoch FROM finished_at)::float8 AS finished_at,
        extract(epoch FROM lease_expires_at)::float8 AS lease_expires_at
        """

    static func date(_ value: PostgresValue) -> Date? { value.double.map(Date.init(timeIntervalSince1970:)) }

    static func job(from row: PostgresRow) -> JobRecord {
        var j = JobRecord(id: row["id"].text ?? "", name: row["name"].text ?? "",
                          state: JobState(rawValue: row["state"].text ?? "") ?? .failed,
                          specJSON: row["spec"].text ?? "{}", createdAt: date(row["created_at"]) ?? Date())
        j.startedAt = date(row["started_at"])
        j.finishedAt = date(row["finished_at"])
        j.progressJSON = row["progress"].text
        j.metricsJSON = row["metrics"].text
        j.stopReason = row["stop_reason"].text
        j.error = row["error"].text
        j.modelID = row["model_id"].text
        j.checkpointEpoch = row["checkpoint_epoch"].int ?? 0
        j.warningsJSON = row["warnings"].text
        j.sequence = row["sequence"].int ?? 0
        j.checkpointSHA256 = row["checkpoint_sha256"].text
        if let id = row["worker_id"].text {
            j.worker = WorkerIdentity(id: id, host: row["worker_host"].text ?? "", pid: row["worker_pid"].int ?? 0)
        }
        j.leaseExpiresAt = date(row["lease_expires_at"])
        j.note = row["note"].text
        return j
    }

    // MARK: JobQueue

    /// An arbitrary constant naming the enqueue lock: the count-then-insert of a bounded queue must not interleave
    /// between replicas, or two of them could both take the last free place.
    static let enqueueLock: Int64 = 0x5365_7175_656E_7402

    public func enqueue(_ job: JobRecord, maxQueued: Int) throws -> Bool {
        try transaction { c in
            try c.execute("SELECT pg_advisory_xact_lock($1)", [.int(Self.enqueueLock)])
            let queued = try c.query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'").first?["n"].int ?? 0
            guard queued < maxQueued else { return false }
            try c.execute("""
                INSERT INTO jobs (id, name, state, spec, created_at, note) VALUES ($1, $2, $3, $4, to_timestamp($5), $6)
                """, [.text(job.id), .text(job.name), .text(job.state.rawValue), .text(job.specJSON),
                      PostgresValue(job.createdAt), PostgresValue(job.note)])
            return true
        }
    }

    public func queuedCount() throws -> Int {
        try query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'", idempotent: true).first?["n"].int ?? 0
    }

    // MARK: JobRecords

    public func job(id: String) throws -> JobRecord? {
        try query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1", [.text(id)], idempotent: true)
            .first.map(Self.job(from:))
    }

    public func jobs(_ filter: JobFilter, limit: Int, before: Int?) throws -> [JobRecord] {
        // strpos, not LIKE: the text is matched as it is, `%` and `_` included.
        try query("""
            SELECT \(Self.jobColumns) FROM jobs
            WHERE ($1::text IS NULL OR state = $1) AND ($2::bigint IS NULL OR sequence < $2)
                AND ($4::text IS NULL OR name = $4)
                AND ($5::text IS NULL OR $5 IN (spec::jsonb #>> '{dataset,name}', spec::jsonb #>> '{dataset,directory}'))
                AND ($6::text IS NULL OR strpos(lower(name), lower($6)) > 0
                     OR strpos(lower(COALESCE(note, '')), lower($6)) > 0)
            ORDER BY sequence DESC LIMIT $3
            """, [PostgresValue(filter.state?.rawValue), PostgresValue(before), .int(Int64(limit)),
                  PostgresValue(filter.name), PostgresValue(filter.dataset),
                  PostgresValue(filter.text.flatMap { $0.isEmpty ? nil : $0 })], idempotent: true)
            .map(Self.job(from:))
    }

    public func setNote(jobID: String, note: String?) throws -> Bool {
        !(try query("UPDATE jobs SET note = $2 WHERE id = $1 RETURNING 1 AS done", [.text(jobID), PostgresValue(note)],
                    idempotent: true)).isEmpty
    }

    public func deleteJob(id: String) throws -> JobDeletion {
        try transaction { c in
            // FOR UPDATE: a claim (FOR UPDATE SKIP LOCKED) passes this job by until the delete is decided.
            guard let job = try c.query("SELECT \(Self.jobColumns) FROM jobs WHERE id = $1 FOR UPDATE", [.text(id)])
                .first.map(Self.job(from:)) else { return .notFound }
            guard !job.state.isClaimed else { return .claimed(job.state) }
            // Epochs and step metrics go with it (ON DELETE CASCADE).
            try c.execute("DELETE FROM jobs WHERE id = $1", [.text(id)])
            return .deleted(job)
        }
    }

    /// Sets every column of `job` that the service owns. The worker and lease are left alone while the job stays
    /// claimed (a heartbeat may have renewed the lease since the caller read the record) and cleared when it is
    /// released (written queued or finished). An UPDATE to absolute values, so retrying it is safe.
    static let updateSQL = """
        UPDATE jobs SET state = $2, started_at = to_timestamp($3), finished_at = to_timestamp($4), progress = $5,
            metrics = $6, stop_reason = $7, error = $8, model_id = $9, checkpoint_epoch = $10, warnings = $11,
            checkpoint_sha256 = $12, \(releaseWorker("$2"))
        WHERE id = $1
        """

    /// The worker and lease columns kept while `state` (a parameter) is a claimed state, cleared otherwise.
    static func releaseWorker(_ state: String) -> String {
        ["worker_id", "worker_host", "worker_pid", "lease_expires_at"]
            .map { "\($0) = CASE WHEN \(state)::text IN ('running', 'cancelling') THEN \($0) END" }
            .joined(separator: ", ")
    }

    static func updateParams(_ job: JobRecord) -> [PostgresValue] {
        [.text(job.id), .text(job.state.rawValue), PostgresValue(job.startedAt), PostgresValue(job.finishedAt),
         PostgresValue(job.progressJSON), PostgresValue(job.metricsJSON), PostgresValue(job.stopReason),
         PostgresValue(job.error), PostgresValue(job.modelID), .int(Int64(job.checkpointEpoch)),
         PostgresValue(job.warningsJSON), PostgresValue(job.checkpointSHA256)]
    }

    /// The fence of a worker's writes, on parameter `$13`: when the record names a worker (`job.worker`), only while
    /// that worker still holds the job; one that lost its lease must not write over the job's new holder.
    static let heldByWorker = "($13::text IS NULL OR (worker_id = $13 AND state IN ('running', 'cancelling')))"

    static func fenceParams(_ job: JobRecord) -> [PostgresValue] { [PostgresValue(job.worker?.id)] }

    public func update(_ job: JobRecord) throws {
        try query(Self.updateSQL, Self.updateParams(job), idempotent: true)
    }

    /// Compare-and-set in one statement: the stored state and (when named) the holder are checked by the UPDATE.
    public func update(_ job: JobRecord, ifStateIn states: [JobState]) throws -> Bool {
        let rows = try query(Self.updateSQL + " AND state = ANY($14::text[]) AND \(Self.heldByWorker) RETURNING 1 AS done",
                             Self.updateParams(job) + Self.fenceParams(job) + [.textArray(states.map(\.rawValue))])
        return !rows.isEmpty
    }

    public func transition(id: String, from: [JobState], to: JobState, finishedAt: Date?) throws -> Bool {
        let rows = try query("""
            UPDATE jobs SET state = $2, finished_at = COALESCE(to_timestamp($3), finished_at), \(Self.releaseWorker("$2"))
            WHERE id = $1 AND state = ANY($4::text[]) RETURNING 1 AS done
            """, [.text(id), .text(to.rawValue), PostgresValue(finishedAt), .textArray(from.map(\.rawValue))])
        return !rows.isEmpty
    }

    @discardableResult
    public func recordEpoch(_ epoch: EpochRecord, job: JobRecord) throws -> Bool {
        try transaction { c in
            // The fenced job write first: when it is refused, nothing of the epoch is written either.
            if job.worker != nil {
                let held = try c.query(Self.updateSQL + " AND \(Self.heldByWorker) RETURNING 1 AS done",
                                       Self.updateParams(job) + Self.fenceParams(job))
                guard !held.isEmpty else { return false }
            } else {
                try c.execute(Self.updateSQL, Self.updateParams(job))
            }
            try c.execute("""
                INSERT INTO epochs (job_id, epoch, logs, learning_rate, duration_seconds, samples_per_second, finished_at)
                VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7))
                ON CONFLICT (job_id, epoch) DO UPDATE SET logs = excluded.logs, learning_rate = excluded.learning_rate,
                    duration_seconds = excluded.duration_seconds, samples_per_second = excluded.samples_per_second,
                    finished_at = excluded.finished_at
                """, [.text(epoch.jobID), .int(Int64(epoch.epoch)), .text(epoch.logsJSON), PostgresValue(epoch.learningRate),
                      PostgresValue(epoch.durationSeconds), PostgresValue(epoch.samplesPerSecond),
                      PostgresValue(epoch.finishedAt)])
            return true
        }
    }

    public func epochs(jobID: String) throws -> [EpochRecord] {
        try query("""
            SELECT epoch, logs, learning_rate, duration_seconds, samples_per_second,
                extract(epoch FROM finished_at)::float8 AS finished_at
            FROM epochs WHERE job_id = $1 ORDER BY epoch
            """, [.text(jobID)], idempotent: true).map { row in
            EpochRecord(jobID: jobID, epoch: row["epoch"].int ?? 0, logs: EpochRecord.logs(fromJSON: row["logs"].text),
                        learningRate: row["learning_rate"].double ?? 0,
                        durationSeconds: row["duration_seconds"].double ?? 0,
                        samplesPerSecond: row["samples_per_second"].double ?? 0,
                        finishedAt: Self.date(row["finished_at"]) ?? Date())
        }
    }

    /// Points per INSERT: one statement carries a batch as arrays (`unnest`), so a batch costs one round trip.
    static let metricBatch = 5000

    public func appendMetrics(jobID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        try transaction { c in
            for start in stride(from: 0, to: points.count, by: Self.metricBatch) {
                let batch = points[start..<min(start + Self.metricBatch, points.count)]
                try c.execute("""
                    INSERT INTO step_metrics (job_id, key, step, wall_time, value)
                    SELECT $1, k, s, w, v FROM unnest($2::text[], $3::bigint[], $4::float8[], $5::float8[]) AS u (k, s, w, v)
                    """, [.text(jobID), .textArray(batch.map(\.key)), .intArray(batch.map(\.step)),
                          .doubleArray(batch.map(\.wallTime)), .doubleArray(batch.map(\.value))])
            }
        }
    }

    public func metrics(jobID: String, key: String?) throws -> [MetricPoint] {
        try query("""
            SELECT key, step, wall_time, value FROM step_metrics WHERE job_id = $1 AND ($2::text IS NULL OR key = $2)
            ORDER BY key, step
            """, [.text(jobID), PostgresValue(key)], idempotent: true).map {
            MetricPoint(key: $0["key"].text ?? "", step: $0["step"].int ?? 0, wallTime: $0["wall_time"].double ?? 0,
                        value: $0["value"].double ?? .nan)
        }
    }

    /// Removes step metrics past `step` (a resumed job re-runs steps after its checkpoint).
    public func truncateMetrics(jobID: String, afterStep step: Int) throws {
        try query("DELETE FROM step_metrics WHERE job_id = $1 AND step > $2", [.text(jobID), .int(Int64(step))],
                  idempotent: true)
    }

    public func unfinishedRunningJobs() throws -> [JobRecord] {
        try query("SELECT \(Self.jobColumns) FROM jobs WHERE state IN ('running', 'cancelling') ORDER BY sequence",
                  idempotent: true).map(Self.job(from:))
    }

    public func countByState() throws -> [JobState: Int] {
        var out: [JobState: Int] = [:]
        for row in try query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state", idempotent: true) {
            if let s = JobState(rawValue: row["state"].text ?? "") { out[s] = row["n"].int ?? 0 }
        }
        return out
    }

    // MARK: ModelRegistry

    static let modelColumns = """
        id, job_id, name, path, sha256, metadata, artifact_sha256, extract(epoch FROM created_at)::float8 AS created_at
        """

    static func model(from row: PostgresRow) -> ModelRecord {
        ModelRecord(id: row["id"].text ?? "", jobID: row["job_id"].text ?? "", name: row["name"].text ?? "",
                    createdAt: date(row["created_at"]) ?? Date(), path: row["path"].text ?? "",
                    sha256: row["sha256"].text ?? "", metadataJSON: row["metadata"].text ?? "{}",
                    artifactSHA256: row["artifact_sha256"].text)
    }

    static func insertModel(_ model: ModelRecord, on c: PostgresConnection) throws {
        try c.execute("""
            INSERT INTO models (id, job_id, name, created_at, path, sha256, metadata, artifact_sha256)
            VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7, $8)
            """, [.text(model.id), .text(model.jobID), .text(model.name), PostgresValue(model.createdAt),
                  .text(model.path), .text(model.sha256), .text(model.metadataJSON), PostgresValue(model.artifactSHA256)])
    }

    public func addModel(_ model: ModelRecord) throws {
        try pool.withConnection { try Self.insertModel(model, on: $0) }
    }

    @discardableResult
    public func addModel(_ model: ModelRecord, finishing job: JobRecord) throws -> JobState {
        try transaction { c in
            var final = job
            // FOR UPDATE: a cancel arriving now waits for this transaction instead of being overwritten by it.
            let current = try c.query("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", [.text(job.id)]).first
            // A cancel may have come while the model was being saved: the user was told the job is cancelling.
            if current?["state"].text == JobState.cancelling.rawValue {
                final.state = .cancelled
                final.stopReason = StoreStopReason.cancelledAfterSave
            }
            try c.execute(Self.updateSQL, Self.updateParams(final))
            try Self.insertModel(model, on: c)
            return final.state
        }
    }

    public func model(id: String) throws -> ModelRecord? {
        try query("SELECT \(Self.modelColumns) FROM models WHERE id = $1", [.text(id)], idempotent: true)
            .first.map(Self.model(from:))
    }

    public func latestModel(named name: String) throws -> ModelRecord? {
        try query("SELECT \(Self.modelColumns) FROM models WHERE name = $1 ORDER BY created_at DESC, sequence DESC LIMIT 1",
                  [.text(name)], idempotent: true).first.map(Self.model(from:))
    }

    public func models(limit: Int) throws -> [ModelRecord] {
        try query("SELECT \(Self.modelColumns) FROM models ORDER BY created_at DESC, sequence DESC LIMIT $1",
                  [.int(Int64(limit))], idempotent: true).map(Self.model(from:))
    }

    public func deleteModel(id: String) throws -> Bool {
        try transaction { c in
            guard let jobID = try c.query("DELETE FROM models WHERE id = $1 RETURNING job_id", [.text(id)])
                .first?["job_id"].text else { return false }
            try c.execute("UPDATE jobs SET model_id = NULL WHERE id = $1 AND model_id = $2", [.text(jobID), .text(id)])
            return true
        }
    }
}
