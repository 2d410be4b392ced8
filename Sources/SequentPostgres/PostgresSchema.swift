import Foundation

/// The PostgreSQL schema as numbered migrations, and how they are applied.
///
/// The tables are SQLiteStore's (jobs, epochs, step_metrics, models, with the warnings column) in PostgreSQL types
/// (timestamptz times, double precision numbers, JSON kept as text because the service owns its shape), plus what a
/// cluster needs: the worker holding a job and its lease, artifacts as chunked bytea so a cluster shares nothing but
/// the database, and an events table for payloads too large for NOTIFY.
public enum PostgresSchema {
    /// Numbered migrations; append, never edit a shipped one.
    public static let migrations: [String] = [
        // 1: SQLiteStore's tables (its migrations 1 and 2).
        """
        CREATE TABLE jobs (
            sequence bigserial PRIMARY KEY,
            id text NOT NULL UNIQUE,
            name text NOT NULL,
            state text NOT NULL
                CHECK (state IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
            spec text NOT NULL,
            created_at timestamptz NOT NULL,
            started_at timestamptz,
            finished_at timestamptz,
            progress text,
            metrics text,
            stop_reason text,
            error text,
            model_id text,
            checkpoint_epoch integer NOT NULL DEFAULT 0,
            warnings text
        );
        CREATE INDEX jobs_state ON jobs (state, sequence);
        CREATE TABLE epochs (
            job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            epoch integer NOT NULL,
            logs text NOT NULL,
            learning_rate double precision,
            duration_seconds double precision,
            samples_per_second double precision,
            finished_at timestamptz NOT NULL,
            PRIMARY KEY (job_id, epoch)
        );
        CREATE TABLE step_metrics (
            job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            key text NOT NULL,
            step bigint NOT NULL,
            wall_time double precision NOT NULL,
            value double precision
        );
        CREATE INDEX step_metrics_series ON step_metrics (job_id, key, step);
        CREATE TABLE models (
            sequence bigserial UNIQUE,
            id text PRIMARY KEY,
            job_id text NOT NULL REFERENCES jobs (id),
            name text NOT NULL,
            created_at timestamptz NOT NULL,
            path text NOT NULL,
            sha256 text NOT NULL,
            metadata text NOT NULL
        );
        CREATE INDEX models_name ON models (name, created_at)
        """,
        // 2: the worker that holds a running job, and until when (the database's clock) it holds it.
        """
        ALTER TABLE jobs ADD COLUMN worker_id text;
        ALTER TABLE jobs ADD COLUMN worker_host text;
        ALTER TABLE jobs ADD COLUMN worker_pid integer;
        ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz;
        CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state IN ('running', 'cancelling')
        """,
        // 3: artifacts (weights, checkpoints, datasets) as bytea chunks, each under the 1 GB field limit and small
        // enough to send and hold in memory one at a time.
        """
        CREATE TABLE artifacts (
            kind text NOT NULL,
            id text NOT NULL,
            sha256 text NOT NULL,
            size bigint NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (kind, id)
        );
        CREATE TABLE artifact_chunks (
            kind text NOT NULL,
            id text NOT NULL,
            n integer NOT NULL,
            bytes bytea NOT NULL,
            PRIMARY KEY (kind, id, n),
            FOREIGN KEY (kind, id) REFERENCES artifacts (kind, id) ON DELETE CASCADE
        )
        """,
        // 4: event payloads too large for a NOTIFY (the notification then carries the row's id).
        """
        CREATE TABLE events (
            id bigserial PRIMARY KEY,
            job_id text NOT NULL,
            name text NOT NULL,
            data text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX events_created ON events (created_at)
        """,
        // 5: what SQLite's migration 3 added beyond the lease (the digests of checkpoints and model folders), and
        // the artifact digest (`ArtifactDigest`, of the unpacked files) of a folder stored as one packed blob.
        """
        ALTER TABLE jobs ADD COLUMN checkpoint_sha256 text;
        ALTER TABLE models ADD COLUMN artifact_sha256 text;
        ALTER TABLE artifacts ADD COLUMN digest text
        """,
        // 6: a job's note (SQLite's migration 4); models outlive their jobs, so `models.job_id` no longer
        // references `jobs`.
        """
        ALTER TABLE jobs ADD COLUMN note text;
        ALTER TABLE models DROP CONSTRAINT models_job_id_fkey
        """,
    ]

    /// An arbitrary constant naming the migration lock among the database's advisory locks.
    static let migrationLock: Int64 = 0x5365_7175_656E_7401

    /// Applies the migrations newer than the database's, all in one transaction that first takes an advisory
    /// transaction lock: replicas starting together queue on the lock, and the second finds nothing left to do.
    /// Returns the schema version afterwards.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection, migrations: [String] = migrations) throws -> Int {
        try connection.withTransaction { c in
            try c.execute("SELECT pg_advisory_xact_lock($1)", [.int(migrationLock)])
            try c.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let current = try c.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").first?["v"].int ?? 0
            for (i, sql) in migrations.enumerated() where i + 1 > current {
                try c.executeScript(sql)
                try c.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [.int(Int64(i + 1))])
            }
            return max(current, migrations.count)
        }
    }

    /// The highest migration applied (0 for an empty database).
    public static func version(_ connection: PostgresConnection) throws -> Int {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS e").first?["e"].bool
        guard exists == true else { return 0 }
        return try connection.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").first?["v"].int ?? 0
    }
}
