import Foundation

/// The default store: one SQLite file in WAL mode holding jobs, epochs, step metrics and models.
///
/// SQLite serves one process: `TrainingService` treats every job found `running` at start-up as left by a process
/// that died. Leases are kept all the same (the columns of migration 3), so the service runs the same code on it
/// as on a store shared by processes on several machines.
public final class SQLiteStore: ServiceStore, @unchecked Sendable {
    public let database: Database

    /// Numbered migrations; append, never edit a shipped one.
    static let migrations = [
        """
        CREATE TABLE jobs (
            sequence INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            progress TEXT,
            metrics TEXT,
            stop_reason TEXT,
            error TEXT,
            model_id TEXT,
            checkpoint_epoch INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX jobs_state ON jobs(state, sequence);
        CREATE TABLE epochs (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            logs TEXT NOT NULL,
            learning_rate REAL,
            duration_seconds REAL,
            samples_per_second REAL,
            finished_at TEXT NOT NULL,
            PRIMARY KEY (job_id, epoch)
        );
        CREATE TABLE step_metrics (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            step INTEGER NOT NULL,
            wall_time REAL NOT NULL,
            value REAL
        );
        CREATE INDEX step_metrics_series ON step_metrics(job_id, key, step);
        CREATE TABLE models (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL REFERENCES jobs(id),
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            metadata TEXT NOT NULL
        );
        CREATE INDEX models_name ON models(name, created_at)
        """,
        // 2: data warnings of a job (e.g. images of a folder dataset that could not be decoded), as JSON.
        "ALTER TABLE jobs ADD COLUMN warnings TEXT",
        // 3: the worker holding a claimed job and its lease; the digests of checkpoints and model folders.
        """
        ALTER TABLE jobs ADD COLUMN worker_id TEXT;
        ALTER TABLE jobs ADD COLUMN worker_host TEXT;
        ALTER TABLE jobs ADD COLUMN worker_pid INTEGER;
        ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
        ALTER TABLE jobs ADD COLUMN checkpoint_sha256 TEXT;
        ALTER TABLE models ADD COLUMN artifact_sha256 TEXT
        """,
        // 4: a job's note; models outlive their jobs, so `models.job_id` no longer references `jobs` (SQLite
        // drops a foreign key only by rebuilding the table; `rowid` order, the tie-break of equal times, is kept).
        """
        ALTER TABLE jobs ADD COLUMN note TEXT;
        CREATE TABLE models_rebuilt (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            metadata TEXT NOT NULL,
            artifact_sha256 TEXT
        );
        INSERT INTO models_rebuilt (id, job_id, name, created_at, path, sha256, metadata, artifact_sha256)
            SELECT id, job_id, name, created_at, path, sha256, metadata, artifact_sha256 FROM models ORDER BY rowid;
        DROP TABLE models;
        ALTER TABLE models_rebuilt RENAME TO models;
        CREATE INDEX models_name ON models(name, created_at)
        """,
    ]

    public init(path: String) throws {
        database = try Database(path: path)
        try database.migrate(Self.migrations)
    }

    // MARK: Dates

    // Dates are `Timestamp` text: ISO-8601 UTC sorts as text, so lease expiries compare in SQL.
    static func format(_ date: Date) -> String { Timestamp.format(date) }

    static func parse(_ text: String?) -> Date? { Timestamp.parse(text) }

    private func job(from row: SQLRow) -> JobRecord {
        var j = JobRecord(id: row["id"].text ?? "", name: row["name"].text ?? "",
                          state: JobState(rawValue: row["state"].text ?? "") ?? .failed,
                          specJSON: row["spec"].text ?? "{}", createdAt: Self.parse(row["created_at"].text) ?? Date())
        j.startedAt = Self.parse(row["started_at"].text)
        j.finishedAt = Self.parse(row["finished_at"].text)
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
        j.leaseExpiresAt = Self.parse(row["lease_expires_at"].text)
        j.note = row["note"].text
        return j
    }

    // MARK: JobQueue

