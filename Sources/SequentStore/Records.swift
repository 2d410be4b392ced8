import Foundation

/// A job's life: `queued → running → succeeded | failed | cancelled`, with `cancelling` while a running job
/// is asked to stop and the worker has not yet noticed.
public enum JobState: String, Sendable, CaseIterable {
    case queued, running, cancelling, succeeded, failed, cancelled

    /// No further transitions.
    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Who holds a claimed job: one worker thread of one process on one machine. Shown in the Job JSON while the
/// job is claimed, so an operator can tell which machine trains it.
public struct WorkerIdentity: Sendable, Equatable, Hashable {
    /// Unique per worker and process start (a pid alone is reused after a restart).
    public var id: String
    public var host: String
    public var pid: Int

    public init(id: String, host: String, pid: Int) {
        self.id = id
        self.host = host
        self.pid = pid
    }

    /// A worker of this process, on this host and pid.
    public static func local(_ id: String) -> WorkerIdentity {
        WorkerIdentity(id: id, host: thisHost, pid: Int(ProcessInfo.processInfo.processIdentifier))
    }

    /// Read once: Foundation may resolve the name, which can be slow where DNS is.
    static let thisHost = ProcessInfo.processInfo.hostName
}

/// A training job as stored. JSON columns are kept as text; the service owns their shape.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var state: JobState
    /// The validated spec with defaults filled in.
    public var specJSON: String
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// `{"epoch": …, "epochs": …, "step": …, "steps": …, "samples_per_second": …, "eta_seconds": …}`
    public var progressJSON: String?
    /// The latest epoch's logs.
    public var metricsJSON: String?
    public var stopReason: String?
    public var error: String?
    public var modelID: String?
    /// Epochs completed and checkpointed (the job resumes after it).
    public var checkpointEpoch: Int
    /// Insertion order (the FIFO queue and the list cursor).
    public var sequence: Int
    /// Data warnings as JSON, e.g. `{"skipped_images": [{"path", "reason"}], "skipped_count": 2}`.
    public var warningsJSON: String?
    /// SHA-256 of the checkpoint of `checkpointEpoch` (its artifact digest), checked when the job resumes; nil
    /// for jobs recorded before checkpoints were digested.
    public var checkpointSHA256: String?
    /// The worker holding the job while it is `running`/`cancelling`, nil otherwise. Written only by claims,
    /// lease renewals and the state changes that release a job, never by `update`.
    public var worker: WorkerIdentity?
    /// When the worker's lease ends unless renewed; a lapsed lease puts the job back in the queue.
    public var leaseExpiresAt: Date?
    /// The user's free-text note. Written only by `setNote`, never by `update`: a worker writing its older copy
    /// of the record must not undo a note saved meanwhile.
    public var note: String?

    public init(id: String, name: String, state: JobState = .queued, specJSON: String, createdAt: Date = Date()) {
        self.id = id
        self.name = name
        self.state = state
        self.specJSON = specJSON
        self.createdAt = createdAt
        checkpointEpoch = 0
        sequence = 0
    }
}

/// One finished epoch (Keras's History row).
public struct EpochRecord: Sendable, Equatable {
    public var jobID: String
    public var epoch: Int
    /// All logged values: loss, metrics and their val_ versions.
    public var logs: [String: Double]
    public var learningRate: Double
    public var durationSeconds: Double
    public var samplesPerSecond: Double
    public var finishedAt: Date

    public init(jobID: String, epoch: Int, logs: [String: Double], learningRate: Double, durationSeconds: Double,
                samplesPerSecond: Double, finishedAt: Date = Date()) {
        self.jobID = jobID
        self.epoch = epoch
        self.logs = logs
        self.learningRate = learningRate
        self.durationSeconds = durationSeconds
        self.samplesPerSecond = samplesPerSecond
        self.finishedAt = finishedAt
    }
}

