import Foundation
import SequentStore

/// Claims and leases: a running job belongs to the worker that claimed it until its lease lapses. Lease times are
/// the database's `now()`, so the workers' clocks do not matter.
extension PostgresStore {
    /// Atomically moves the oldest queued job to `running` under `worker`, with a lease of `leaseSeconds`.
    /// Concurrent claimers never wait for each other and never get the same job: the candidate row is locked with
    /// `FOR UPDATE SKIP LOCKED`, so a claimer skips rows another claimer holds and takes the next. A job that was
    /// requeued keeps its `started_at` and checkpoint epoch (it resumes).
    public func claimNext(worker: WorkerIdentity, leaseSeconds: Double) throws -> JobRecord? {
        try query("""
            UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, now()),
                worker_id = $1, worker_host = $2, worker_pid = $3,
                lease_expires_at = now() + make_interval(secs => $4::float8)
            WHERE sequence = (
                SELECT sequence FROM jobs WHERE state = 'queued' ORDER BY sequence FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING \(Self.jobColumns)
            """, [.text(worker.id), .text(worker.host), .int(Int64(worker.pid)), .double(leaseSeconds)])
            .first.map(Self.job(from:))
    }

    public func renewLease(jobID: String, worker: WorkerIdentity, leaseSeconds: Double) throws -> Bool {
        let rows = try query("""
            UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::float8)
            WHERE id = $1 AND worker_id = $2 AND state IN ('running', 'cancelling') RETURNING 1 AS done
            """, [.text(jobID), .text(worker.id), .double(leaseSeconds)], idempotent: true)
        return !rows.isEmpty
    }

    /// `now` is read as an offset from this machine's clock, applied to the database's: `Date()` means the
    /// database's `now()`, a minute later means `now()` plus a minute. So the leases compare on one clock (the
    /// database's, which took them) whatever the callers' clocks say. Any replica may call this periodically;
    /// concurrent calls each return a disjoint set (each row is updated once).
    public func requeueExpiredLeases(now: Date) throws -> [JobRecord] {
        let ahead = now.timeIntervalSinceNow
        return try query("""
            UPDATE jobs SET
                state = CASE state WHEN 'cancelling' THEN 'cancelled' ELSE 'queued' END,
                finished_at = CASE state WHEN 'cancelling' THEN now() + make_interval(secs => $1::float8)
                    ELSE finished_at END,
                stop_reason = CASE state WHEN 'cancelling' THEN $2 ELSE stop_reason END,
                worker_id = NULL, worker_host = NULL, worker_pid = NULL, lease_expires_at = NULL
            WHERE state IN ('running', 'cancelling') AND lease_expires_at < now() + make_interval(secs => $1::float8)
            RETURNING \(Self.jobColumns)
            """, [.double(ahead), .text(StoreStopReason.workerLost)])
            .map(Self.job(from:)).sorted { $0.sequence < $1.sequence }
    }
}