    public func enqueue(_ job: JobRecord, maxQueued: Int) throws -> Bool {
        try database.transaction {
            let queued = try database.query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'").first?["n"].int ?? 0
            guard queued < maxQueued else { return false }
            try database.execute(
                "INSERT INTO jobs (id, name, state, spec, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
                [.text(job.id), .text(job.name), .text(job.state.rawValue), .text(job.specJSON),
                 .text(Self.format(job.createdAt)), SQLValue(job.note)])
            return true
        }
    }

    public func claimNext(worker: WorkerIdentity, leaseSeconds: Double) throws -> JobRecord? {
        try database.transaction {
            guard let row = try database.query(
                "SELECT * FROM jobs WHERE state = 'queued' ORDER BY sequence LIMIT 1").first else { return nil }
            var job = self.job(from: row)
            let now = Date()
            job.state = .running
            job.startedAt = job.startedAt ?? now
            job.worker = worker
            job.leaseExpiresAt = now.addingTimeInterval(leaseSeconds)
            try database.execute("""
                UPDATE jobs SET state = 'running', started_at = ?, worker_id = ?, worker_host = ?, worker_pid = ?,
                    lease_expires_at = ? WHERE id = ?
                """, [.text(Self.format(job.startedAt!)), .text(worker.id), .text(worker.host), .int(Int64(worker.pid)),
                      .text(Self.format(job.leaseExpiresAt!)), .text(job.id)])
            return job
        }
    }

    public func renewLease(jobID: String, worker: WorkerIdentity, leaseSeconds: Double) throws -> Bool {
        try database.transaction {
            try database.execute("""
                UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND worker_id = ? AND state IN ('running', 'cancelling')
                """, [.text(Self.format(Date().addingTimeInterval(leaseSeconds))), .text(jobID), .text(worker.id)])
            return try database.query("SELECT changes() AS n").first?["n"].int == 1
        }
    }

    public func requeueExpiredLeases(now: Date) throws -> [JobRecord] {
        try database.transaction {
            let lapsed = try database.query("""
                SELECT * FROM jobs WHERE state IN ('running', 'cancelling') AND lease_expires_at IS NOT NULL
                    AND lease_expires_at < ? ORDER BY sequence
                """, [.text(Self.format(now))]).map(job(from:))
            return try lapsed.map { found in
                let job = found.afterLeaseLapsed(now: now)
                try update(job)
                return job
            }
        }
    }

    public func queuedCount() throws -> Int {
        try database.query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued'").first?["n"].int ?? 0
    }

    // MARK: JobRecords