extension EpochRecord {
    /// `logs` as the stores keep them: a JSON object with sorted keys, non-finite values (a diverged loss) as null.
    public var logsJSON: String {
        "{" + logs.keys.sorted().map { k in "\"\(k)\":\(logs[k]!.isFinite ? "\(logs[k]!)" : "null")" }
            .joined(separator: ",") + "}"
    }

    /// Reads `logsJSON`'s text back; nulls are absent.
    public static func logs(fromJSON text: String?) -> [String: Double] {
        guard let data = text?.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}

/// One step-level measurement.
public struct MetricPoint: Sendable, Equatable {
    public var key: String
    public var step: Int
    public var wallTime: Double
    public var value: Double

    public init(key: String, step: Int, wallTime: Double, value: Double) {
        self.key = key
        self.step = step
        self.wallTime = wallTime
        self.value = value
    }
}

/// A trained model in the registry; its files are the `.model` artifact of the same id.
public struct ModelRecord: Sendable, Equatable {
    public var id: String
    public var jobID: String
    public var name: String
    public var createdAt: Date
    /// Where the local artifact store keeps the files (kept for operators and scripts/check-data-dir.py; the
    /// service opens models through the artifact store by id).
    public var path: String
    /// SHA-256 of the weights file (the API's `sha256`).
    public var sha256: String
    /// The artifact digest of the whole model folder (`ArtifactDigest`), checked when the model is opened; nil for
    /// models recorded before it was kept.
    public var artifactSHA256: String?
    /// Class names, input shape, preprocessing, summary, final metrics (JSON).
    public var metadataJSON: String

    public init(id: String, jobID: String, name: String, createdAt: Date = Date(), path: String, sha256: String,
                metadataJSON: String, artifactSHA256: String? = nil) {
        self.artifactSHA256 = artifactSHA256
        self.id = id
        self.jobID = jobID
        self.name = name
        self.createdAt = createdAt
        self.path = path
        self.sha256 = sha256
        self.metadataJSON = metadataJSON
    }
}

/// The FIFO of jobs waiting for a worker, and the leases of claimed jobs.
///
/// A claim names its worker and takes a lease of `leaseSeconds`; the worker renews it (a heartbeat) well before it
/// lapses. A job whose lease lapsed belongs to a worker that died or lost the store: `requeueExpiredLeases` gives it
/// back to the queue, where the next claimer resumes it after its checkpoint epoch. On PostgreSQL a claim is
/// `UPDATE … WHERE id = (SELECT id … FOR UPDATE SKIP LOCKED)`; the scheduler only sees this protocol.
public protocol JobQueue: Sendable {
    /// Adds a queued job unless `maxQueued` jobs are already waiting; returns false when full.
    func enqueue(_ job: JobRecord, maxQueued: Int) throws -> Bool
    /// Atomically moves the oldest queued job to `running`, held by `worker` until `leaseSeconds` from now, and
    /// returns it. Two workers racing for one job: exactly one gets it.
    func claimNext(worker: WorkerIdentity, leaseSeconds: Double) throws -> JobRecord?
    /// Extends the lease of a job `worker` holds (`running` or `cancelling`) to `leaseSeconds` from now. False when
    /// the lease was lost (requeued, claimed by another worker, finished): the worker must stop the job and write
    /// nothing more of it.
    func renewLease(jobID: String, worker: WorkerIdentity, leaseSeconds: Double) throws -> Bool
    /// Puts `running` jobs whose lease ended before `now` back to `queued` (keeping `checkpointEpoch`) and ends
    /// lapsed `cancelling` jobs as `cancelled`; both lose their worker. Returns the jobs as written.
    func requeueExpiredLeases(now: Date) throws -> [JobRecord]
    func queuedCount() throws -> Int
}

extension JobQueue {
    /// A claim by an anonymous worker of this process with a 30 s lease (tests and tools).
    public func claimNext() throws -> JobRecord? {
        try claimNext(worker: .local("local"), leaseSeconds: 30)
    }
}

/// Which jobs a list holds; a nil field matches every job. The stores filter in their query, so a page holds
/// `limit` matches whatever the filter.
public struct JobFilter: Sendable, Equatable {
    public var state: JobState?
    /// The job's name, exactly.
    public var name: String?
    /// The spec's dataset: its `dataset.name` (a built-in dataset) or its `dataset.directory` (a folder), exactly.
    public var dataset: String?
    /// A case-insensitive substring of the name or the note.
    public var text: String?

