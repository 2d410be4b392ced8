import Foundation
import SequentNN

/// Everything `sequent serve` can be told: read from `config/sequent.json`, then `SEQUENT_*` environment
/// variables, then command-line flags (each overriding the one before).
public struct ServiceConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// SQLite database, models and checkpoints live here.
    public var dataDirectory = "./data"
    public var fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"
    /// Class-folder datasets; job specs name folders relative to it. Default: `<data_dir>/datasets`.
    public var datasetsDirectory: String?
    public var datasetsRoot: String { datasetsDirectory ?? dataDirectory + "/datasets" }
    /// Where jobs, epochs, models and artifacts live: `sqlite` (the default: `<data_dir>/sequent.sqlite` and the
    /// data directory), `sqlite://PATH`, or `postgres://user@host:port/db` (a cluster: every `sequent serve` and
    /// `sequent worker` pointed at the same database shares its queue, records, artifacts and events).
    public var store = "sqlite"
    /// With a PostgreSQL store: keep models, checkpoints and datasets in this directory, shared by every machine
    /// (NFS-style), instead of in the database. Nil: in the database.
    public var artifactsDirectory: String?
    /// Jobs trained at once by this process; 0 serves only (a `sequent serve` replica in front of workers).
    public var workers = 1
    /// Engine threads per job (each job splits its batches across this many threads).
    public var threadsPerJob = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Jobs waiting beyond this are refused with 429.
    public var maxQueuedJobs = 100
    /// Models above these are refused with 422.
    public var maxParameters = 50_000_000
    public var maxActivationBytes = 2 << 30
    /// Step metrics are recorded every this many steps.
    public var metricsEvery = 20
    /// When set, mutating routes require `Authorization: Bearer <token>`.
    public var token: String?
    public var maxConnections = 16_384
    public var maxBodyBytes = 8 << 20
    /// Largest predict upload (all parts together).
    public var maxUploadBytes = 32 << 20
    /// Images with more pixels are refused (checked from the header, before decoding).
    public var maxImagePixels = 40_000_000
    /// Largest dataset upload (a zip or tar.gz of class folders). The body is written to a file under the datasets
    /// folder as it arrives, so this bounds disk use, not memory.
    public var maxDatasetBytes = 1 << 30
    /// Most files and folders in one dataset upload.
    public var maxDatasetEntries = 100_000
    /// Memory for loaded models; least recently used ones are dropped beyond it.
    public var modelCacheBytes = 512 << 20
    /// Memory for a training job's decoded folder images (8-bit pixels); images past it are decoded again each
    /// time a batch needs them.
    public var imageCacheBytes = 1 << 30
    /// Seconds a worker's claim on a job lasts unless renewed; a job whose worker stopped renewing (it died, or lost
    /// the database) goes back to the queue after it.
    public var leaseSeconds: Double = 30
    /// Seconds between a worker's lease renewals (and its checks of the job's state); nil: a third of the lease.
    public var heartbeatSeconds: Double?
    /// `heartbeatSeconds` or its default.
    public var heartbeatInterval: Double { heartbeatSeconds ?? leaseSeconds / 3 }

    public init() {}

    /// `store`, parsed (it is validated when set).
    public var storeLocation: StoreLocation { StoreLocation(store) ?? .sqlite(path: nil) }

    static let keys: [String: String] = [
        "host": "SEQUENT_HOST", "port": "SEQUENT_PORT", "data_dir": "SEQUENT_DATA_DIR",
        "fashion_mnist_dir": "SEQUENT_FASHION_MNIST_DIR", "datasets_dir": "SEQUENT_DATASETS_DIR", "workers": "SEQUENT_WORKERS",
        "threads_per_job": "SEQUENT_THREADS_PER_JOB", "max_queued_jobs": "SEQUENT_MAX_QUEUED_JOBS",
        "max_parameters": "SEQUENT_MAX_PARAMETERS", "max_activation_bytes": "SEQUENT_MAX_ACTIVATION_BYTES",
        "metrics_every": "SEQUENT_METRICS_EVERY", "token": "SEQUENT_TOKEN", "max_connections": "SEQUENT_MAX_CONNECTIONS",
        "max_body_bytes": "SEQUENT_MAX_BODY_BYTES", "max_upload_bytes": "SEQUENT_MAX_UPLOAD_BYTES",
        "max_image_pixels": "SEQUENT_MAX_IMAGE_PIXELS", "max_dataset_bytes": "SEQUENT_MAX_DATASET_BYTES",
        "max_dataset_entries": "SEQUENT_MAX_DATASET_ENTRIES", "model_cache_bytes": "SEQUENT_MODEL_CACHE_BYTES",
        "image_cache_bytes": "SEQUENT_IMAGE_CACHE_BYTES", "lease_seconds": "SEQUENT_LEASE_SECONDS",
        "heartbeat_seconds": "SEQUENT_HEARTBEAT_SECONDS", "store": "SEQUENT_STORE",
        "artifacts_dir": "SEQUENT_ARTIFACTS_DIR",
    ]

    /// Applies one setting by its config-file key; errors name the key and the source.
    public mutating func set(_ key: String, _ value: JSONValue, source: String) throws {
        func int(min: Int = 0) throws -> Int {
            let i = value.intValue ?? value.stringValue.flatMap { Int($0) }
            guard let i, i >= min else { throw ConfigError(field: key, detail: "in \(source) must be an integer ≥ \(min), got \(value.brief)") }
            return i
        }
        func seconds() throws -> Double {
            let d = value.doubleValue ?? value.stringValue.flatMap { Double($0) }
            guard let d, d.isFinite, d > 0 else { throw ConfigError(field: key, detail: "in \(source) must be a number of seconds > 0, got \(value.brief)") }
            return d
        }
        func string() throws -> String {
            guard let s = value.stringValue ?? value.intValue.map(String.init) else {
                throw ConfigError(field: key, detail: "in \(source) must be a string, got \(value.brief)")
            }
            return s
        }
        switch key {
        case "host": host = try string()
        case "port":
            port = try int()
            guard port <= 65535 else { throw ConfigError(field: key, detail: "in \(source) must be ≤ 65535, got \(port)") }
        case "data_dir": dataDirectory = try string()
        case "fashion_mnist_dir": fashionMNISTDirectory = try string()
        case "datasets_dir": datasetsDirectory = try string()
        case "workers": workers = try int(min: 0)
        case "artifacts_dir": artifactsDirectory = value.isNull ? nil : try string()
        case "store":
            let s = try string()
            guard StoreLocation(s) != nil else {
                throw ConfigError(field: key, detail: "in \(source) must be sqlite, sqlite://PATH or postgres://user@host:port/db, got \(value.brief)")
            }
            store = s
        case "threads_per_job": threadsPerJob = try int(min: 1)
        case "max_queued_jobs": maxQueuedJobs = try int(min: 1)
        case "max_parameters": maxParameters = try int(min: 1)
        case "max_activation_bytes": maxActivationBytes = try int(min: 1)
        case "metrics_every": metricsEvery = try int(min: 1)
        case "token": token = value.isNull ? nil : try string()
        case "max_connections": maxConnections = try int(min: 1)
        case "max_body_bytes": maxBodyBytes = try int(min: 1024)
        case "max_upload_bytes": maxUploadBytes = try int(min: 1024)
        case "max_image_pixels": maxImagePixels = try int(min: 1)
        case "max_dataset_bytes": maxDatasetBytes = try int(min: 1024)
        case "max_dataset_entries": maxDatasetEntries = try int(min: 1)
        case "model_cache_bytes": modelCacheBytes = try int(min: 1)
        case "image_cache_bytes": imageCacheBytes = try int()
        case "lease_seconds": leaseSeconds = try seconds()
        case "heartbeat_seconds": heartbeatSeconds = value.isNull ? nil : try seconds()
        default: throw ConfigError(field: key, detail: "in \(source) is not a known setting")
        }
    }

    /// Reads the config file (if it exists) and the environment.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfiguration {
        var c = ServiceConfiguration()
        let path = file ?? "config/sequent.json"
        if let data = FileManager.default.contents(atPath: path) {
            guard case .object(let o) = try JSONValue.parse(data) else {
                throw ConfigError(field: path, detail: "must hold a JSON object")
            }
            for (k, v) in o where !k.hasPrefix("_") { try c.set(k, v, source: path) }
        } else if file != nil {
            throw ConfigError(field: path, detail: "does not exist")
        }
        for (key, env) in keys.sorted(by: { $0.key < $1.key }) {
            if let v = environment[env] { try c.set(key, .string(v), source: "$\(env)") }
        }
        return c
    }
}