    public func job(id: String) throws -> JobRecord? {
        try database.query("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first.map(job(from:))
    }

    public func jobs(_ filter: JobFilter, limit: Int, before: Int?) throws -> [JobRecord] {
        var sql = "SELECT * FROM jobs WHERE 1 = 1"
        var params: [SQLValue] = []
        if let state = filter.state { sql += " AND state = ?"; params.append(.text(state.rawValue)) }
        if let name = filter.name { sql += " AND name = ?"; params.append(.text(name)) }
        if let dataset = filter.dataset {
            sql += " AND ? IN (json_extract(spec, '$.dataset.name'), json_extract(spec, '$.dataset.directory'))"
            params.append(.text(dataset))
        }
        // instr, not LIKE: the text is matched as it is, `%` and `_` included.
        if let text = filter.text, !text.isEmpty {
            sql += " AND (instr(lower(name), lower(?)) > 0 OR instr(lower(COALESCE(note, '')), lower(?)) > 0)"
            params += [.text(text), .text(text)]
        }
        if let before { sql += " AND sequence < ?"; params.append(.int(Int64(before))) }
        sql += " ORDER BY sequence DESC LIMIT ?"
        params.append(.int(Int64(limit)))
        return try database.query(sql, params).map(job(from:))
    }

    public func setNote(jobID: String, note: String?) throws -> Bool {
        try database.transaction {
            try database.execute("UPDATE jobs SET note = ? WHERE id = ?", [SQLValue(note), .text(jobID)])
            return try database.query("SELECT changes() AS n").first?["n"].int == 1
        }
    }

    public func deleteJob(id: String) throws -> JobDeletion {
        try database.transaction {
            guard let job = try self.job(id: id) else { return .notFound }
            guard !job.state.isClaimed else { return .claimed(job.state) }
            // Epochs and step metrics go with it (ON DELETE CASCADE).
            try database.execute("DELETE FROM jobs WHERE id = ?", [.text(id)])
            return .deleted(job)
        }
    }

    /// The worker and lease columns are left alone while the job stays claimed (a heartbeat may have renewed
    /// the lease since the caller read the record) and cleared when it is released; `?` is the state written.
    static func releaseWorker() -> String {
        ["worker_id", "worker_host", "worker_pid", "lease_expires_at"]
            .map { "\($0) = CASE WHEN ? IN ('running', 'cancelling') THEN \($0) END" }.joined(separator: ", ")
    }

    public func update(_ job: JobRecord) throws {
        let state = SQLValue.text(job.state.rawValue)
        try database.execute("""
            UPDATE jobs SET state = ?, started_at = ?, finished_at = ?, progress = ?, metrics = ?, stop_reason = ?,
                error = ?, model_id = ?, checkpoint_epoch = ?, warnings = ?, checkpoint_sha256 = ?,
                \(Self.releaseWorker()) WHERE id = ?
            """, [state, SQLValue(job.startedAt.map(Self.format)),
                  SQLValue(job.finishedAt.map(Self.format)), SQLValue(job.progressJSON), SQLValue(job.metricsJSON),
                  SQLValue(job.stopReason), SQLValue(job.error), SQLValue(job.modelID),
                  .int(Int64(job.checkpointEpoch)), SQLValue(job.warningsJSON), SQLValue(job.checkpointSHA256),
                  state, state, state, state, .text(job.id)])
    }

    /// Whether `job.worker` (if it names one) is the stored job's holder.
    private func heldBy(_ job: JobRecord, _ current: JobRecord) -> Bool {
        job.worker.map { w in current.state.isClaimed && current.worker?.id == w.id } ?? true
    }

    public func update(_ job: JobRecord, ifStateIn states: [JobState]) throws -> Bool {
        try database.transaction {
            guard let current = try self.job(id: job.id), states.contains(current.state), heldBy(job, current) else {
                return false
            }
            try update(job)
            return true
        }
    }

    public func transition(id: String, from: [JobState], to: JobState, finishedAt: Date?) throws -> Bool {
        try database.transaction {
            guard let current = try job(id: id), from.contains(current.state) else { return false }
            let state = SQLValue.text(to.rawValue)
            try database.execute("""
                UPDATE jobs SET state = ?, finished_at = COALESCE(?, finished_at), \(Self.releaseWorker()) WHERE id = ?
                """, [state, SQLValue(finishedAt.map(Self.format)), state, state, state, state, .text(id)])
            return true
        }
    }

    @discardableResult
    public func recordEpoch(_ epoch: EpochRecord, job: JobRecord) throws -> Bool {
        try database.transaction {
            if job.worker != nil {
                guard let current = try self.job(id: job.id), heldBy(job, current) else { return false }
            }
            try database.execute("""
                INSERT OR REPLACE INTO epochs (job_id, epoch, logs, learning_rate, duration_seconds,
                    samples_per_second, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.text(epoch.jobID), .int(Int64(epoch.epoch)), .text(epoch.logsJSON), SQLValue(epoch.learningRate),
                      SQLValue(epoch.durationSeconds), SQLValue(epoch.samplesPerSecond),
                      .text(Self.format(epoch.finishedAt))])
            try update(job)
            return true
        }
    }

    public func epochs(jobID: String) throws -> [EpochRecord] {
        try database.query("SELECT * FROM epochs WHERE job_id = ? ORDER BY epoch", [.text(jobID)]).map { row in
            EpochRecord(jobID: jobID, epoch: row["epoch"].int ?? 0, logs: EpochRecord.logs(fromJSON: row["logs"].text),
                        learningRate: row["learning_rate"].double ?? 0,
                        durationSeconds: row["duration_seconds"].double ?? 0,
                        samplesPerSecond: row["samples_per_second"].double ?? 0,
                        finishedAt: Self.parse(row["finished_at"].text) ?? Date())
        }
    }

    public func appendMetrics(jobID: String, _ points: [MetricPoint]) throws {
        guard !points.isEmpty else { return }
        try database.transaction {
            for p in points {
                try database.execute("INSERT INTO step_metrics (job_id, key, step, wall_time, value) VALUES (?, ?, ?, ?, ?)",
                                     [.text(jobID), .text(p.key), .int(Int64(p.step)), .double(p.wallTime), SQLValue(p.value)])
            }
        }
    }

    public func metrics(jobID: String, key: String?) throws -> [MetricPoint] {
        var sql = "SELECT key, step, wall_time, value FROM step_metrics WHERE job_id = ?"
        var params: [SQLValue] = [.text(jobID)]
        if let key { sql += " AND key = ?"; params.append(.text(key)) }
        sql += " ORDER BY key, step"
        return try database.query(sql, params).map {
            MetricPoint(key: $0["key"].text ?? "", step: $0["step"].int ?? 0, wallTime: $0["wall_time"].double ?? 0,
                        value: $0["value"].double ?? .nan)
        }
    }

    public func truncateMetrics(jobID: String, afterStep step: Int) throws {
        try database.execute("DELETE FROM step_metrics WHERE job_id = ? AND step > ?", [.text(jobID), .int(Int64(step))])
    }

    public func unfinishedRunningJobs() throws -> [JobRecord] {
        try database.query("SELECT * FROM jobs WHERE state IN ('running', 'cancelling') ORDER BY sequence").map(job(from:))
    }

    public func countByState() throws -> [JobState: Int] {
        var out: [JobState: Int] = [:]
        for row in try database.query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state") {
            if let s = JobState(rawValue: row["state"].text ?? "") { out[s] = row["n"].int ?? 0 }
        }
        return out
    }

    // MARK: ModelRegistry

    private func model(from row: SQLRow) -> ModelRecord {
        ModelRecord(id: row["id"].text ?? "", jobID: row["job_id"].text ?? "", name: row["name"].text ?? "",
                    createdAt: Self.parse(row["created_at"].text) ?? Date(), path: row["path"].text ?? "",
                    sha256: row["sha256"].text ?? "", metadataJSON: row["metadata"].text ?? "{}",
                    artifactSHA256: row["artifact_sha256"].text)
    }

    public func addModel(_ model: ModelRecord) throws {
        try database.execute("""
            INSERT INTO models (id, job_id, name, created_at, path, sha256, metadata, artifact_sha256)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(model.id), .text(model.jobID), .text(model.name), .text(Self.format(model.createdAt)),
                  .text(model.path), .text(model.sha256), .text(model.metadataJSON), SQLValue(model.artifactSHA256)])
    }

    @discardableResult
    public func addModel(_ model: ModelRecord, finishing job: JobRecord) throws -> JobState {
        try database.transaction {
            var final = job
            // A cancel may have come while the model was being saved: the user was told the job is cancelling.
            if let current = try self.job(id: job.id), current.state == .cancelling {
                final.state = .cancelled
                final.stopReason = StoreStopReason.cancelledAfterSave
            }
            try update(final)
            try addModel(model)
            return final.state
        }
    }

    public func model(id: String) throws -> ModelRecord? {
        try database.query("SELECT * FROM models WHERE id = ?", [.text(id)]).first.map(model(from:))
    }

    public func latestModel(named name: String) throws -> ModelRecord? {
        try database.query("SELECT * FROM models WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                           [.text(name)]).first.map(model(from:))
    }

    public func models(limit: Int) throws -> [ModelRecord] {
        try database.query("SELECT * FROM models ORDER BY created_at DESC, rowid DESC LIMIT ?", [.int(Int64(limit))])
            .map(model(from:))
    }

    public func deleteModel(id: String) throws -> Bool {
        try database.transaction {
            guard let model = try model(id: id) else { return false }
            try database.execute("DELETE FROM models WHERE id = ?", [.text(id)])
            try database.execute("UPDATE jobs SET model_id = NULL WHERE id = ? AND model_id = ?",
                                 [.text(model.jobID), .text(id)])
            return true
        }
    }
}