    public init(state: JobState? = nil, name: String? = nil, dataset: String? = nil, text: String? = nil) {
        self.state = state
        self.name = name
        self.dataset = dataset
        self.text = text
    }
}

/// What `deleteJob` did.
public enum JobDeletion: Sendable, Equatable {
    /// Removed, with its epochs and step metrics; the record as it was.
    case deleted(JobRecord)
    case notFound
    /// A worker holds the job (`running`/`cancelling`): it is not removed.
    case claimed(JobState)
}

/// Job, epoch and metric records.
public protocol JobRecords: Sendable {
    func job(id: String) throws -> JobRecord?
    /// Newest first among the jobs `filter` matches; `before` is a sequence cursor from a previous page.
    func jobs(_ filter: JobFilter, limit: Int, before: Int?) throws -> [JobRecord]
    /// Sets (nil: clears) a job's note; false when there is no such job.
    func setNote(jobID: String, note: String?) throws -> Bool
    /// Removes a job that no worker holds (queued or finished) with its epochs and step metrics, in one
    /// transaction, so a claim racing with it either wins (the delete is refused) or finds nothing. Its model
    /// stays: models outlive their jobs.
    func deleteJob(id: String) throws -> JobDeletion
    /// Writes the job's fields except its worker and lease; a job written `queued` or finished loses both.
    func update(_ job: JobRecord) throws
    /// `update` only if the stored state is one of `states` and, when `job.worker` is set, that worker still holds
    /// the job (compare-and-set); says whether it wrote. A worker finishing a job must not overwrite a cancel that
    /// arrived in the meantime, nor a job another worker took over after its lease lapsed.
    func update(_ job: JobRecord, ifStateIn states: [JobState]) throws -> Bool
    /// Moves a job to `to` only if it is in one of `from` (compare-and-set: the worker may finish the job
    /// between the API's read and this write), setting `finishedAt` when given. Says whether it moved.
    func transition(id: String, from: [JobState], to: JobState, finishedAt: Date?) throws -> Bool
    /// Records a finished epoch and the job's checkpoint epoch in one transaction, replacing an existing row
    /// for the same epoch (a resumed job re-running an epoch never duplicates it). When `job.worker` is set, only
    /// while that worker holds the job: false, and nothing written, once its lease was lost.
    @discardableResult
    func recordEpoch(_ epoch: EpochRecord, job: JobRecord) throws -> Bool
    func epochs(jobID: String) throws -> [EpochRecord]
    func appendMetrics(jobID: String, _ points: [MetricPoint]) throws
    /// Points of `key` (all keys when nil) in step order.
    func metrics(jobID: String, key: String?) throws -> [MetricPoint]
    /// Removes step metrics past `step` (a resumed job re-runs the steps after its checkpoint).
    func truncateMetrics(jobID: String, afterStep step: Int) throws
    /// Jobs in `running`/`cancelling`, oldest first: at the start of a process that owns the store alone (SQLite),
    /// all of them were left by a process that died.
    func unfinishedRunningJobs() throws -> [JobRecord]
    func countByState() throws -> [JobState: Int]
}

/// The model registry.
public protocol ModelRegistry: Sendable {
    func addModel(_ model: ModelRecord) throws
    /// Records a trained model and its job's final state (naming the model) in one transaction; a job that was
    /// being cancelled meanwhile ends `cancelled` (keeping the model). Returns the state written.
    @discardableResult
    func addModel(_ model: ModelRecord, finishing job: JobRecord) throws -> JobState
    func model(id: String) throws -> ModelRecord?
    /// The newest model trained by a job with this name.
    func latestModel(named name: String) throws -> ModelRecord?
    /// Newest first.
    func models(limit: Int) throws -> [ModelRecord]
    /// Removes a model's record, and the job's `modelID` naming it, in one transaction; false when there is none.
    func deleteModel(id: String) throws -> Bool
}

/// Everything the service keeps in its database: what `TrainingService`, the API and the predict service hold.
/// SQLite (`SQLiteStore`) is the default; `InMemoryStore` runs the tests; a PostgreSQL store is one more conformer.
public protocol ServiceStore: JobQueue, JobRecords, ModelRegistry {}

extension JobRecords {
    /// Newest first, in one state or all; `before` is a sequence cursor from a previous page.
    public func jobs(state: JobState?, limit: Int, before: Int?) throws -> [JobRecord] {
        try jobs(JobFilter(state: state), limit: limit, before: before)
    }

