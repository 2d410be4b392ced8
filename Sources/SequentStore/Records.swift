import Foundation

/// A job's life: `queued → running → succeeded | failed | cancelled`, with `cancelling` while a running job
/// is asked to stop and the worker has not yet noticed.
public enum JobState: String, Sendable, CaseIterable {
    case queued, running, cancelling, succeeded, failed, cancelled

    /// No further transitions.
    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
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

/// A trained model in the registry; its files live under `path`.
public struct ModelRecord: Sendable, Equatable {
    public var id: String
    public var jobID: String
    public var name: String
    public var createdAt: Date
    public var path: String
    /// SHA-256 of the weights file.
    public var sha256: String
    /// Class names, input shape, preprocessing, summary, final metrics (JSON).
    public var metadataJSON: String

    public init(id: String, jobID: String, name: String, createdAt: Date = Date(), path: String, sha256: String,
                metadataJSON: String) {
        self.id = id
        self.jobID = jobID
        self.name = name
        self.createdAt = createdAt
        self.path = path
        self.sha256 = sha256
        self.metadataJSON = metadataJSON
    }
}

/// The FIFO of jobs waiting for a worker. A PostgreSQL implementation would claim with
/// `FOR UPDATE SKIP LOCKED`; the scheduler only sees this protocol.
public protocol JobQueue: Sendable {
    /// Adds a queued job unless `maxQueued` jobs are already waiting; returns false when full.
    func enqueue(_ job: JobRecord, maxQueued: Int) throws -> Bool
    /// Atomically moves the oldest queued job to `running` and returns it.
    func claimNext() throws -> JobRecord?
    func queuedCount() throws -> Int
}

/// Job, epoch and metric records.
public protocol JobRecords: Sendable {
    func job(id: String) throws -> JobRecord?
    /// Newest first; `before` is a sequence cursor from a previous page.
    func jobs(state: JobState?, limit: Int, before: Int?) throws -> [JobRecord]
    func update(_ job: JobRecord) throws
    /// Records a finished epoch and the job's checkpoint epoch in one transaction, replacing an existing row
    /// for the same epoch (a resumed job re-running an epoch never duplicates it).
    func recordEpoch(_ epoch: EpochRecord, job: JobRecord) throws
    func epochs(jobID: String) throws -> [EpochRecord]
    func appendMetrics(jobID: String, _ points: [MetricPoint]) throws
    /// Points of `key` (all keys when nil) in step order.
    func metrics(jobID: String, key: String?) throws -> [MetricPoint]
    /// Jobs left `running`/`cancelling` by a process that died.
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
    func models(limit: Int) throws -> [ModelRecord]
}
