import Foundation
import SequentStore

/// Who runs a job: recorded on the job when it is claimed, so an operator can see which machine and process has it
/// and a lease can be renewed only by its holder.
public struct WorkerIdentity: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int

    public init(id: String, host: String, pid: Int) {
        self.id = id
        self.host = host
        self.pid = pid
    }

    /// This process: `id` defaults to `host:pid:random`, unique across restarts of the same pid.
    public static func current(id: String? = nil) -> WorkerIdentity {
        let host = ProcessInfo.processInfo.hostName
        let pid = Int(ProcessInfo.processInfo.processIdentifier)
        return WorkerIdentity(id: id ?? "\(host):\(pid):\(UUID().uuidString.prefix(8).lowercased())", host: host, pid: pid)
    }
}

/// The worker columns of a job.
public struct JobLease: Sendable, Equatable {
    public var worker: WorkerIdentity
    /// Nil: claimed without a lease (never requeued).
    public var expiresAt: Date?
}

/// Claims and leases: a running job belongs to the worker that claimed it until its lease lapses. Lease times are
/// the database's `now()`, so the workers' clocks do not matter.
extension PostgresStore {
    /// Atomically moves the oldest queued job to `running` under `worker`, with a lease of `leaseSeconds` (nil: no
    /// lease). Concurrent claimers never wait for each other and never get the same job: the candidate row is
    /// locked with `FOR UPDATE SKIP LOCKED`, so a claimer skips rows another claimer holds and takes the next.
    /// A job that was requeued keeps its `started_at` and checkpoint epoch (it resumes).
    public func claimNext(worker: WorkerIdentity, leaseSeconds: Double?) throws -> JobRecord? {
        try query("""
            UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, now()),
                worker_id = $1, worker_host = $2, worker_pid = $3,
                lease_expires_at = now() + make_interval(secs => $4::float8)
            WHERE sequence = (
                SELECT sequence FROM jobs WHERE state = 'queued' ORDER BY sequence FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING \(Self.jobColumns)
            """, [.text(worker.id), .text(worker.host), .int(Int64(worker.pid)), PostgresValue(leaseSeconds)])
            .first.map(Self.job(from:))
    }

    /// Extends the lease of a job `workerID` holds to `leaseSeconds` from now. False when the job is no longer its:
    /// finished, or requeued after the lease lapsed (possibly claimed by another worker) — the worker must stop.
    public func renewLease(jobID: String, workerID: String, leaseSeconds: Double) throws -> Bool {
        let rows = try query("""
            UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::float8)
            WHERE id = $1 AND worker_id = $2 AND state IN ('running', 'cancelling') RETURNING 1 AS done
            """, [.text(jobID), .text(workerID), .double(leaseSeconds)], idempotent: true)
        return !rows.isEmpty
    }

    /// Writes `job` only while `workerID` still holds it (running or cancelling under its claim), and says whether
    /// it did: a worker that lost its lease (requeued, perhaps claimed by another worker) must not overwrite the
    /// new holder's progress. Fencing by worker, where `update(_:ifStateIn:)` fences by state.
    public func update(_ job: JobRecord, heldBy workerID: String) throws -> Bool {
        let rows = try query(Self.updateSQL
                             + " AND worker_id = $12 AND state IN ('running', 'cancelling') RETURNING 1 AS done",
                             Self.updateParams(job) + [.text(workerID)])
        return !rows.isEmpty
    }

    /// Returns every job whose worker stopped renewing its lease: a `running` one goes back to `queued` (keeping
    /// its sequence, so it is claimed next, and its checkpoint epoch, so it resumes), a `cancelling` one becomes
    /// `cancelled` (nobody is left to stop it). Their worker columns are cleared. Any replica may call this
    /// periodically; concurrent calls each return a disjoint set.
    public func requeueExpiredLeases() throws -> [String] {
        try query("""
            UPDATE jobs SET
                state = CASE state WHEN 'cancelling' THEN 'cancelled' ELSE 'queued' END,
                finished_at = CASE state WHEN 'cancelling' THEN now() ELSE finished_at END,
                stop_reason = CASE state WHEN 'cancelling' THEN COALESCE(stop_reason, 'cancelled') ELSE stop_reason END,
                worker_id = NULL, worker_host = NULL, worker_pid = NULL, lease_expires_at = NULL
            WHERE state IN ('running', 'cancelling') AND lease_expires_at < now()
            RETURNING id
            """).compactMap { $0["id"].text }
    }

    /// The worker holding a job, if any.
    public func lease(jobID: String) throws -> JobLease? {
        guard let row = try query("""
            SELECT worker_id, worker_host, worker_pid, extract(epoch FROM lease_expires_at)::float8 AS expires
            FROM jobs WHERE id = $1 AND worker_id IS NOT NULL
            """, [.text(jobID)], idempotent: true).first else { return nil }
        return JobLease(worker: WorkerIdentity(id: row["worker_id"].text ?? "", host: row["worker_host"].text ?? "",
                                               pid: row["worker_pid"].int ?? 0),
                        expiresAt: Self.date(row["expires"]))
    }
}