    /// `transition` without a finish time.
    public func transition(id: String, from: [JobState], to: JobState) throws -> Bool {
        try transition(id: id, from: from, to: to, finishedAt: nil)
    }
}

/// The stop reasons the stores write themselves, one wording for every implementation.
public enum StoreStopReason {
    /// A `cancelling` job whose worker stopped renewing its lease: `requeueExpiredLeases` ends it.
    public static let workerLost = "cancelled (its worker stopped before it did)"
    /// A job cancelled while its model was being saved: `addModel(_:finishing:)` ends it cancelled.
    public static let cancelledAfterSave = "cancelled after its last epoch (the model was saved)"
}

extension JobState {
    /// The states in which a job is held by a worker (and shows it).
    public var isClaimed: Bool { self == .running || self == .cancelling }
}

/// ISO-8601 UTC with milliseconds ("2026-11-29T17:53:00.123Z"): sorts as text, reads as a time. The stores write
/// dates so and the API renders them so.
public enum Timestamp {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func format(_ date: Date) -> String { date.formatted(style) }

    /// Reads `format`'s output, or ISO-8601 without fractional seconds.
    public static func parse(_ text: String?) -> Date? {
        guard let text else { return nil }
        if let d = try? style.parse(text) { return d }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}

extension JobRecord {
    /// The spec's dataset name and folder, for `JobFilter.dataset` where a store reads the spec itself.
    public var specDatasetNames: [String] {
        guard let spec = try? JSONSerialization.jsonObject(with: Data(specJSON.utf8)) as? [String: Any],
              let dataset = spec["dataset"] as? [String: Any] else { return [] }
        return ["name", "directory"].compactMap { dataset[$0] as? String }
    }

    /// Whether the job is one `filter` matches (the in-memory store's WHERE).
    public func matches(_ filter: JobFilter) -> Bool {
        if let s = filter.state, state != s { return false }
        if let n = filter.name, name != n { return false }
        if let d = filter.dataset, !specDatasetNames.contains(d) { return false }
        if let t = filter.text?.lowercased(), !t.isEmpty, !name.lowercased().contains(t), !(note?.lowercased().contains(t) ?? false) {
            return false
        }
        return true
    }

    /// The job once its worker's lease lapsed, as every store writes it: a `cancelling` job ends `cancelled` (its
    /// worker is gone, so nobody else will stop it), any other goes back to `queued` keeping `checkpointEpoch`, so
    /// the next claimer resumes it; either way it names no worker.
    public func afterLeaseLapsed(now: Date) -> JobRecord {
        var job = self
        if job.state == .cancelling {
            job.state = .cancelled
            job.finishedAt = now
            job.stopReason = StoreStopReason.workerLost
        } else {
            job.state = .queued
        }
        job.worker = nil
        job.leaseExpiresAt = nil
        return job
    }
}
