import Foundation
import Logging
import SequentNN
import SequentPostgres
import SequentStore

/// The scheduler and its workers: takes queued jobs from the store in FIFO order and trains them on worker
/// threads (never on request threads), recording progress, epochs, checkpoints and the resulting model.
///
/// Crash safety: after every epoch the weights and optimizer state go to `checkpoints/<job>/epoch-<n>`
/// (written, fsynced, renamed), and only then is the epoch row committed together with the job's
/// `checkpoint_epoch`, so the database never points at a checkpoint that does not exist. At start-up a job
/// found `running` is put back in the queue and resumes after its checkpoint epoch; shuffling and dropout
/// derive from (seed, epoch, step), so the resumed run sees the same batches it would have.
///
/// The service sees its storage only through protocols (`ServiceStore`, `ArtifactStore`, `EventBus`), so the
/// same scheduler runs on SQLite and the data directory (the default), in memory (tests) or on a store shared by
/// several machines. Each claim names its worker and takes a lease that a heartbeat renews every
/// `heartbeatInterval`; a worker that loses its lease stops the job and writes nothing more of it, and the
/// heartbeat puts jobs whose lease lapsed (their worker died) back in the queue.
public final class TrainingService: @unchecked Sendable {
    public let configuration: ServiceConfiguration
    public let store: any ServiceStore
    public let artifacts: any ArtifactStore
    public let events: any EventBus
    /// This process alone uses the store (SQLite): at start-up, every job found running was left by a process
    /// that died and is requeued at once, without waiting for its lease to lapse.
    let ownsStore: Bool
    let logger: Logger
    let dataDirectory: URL
    /// Names this process's workers (`<prefix>-<index>`): a new one at every start, as pids are reused.
    let workerPrefix = "w_" + TrainingService.randomID().prefix(8)

    /// In-memory state of running jobs: cancellation, the lease and the latest progress.
    final class LiveJob: @unchecked Sendable {
        let token = CancellationToken()
        let worker: WorkerIdentity
        /// Set by the heartbeat when the lease was lost: the job is someone else's now.
        var leaseLost = false
        var progress: [String: JSONValue] = [:]
        var metrics: [String: Double] = [:]

        init(worker: WorkerIdentity = .local("local")) { self.worker = worker }
    }

    /// Runs on the worker after it has claimed a job and before the job is registered as live: tests hold the
    /// worker here to land a cancel in that window. Nil in production.
    var afterClaimHook: (@Sendable (JobRecord) -> Void)?

    private let lock = NSLock()
    private var live: [String: LiveJob] = [:]
    private let wake = NSCondition()
    /// The heartbeat's own condition, so that `notifyWorkers` always wakes a worker.
    private let beat = NSCondition()
    private var stopping = false
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    /// Training samples per second of running jobs, for /metrics.
    public var samplesPerSecond: Double { lock.withLock { live.values.compactMap { $0.progress["samples_per_second"]?.doubleValue }.reduce(0, +) } }

    /// The service on the configured store (`ServiceConfiguration.store`). The default: SQLite at
    /// `<data_dir>/sequent.sqlite`, artifacts in the data directory, events in process. With `postgres://…` the
    /// records, queue, artifacts and events are the cluster's (`ClusterStores`), and the data directory holds only
    /// this machine's cache of artifacts.
    public convenience init(configuration: ServiceConfiguration, logger: Logger) throws {
        let dataDirectory = URL(fileURLWithPath: configuration.dataDirectory)
        for sub in ["", "models", "checkpoints", "datasets"] {
            try FileManager.default.createDirectory(at: dataDirectory.appendingPathComponent(sub),
                                                    withIntermediateDirectories: true)
        }
        switch configuration.storeLocation {
        case .sqlite(let path):
            let store = try SQLiteStore(path: path ?? dataDirectory.appendingPathComponent("sequent.sqlite").path)
            let artifacts = LocalArtifactStore(dataDirectory: dataDirectory,
                                               datasetsRoot: URL(fileURLWithPath: configuration.datasetsRoot))
            self.init(configuration: configuration, logger: logger, store: store, artifacts: artifacts,
                      events: EventHub(), ownsStore: true)
        case .postgres(let url):
            let cache = dataDirectory.appendingPathComponent("cache")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            let stores = try ClusterStores.open(url: url, cacheDirectory: cache,
                                                worker: .local("process-" + TrainingService.randomID().prefix(8)))
            // A shared directory, when one is named, holds the artifacts instead of the database.
            let artifacts: any ArtifactStore = configuration.artifactsDirectory.map { dir in
                let root = URL(fileURLWithPath: dir)
                return LocalArtifactStore(dataDirectory: root, datasetsRoot: root.appendingPathComponent("datasets"),
                                          shared: true)
            } ?? stores.artifacts
            self.init(configuration: configuration, logger: logger, store: stores.store, artifacts: artifacts,
                      events: stores.events, ownsStore: false)
        }
    }

    /// A service on the given storage. `ownsStore`: no other process uses the store (see the property).
    public init(configuration: ServiceConfiguration, logger: Logger, store: any ServiceStore,
                artifacts: any ArtifactStore, events: any EventBus, ownsStore: Bool) {
        self.configuration = configuration
        self.logger = logger
        dataDirectory = URL(fileURLWithPath: configuration.dataDirectory)
        self.store = store
        self.artifacts = artifacts
        self.events = events
        self.ownsStore = ownsStore
    }

    // MARK: Life cycle

    /// Requeues jobs a previous process left running (a store this process owns), sweeps what it left unrecorded,
    /// then starts the workers and the heartbeat.
    public func start() throws {
        for var job in ownsStore ? try store.unfinishedRunningJobs() : [] {
            if job.state == .cancelling {
                job.state = .cancelled
                job.finishedAt = Date()
                job.stopReason = "cancelled (the server stopped before the worker did)"
                try store.update(job)
                continue
            }
            job.state = .queued
            try store.update(job)
            logger.info("job \(job.id) was running when the server stopped; it resumes after epoch \(job.checkpointEpoch)")
        }
        let swept = try sweepDataDirectory()
        if !swept.isEmpty {
            let listed = swept.prefix(5).joined(separator: ", ")
            logger.info("removed \(swept.count) file(s) a previous process left unrecorded: \(listed)")
        }
        for i in 0..<configuration.workers {
            finished.enter()
            let worker = WorkerIdentity.local("\(workerPrefix)-\(i)")
            let t = Thread { [self] in
                workerLoop(worker)
                finished.leave()
            }
            t.name = "sequent-worker-\(i)"
            t.stackSize = 8 << 20
            threads.append(t)
            t.start()
        }
        finished.enter()
        let heartbeat = Thread { [self] in
            heartbeatLoop()
            finished.leave()
        }
        heartbeat.name = "sequent-heartbeat"
        threads.append(heartbeat)
        heartbeat.start()
    }

    /// Stops the workers: running jobs stop at their next batch and go back to the queue with their last
    /// checkpoint, to resume on the next start. Returns when the workers have exited (or after `timeout`).
    public func shutdown(timeout: TimeInterval = 30) {
        wake.lock()
        stopping = true
        wake.broadcast()
        wake.unlock()
        beat.withLock { beat.broadcast() }
        lock.withLock { live.values.forEach { $0.token.cancel() } }
        _ = finished.wait(timeout: .now() + timeout)
        events.close(jobID: nil)
    }

    var isStopping: Bool { wake.withLock { stopping } }

    /// Tells an idle worker there is work.
    func notifyWorkers() {
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    private func workerLoop(_ worker: WorkerIdentity) {
        while !isStopping {
            let job: JobRecord?
            do { job = try store.claimNext(worker: worker, leaseSeconds: configuration.leaseSeconds) } catch {
                logger.error("cannot claim a job: \(error)")
                job = nil
            }
            guard let job else {
                wake.lock()
                if !stopping { _ = wake.wait(until: Date().addingTimeInterval(1)) }
                wake.unlock()
                continue
            }
            run(job, worker: worker)
        }
    }

    /// Every `heartbeatInterval`: renews the lease of each job this process runs (a lost lease stops the job),
    /// passes on a cancel the store holds but no signal brought (another process's bus may have missed it), and
    /// requeues the jobs of workers that stopped renewing.
    private func heartbeatLoop() {
        while !isStopping {
            beat.lock()
            if !isStopping { _ = beat.wait(until: Date().addingTimeInterval(configuration.heartbeatInterval)) }
            beat.unlock()
            if isStopping { return }
            heartbeat()
        }
    }

    /// One beat of `heartbeatLoop`.
    func heartbeat() {
        for (id, liveJob) in lock.withLock({ Array(live) }) {
            do {
                if try !store.renewLease(jobID: id, worker: liveJob.worker, leaseSeconds: configuration.leaseSeconds) {
                    logger.warning("job \(id): the lease of worker \(liveJob.worker.id) was lost; stopping it here")
                    lockedUpdate(liveJob) { $0.leaseLost = true }
                    liveJob.token.cancel()
                } else if try store.job(id: id)?.state == .cancelling {
                    liveJob.token.cancel()
                }
            } catch {
                // The store is unreachable: keep training; if it stays so, the lease lapses and renewal says so.
                logger.error("job \(id): cannot renew its lease: \(error)")
            }
        }
        do {
            let lapsed = try store.requeueExpiredLeases(now: Date())
            for job in lapsed {
                logger.warning("job \(job.id): its worker's lease lapsed; \(job.state == .queued ? "requeued, it resumes after epoch \(job.checkpointEpoch)" : job.state.rawValue)")
                publishState(job)
                if job.state.isFinished { events.close(jobID: job.id) }
            }
            if lapsed.contains(where: { $0.state == .queued }) { notifyWorkers() }
        } catch {
            logger.error("cannot requeue jobs with lapsed leases: \(error)")
        }
    }

    // MARK: Submitting and cancelling

    /// Validates a spec (400 naming the field, 422 when over the configured limits), then queues it (429 when
    /// the queue is full).
    public func submit(_ value: JSONValue) throws -> JobRecord {
        let spec: JobSpec
        do { spec = try JobSpec.parse(try withInitialModel(value)) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_job_spec", e.message, field: e.field)
        }
        let model = try spec.makeModel()
        if let id = spec.initialModel, let folder = dataSources.modelFolder {
            // The weights must fit now, not when a worker starts the job.
            do { try TrainingRun.copyWeights(from: ModelArchive.load(from: try folder(id)).model, into: model, source: id) }
            catch let e as ConfigError { throw ServiceError(400, "invalid_job_spec", e.message, field: e.field) }
        }
        for (field, dir) in [("dataset.directory", spec.dataset.directory), ("dataset.validation_directory", spec.dataset.validationDirectory)] {
            guard let dir else { continue }
            var isDir: ObjCBool = false
            guard let folder = datasetFolder(dir),
                  FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir), isDir.boolValue else {
                throw ServiceError(400, "invalid_job_spec", "\(field) \"\(dir)\" is not a dataset on this server", field: field)
            }
        }
        if spec.validatesBySpec == nil, let dir = spec.dataset.directory {
            // A folder dataset validates when it holds train/ and validation/ (TrainingRun.openFolders).
            let root = datasetFolder(dir)?.path ?? ""
            let validates = FileManager.default.fileExists(atPath: root + "/train")
                && FileManager.default.fileExists(atPath: root + "/validation")
            do { try spec.checkMonitors(validation: validates) } catch let e as ConfigError {
                throw ServiceError(400, "invalid_job_spec", e.message, field: e.field)
            }
        }
        if model.parameterCount > configuration.maxParameters {
            throw ServiceError(422, "model_too_large", "the model has \(model.parameterCount) parameters, the limit is \(configuration.maxParameters)", field: "model")
        }
        let activationBytes = model.activationFloatsPerSample * spec.fit.batchSize * 4
        if activationBytes > configuration.maxActivationBytes {
            throw ServiceError(422, "model_too_large", "training needs \(activationBytes) bytes of activations per batch (batch_size \(spec.fit.batchSize)), the limit is \(configuration.maxActivationBytes)", field: "fit.batch_size")
        }
        let job = JobRecord(id: "j_" + Self.randomID(), name: spec.name, specJSON: spec.normalized.serialized())
        let queued: Bool
        do {
            queued = try store.enqueue(job, maxQueued: configuration.maxQueuedJobs)
        } catch where StorageFailure.isDiskFull(error) {
            logger.error("cannot queue a job: \(error)")
            throw ServiceError(507, "insufficient_storage", "the server's disk is full; the job was not queued")
        }
        guard queued else {
            throw ServiceError(429, "queue_full", "\(configuration.maxQueuedJobs) jobs are already queued; try again later")
        }
        // Answer with the job as submitted (queued): a worker polling the queue may claim it at any moment,
        // so reading it back could already show it running.
        notifyWorkers()
        return job
    }

    /// Cancels a job: a queued one at once, a running one at its next batch (`cancelling` until then).
    public func cancel(id: String) throws -> JobRecord {
        guard let job = try store.job(id: id) else { throw ServiceError.notFound("job", id) }
        if job.state.isFinished {
            throw ServiceError(409, "job_finished", "job \(id) already \(job.state.rawValue)")
        }
        if try store.transition(id: id, from: [.queued], to: .cancelled, finishedAt: Date()) {
            var j = try store.job(id: id)!
            j.stopReason = "cancelled before it started"
            try store.update(j)
            publishState(j)
            events.close(jobID: id)
            return j
        }
        if try store.transition(id: id, from: [.running], to: .cancelling) {
            events.signalCancel(jobID: id)
            let j = try store.job(id: id)!
            publishState(j)
            return j
        }
        return try store.job(id: id)!   // already cancelling
    }

    /// Progress and metrics of a running job, from memory (fresher than the database).
    func liveState(_ id: String) -> (progress: [String: JSONValue], metrics: [String: Double])? {
        lock.withLock { live[id].map { ($0.progress, $0.metrics) } }
    }

    static func randomID() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<12).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement(using: &rng)! })
    }

    // MARK: Running a job

    /// Where the local artifact store keeps a checkpoint (tests that stage what a crash leaves); the service itself
    /// reaches checkpoints through `artifacts` by `checkpointID`.
    func checkpointDirectory(_ jobID: String, epoch: Int) -> URL {
        dataDirectory.appendingPathComponent("checkpoints/\(jobID)/epoch-\(epoch)")
    }

    func checkpointID(_ jobID: String, epoch: Int) -> String { "\(jobID)/epoch-\(epoch)" }

    /// Whether the job is still this worker's: after a lost lease nothing more of it may be written.
    func holdsLease(_ liveJob: LiveJob) -> Bool { !lockedRead(liveJob) { $0.leaseLost } }

    /// The local folder of a spec's dataset directory (`<name>` or `<name>/<sub folder>`), through the artifact
    /// store; nil when there is no such dataset.
    func datasetFolder(_ directory: String) -> URL? {
        let parts = directory.split(separator: "/", maxSplits: 1).map(String.init)
        guard let name = parts.first, let folder = try? artifacts.open(.dataset, id: name, sha256: nil) else { return nil }
        return parts.count > 1 ? folder.appendingPathComponent(parts[1]) : folder
    }

    /// The root a job's dataset directories are read under. The local store keeps every dataset under its name in
    /// one root: that root. A store that hands out folders elsewhere (a cache keyed by digest) gets them linked
    /// under their names into `scratch`, which the caller removes when the job ends.
    func datasetsRoot(for spec: JobSpec, scratch: URL) throws -> String {
        let names = Set([spec.dataset.directory, spec.dataset.validationDirectory].compactMap {
            $0?.split(separator: "/", maxSplits: 1).first.map(String.init)
        })
        var folders: [(name: String, url: URL)] = []
        for name in names.sorted() { folders.append((name, try artifacts.open(.dataset, id: name, sha256: nil))) }
        let parents = Set(folders.map { $0.url.deletingLastPathComponent().standardizedFileURL.path })
        if folders.isEmpty { return configuration.datasetsRoot }
        if folders.allSatisfy({ $0.url.lastPathComponent == $0.name }), parents.count == 1 { return parents.first! }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        for f in folders {
            try FileManager.default.createSymbolicLink(at: scratch.appendingPathComponent(f.name), withDestinationURL: f.url)
        }
        return scratch.path
    }

    private func run(_ claimed: JobRecord, worker: WorkerIdentity) {
        var job = claimed
        let datasetLinks = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-datasets-\(job.id)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: datasetLinks) }
        afterClaimHook?(job)
        let liveJob = LiveJob(worker: worker)
        lock.withLock { live[job.id] = liveJob }
        let cancelSignal = events.onCancel(jobID: job.id) { liveJob.token.cancel() }
        defer {
            events.unsubscribe(cancelSignal)
            lock.withLock { _ = live.removeValue(forKey: job.id) }
        }
        // A cancel that came after the claim but before the registration above found no handler to signal; it left
        // only the stored state. `cancel` writes the state before it signals and this reads the state after
        // registering, so whichever runs second sees the other.
        if let stored = try? store.job(id: job.id), stored.state == .cancelling {
            job = stored
            job.state = .cancelled
            job.finishedAt = Date()
            job.stopReason = "cancelled before training started"
            do { _ = try store.update(job, ifStateIn: [.cancelling]) } catch {
                logger.error("job \(job.id): cannot record its cancellation: \(error)")
            }
            publishState(job)
            events.close(jobID: job.id)
            return
        }
        publishState(job)
        do {
            let spec = try JobSpec.parse(try JSONValue.parse(job.specJSON))
            var sources = dataSources
            let run = try JobFailure.during(
                spec.dataset.directory.map { "the dataset \"\($0)\" could not be read on the server" }
                    ?? "Fashion-MNIST is not installed on the server or cannot be read",
                remedy: spec.dataset.directory == nil
                    ? "ask the operator to install the package dataset-fashion-mnist, then resubmit the job"
                    : "upload the dataset again, then resubmit the job",
                keepingUserErrors: true) {
                    sources.datasetsRoot = try datasetsRoot(for: spec, scratch: datasetLinks)
                    return try TrainingRun(spec: spec, sources: sources)
                }
            run.model.threads = configuration.threadsPerJob
            if !run.skippedImages.isEmpty {
                let listed: [JSONValue] = run.skippedImages.prefix(100).map { ["path": .string($0.path), "reason": .string($0.reason)] }
                job.warningsJSON = JSONValue.object(["skipped_count": .number(Double(run.skippedImages.count)),
                                                     "skipped_images": .array(listed)]).serialized()
                try store.update(job)
                logger.warning("job \(job.id): skipped \(run.skippedImages.count) unreadable image(s), e.g. \(run.skippedImages[0].path): \(run.skippedImages[0].reason)")
            }
            if job.checkpointEpoch > 0 {
                try JobFailure.during("the checkpoint of epoch \(job.checkpointEpoch) is missing or unreadable",
                                      remedy: "resubmit the job to train from the start") {
                    try run.restore(from: artifacts.open(.checkpoint, id: checkpointID(job.id, epoch: job.checkpointEpoch),
                                                         sha256: job.checkpointSHA256))
                }
                logger.info("job \(job.id) resumes after epoch \(job.checkpointEpoch)")
            }
            var options = run.fitOptions(initialEpoch: job.checkpointEpoch, cancellation: liveJob.token)
            if job.checkpointEpoch > 0, job.stopReason != nil {
                // A callback had stopped training at the checkpoint's epoch and the process died before the job
                // finished: finish it as it would have, rather than train past the stop.
                options.epochs = job.checkpointEpoch
            }
            // The step count where the checkpoint's epoch ended, as fit counts it (epochs of a steps_per_epoch
            // run may be shorter at the end of each pass over the data).
            let samples = run.trainData.count - (run.validationData == nil ? options.validationSplit.map {
                Int((Double(run.trainData.count) * $0).rounded(.down)) } ?? 0 : 0)
            let stepsDone = options.stepsBefore(epoch: job.checkpointEpoch, batches: options.batches(samples: samples))
            try store.truncateMetrics(jobID: job.id, afterStep: stepsDone)
            let recorder = JobRecorder(service: self, job: job, live: liveJob, metricsEvery: configuration.metricsEvery)
            let userCallbacks = try spec.makeCallbacks(
                checkpointDirectory: dataDirectory.appendingPathComponent("checkpoints/\(job.id)/user"))
            let outcome = try run.run(callbacks: userCallbacks + [recorder], options: options)
            guard holdsLease(liveJob) else {
                logger.warning("job \(job.id) stopped here: another worker holds it now")
                return
            }
            recorder.flushMetrics()
            job = try store.job(id: job.id) ?? recorder.job
            job.worker = worker   // the final writes hold only while this worker holds the job
            job.progressJSON = JSONValue.object(liveJob.progress).serialized()
            if outcome.history.cancelled && isStopping && job.state == .running {
                // Server shutdown, not a user's cancel: back to the queue, resume from the last checkpoint.
                job.state = .queued
                _ = try store.update(job, ifStateIn: [.running])
                logger.info("job \(job.id) stopped for shutdown; it resumes after epoch \(job.checkpointEpoch)")
                return
            }
            job.finishedAt = Date()
            job.stopReason = outcome.history.stopReason ?? job.stopReason
            // A cancel after the last batch still counts: the user was told the job is cancelling.
            if outcome.history.cancelled || job.state == .cancelling {
                job.state = .cancelled
                if !outcome.history.cancelled { job.stopReason = "cancelled after its last epoch" }
                _ = try store.update(job, ifStateIn: [.running, .cancelling])
            } else if let failure = outcome.history.failure {
                job.state = .failed
                job.error = failure
                _ = try store.update(job, ifStateIn: [.running, .cancelling])
            } else {
                let finalMetrics = job.metricsJSON
                job.state = .succeeded
                if !outcome.test.isEmpty {
                    var m = (try? JSONValue.parse(job.metricsJSON ?? "{}"))?.objectValue ?? [:]
                    for (k, v) in outcome.test { m["test_" + k] = .number(v) }
                    job.metricsJSON = JSONValue.object(m).serialized()
                }
                let (id, state) = try JobFailure.during("the trained model could not be saved",
                                                        remedy: "resubmit the job") {
                    try registerModel(run: run, job: job, finalMetrics: finalMetrics, test: outcome.test)
                }
                job.modelID = id
                job.state = state
            }
            try? artifacts.remove(.checkpoint, id: job.id)
        } catch {
            guard holdsLease(liveJob) else {
                logger.warning("job \(job.id) stopped here: another worker holds it now (\(error))")
                return
            }
            let message = JobFailure.text(for: error, jobID: job.id)
            let cause = (error as? JobFailure)?.cause ?? error
            logger.error("job \(job.id) failed: \(message) (cause: \(String(describing: cause)))")
            job = (try? store.job(id: job.id)) ?? job
            job.worker = worker
            job.state = .failed
            job.error = message
            job.finishedAt = Date()
            // Failed for good, its checkpoints are of no use; unless the failure could not be recorded (a full
            // database): the job is still running there and resumes from them on the next start.
            if (try? store.update(job, ifStateIn: [.running, .cancelling])) == true {
                try? artifacts.remove(.checkpoint, id: job.id)
            }
        }
        publishState(job)
        events.close(jobID: job.id)
    }

    /// Where this server's jobs find their data (a folder dataset's root may be replaced per job: `datasetsRoot`)
    /// and the models they fine-tune from.
    var dataSources: DataSources {
        var sources = DataSources(fashionMNISTDirectory: configuration.fashionMNISTDirectory,
                                  datasetsRoot: configuration.datasetsRoot, imageCacheBytes: configuration.imageCacheBytes)
        let store = self.store, artifacts = self.artifacts
        sources.modelFolder = { id in
            guard let record = try store.model(id: id) else {
                throw ConfigError(field: "initial_model", detail: "model \(id) no longer exists")
            }
            return try artifacts.open(.model, id: record.id, sha256: record.artifactSHA256)
        }
        return sources
    }

    /// Writes the model's evaluation on its split (`ModelEvaluation`) and every sample's prediction into its staged
    /// folder, so the artifact's digest covers them. A model that cannot be evaluated is still registered: the routes
    /// compute it on request.
    private func writeEvaluation(run: TrainingRun, modelID: String, loss: Double?, into staging: URL) {
        do {
            let (report, samples) = try run.evaluation(loss: loss, modelID: modelID)
            try Data(report.serialized().utf8).write(to: staging.appendingPathComponent(ModelEvaluation.file))
            try Data(samples.json.serialized().utf8).write(to: staging.appendingPathComponent(ModelEvaluation.samplesFile))
            logger.info("model \(modelID): evaluated on \(report["samples"]?.intValue ?? 0) \(report["split"]?.stringValue ?? "") samples in \(report["seconds"]?.doubleValue ?? 0) s")
        } catch {
            logger.warning("model \(modelID): no evaluation stored with it: \(error)")
        }
    }

    /// Saves the trained model as the `.model` artifact `<id>` and records it, with what predicting needs, together
    /// with `job` in its final state: one transaction, so a crash never leaves a model record whose job resumes and
    /// trains a second one. A model that cannot be saved leaves no folder behind.
    private func registerModel(run: TrainingRun, job: JobRecord, finalMetrics: String?,
                               test: [String: Double]) throws -> (id: String, state: JobState) {
        let id = "m_" + Self.randomID()
        let staging = try artifacts.stage(.model)
        var metadata = run.modelMetadata
        metadata["summary"] = .array(run.model.summaryRows)
        metadata["parameter_count"] = .number(Double(run.model.parameterCount))
        metadata["test_metrics"] = .object(test.mapValues { .number($0) })
        metadata["final_metrics"] = (try? JSONValue.parse(finalMetrics ?? "{}")) ?? .object([:])
        var committed = false
        do {
            try ModelArchive.save(run.model, to: staging, metadata: metadata)
            writeEvaluation(run: run, modelID: id, loss: test["loss"], into: staging)
            let receipt = try artifacts.commit(staging, as: .model, id: id)
            committed = true
            var finished = job
            finished.modelID = id
            // The local store's folder, for operators and scripts/check-data-dir.py; others have none.
            let path = (artifacts as? LocalArtifactStore)?.location(.model, id: id).path ?? "artifact:model/\(id)"
            let record = ModelRecord(id: id, jobID: job.id, name: job.name, path: path,
                                     sha256: receipt.files[ModelArchive.weightsFile] ?? "",
                                     metadataJSON: JSONValue.object(metadata).serialized(), artifactSHA256: receipt.sha256)
            let state = try store.addModel(record, finishing: finished)
            return (id, state)
        } catch {
            if committed { try? artifacts.remove(.model, id: id) } else { artifacts.discard(staging) }
            throw error
        }
    }

    func publishState(_ job: JobRecord) {
        events.publish(jobID: job.id, name: "state", data: JobView.json(job, service: self).serialized())
    }
}

/// The callback through which a running job reports: progress in memory (and to SSE), step metrics every N
/// steps, and at each epoch end a checkpoint followed by the epoch row (one transaction with the job).
final class JobRecorder: Callback {
    unowned let service: TrainingService
    var job: JobRecord
    let live: TrainingService.LiveJob
    let metricsEvery: Int
    private var pending: [MetricPoint] = []
    private var epochStart = Date()
    private var lastProgress: BatchProgress?
    private var lastEvent = Date.distantPast
    private var lastProgressUpdate = Date.distantPast
    private var lastFlush = Date()
    private let started = Date()
    private var recordedEpochs = 0

    init(service: TrainingService, job: JobRecord, live: TrainingService.LiveJob, metricsEvery: Int) {
        self.service = service
        self.job = job
        self.live = live
        self.metricsEvery = metricsEvery
    }

    func onEpochBegin(_ epoch: Int, model: Sequential) { epochStart = Date() }

    func onBatchEnd(_ p: BatchProgress, logs: [String: Double], model: Sequential) {
        lastProgress = p
        if p.globalStep % metricsEvery == 0 {
            let wall = Date().timeIntervalSince1970
            for (k, v) in logs { pending.append(MetricPoint(key: k, step: p.globalStep, wallTime: wall, value: v)) }
        }
        // The dense recipe runs thousands of steps a second: refresh the shared progress (and the event stream)
        // at most every 50 ms, and at the end of each epoch, rather than building it on every step.
        let now = Date()
        guard p.step == p.steps || now.timeIntervalSince(lastProgressUpdate) >= 0.05 else { return }
        lastProgressUpdate = now
        let rate = Double(p.samplesThisEpoch) / max(p.secondsThisEpoch, 1e-9)
        let perStep = p.secondsThisEpoch / Double(max(p.step, 1))
        let remaining = Double(p.steps - p.step) + Double(p.epochs - p.epoch - 1) * Double(p.steps)
        let progress: [String: JSONValue] = [
            "epoch": .number(Double(p.epoch + 1)), "epochs": .number(Double(p.epochs)),
            "step": .number(Double(p.step)), "steps": .number(Double(p.steps)),
            "samples_per_second": .number(rate.rounded()), "eta_seconds": .number((remaining * perStep * 10).rounded() / 10),
        ]
        service.lockedUpdate(live) { $0.progress = progress }
        if now.timeIntervalSince(lastFlush) > 1 { flushMetrics() }
        if now.timeIntervalSince(lastEvent) > 0.25 {
            lastEvent = now
            var payload = progress
            payload["job_id"] = .string(job.id)
            payload["metrics"] = .object(logs.mapValues { .number($0) })
            service.events.publish(jobID: job.id, name: "progress", data: JSONValue.object(payload).serialized())
        }
    }

    /// The last checkpoint takes the final weights (early stopping may have restored an earlier epoch's), so a
    /// job killed before it finished registers the model it would have.
    func onTrainEnd(logs: [String: Double], model: Sequential) {
        guard recordedEpochs > 0, !live.token.isCancelled, model.trainingFailure == nil else { return }
        do {
            let receipt = try service.saveCheckpoint(model, jobID: job.id, epoch: job.checkpointEpoch)
            // The record names the new content's digest, so that a resume accepts it.
            if var stored = try service.store.job(id: job.id) {
                stored.worker = live.worker
                stored.checkpointSHA256 = receipt.sha256
                _ = try service.store.update(stored, ifStateIn: [.running, .cancelling])
            }
        } catch {
            service.logger.error("job \(job.id): cannot save the final weights with epoch \(job.checkpointEpoch): \(error)")
        }
    }

    func flushMetrics() {
        guard !pending.isEmpty else { return }
        do { try service.store.appendMetrics(jobID: job.id, pending) } catch {
            service.logger.error("job \(job.id): cannot record step metrics: \(error)")
        }
        pending.removeAll()
        lastFlush = Date()
    }

    func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        flushMetrics()
        let n = epoch + 1
        let duration = Date().timeIntervalSince(epochStart)
        let rate = lastProgress.map { Double($0.samplesThisEpoch) / max($0.secondsThisEpoch, 1e-9) } ?? 0
        guard service.holdsLease(live) else { return }   // another worker's job now: record nothing
        let receipt: ArtifactReceipt
        do {
            // Checkpoint first; the database then points at a checkpoint that exists.
            receipt = try service.saveCheckpoint(model, jobID: job.id, epoch: n)
        } catch {
            // Without its checkpoint the epoch cannot be recorded (a resume needs it): fail rather than train on.
            service.logger.error("job \(job.id): cannot save the checkpoint of epoch \(n): \(error)")
            model.trainingFailure = "cannot save the checkpoint of epoch \(n): \(StorageFailure.reason(error))"
            model.stopTraining = true
            return
        }
        do {
            job = try service.store.job(id: job.id) ?? job
            job.worker = live.worker   // recorded only while this worker holds the job
            job.checkpointEpoch = n
            job.checkpointSHA256 = receipt.sha256
            // Recorded with the epoch, so that a resume knows training was over (callbacks run before the recorder).
            if model.stopTraining, model.trainingFailure == nil {
                job.stopReason = model.stopReason ?? "stopped by a callback"
            }
            job.metricsJSON = JSONValue.object(logs.mapValues { .number($0) }).serialized()
            job.progressJSON = JSONValue.object(service.lockedRead(live) { $0.progress }).serialized()
            let record = SequentStore.EpochRecord(jobID: job.id, epoch: n, logs: logs,
                                                  learningRate: Double(model.optimizer?.learningRate ?? 0),
                                                  durationSeconds: duration, samplesPerSecond: rate)
            guard try service.store.recordEpoch(record, job: job) else {
                // Another worker took the job over: stop here, as the heartbeat would.
                service.logger.warning("job \(job.id): epoch \(n) not recorded, another worker holds the job now")
                service.lockedUpdate(live) { $0.leaseLost = true }
                live.token.cancel()
                return
            }
            recordedEpochs += 1
            if n > 1 { try? service.artifacts.remove(.checkpoint, id: service.checkpointID(job.id, epoch: n - 1)) }
            service.lockedUpdate(live) { $0.metrics = logs }
            service.events.publish(jobID: job.id, name: "epoch", data: EpochView.json(record).serialized())
        } catch {
            service.logger.error("job \(job.id): cannot record epoch \(n): \(error)")
            if StorageFailure.isDiskFull(error) {
                model.trainingFailure = "cannot record epoch \(n): \(StorageFailure.reason(error))"
                model.stopTraining = true
            }
        }
    }
}

extension TrainingService {
    /// Writes a checkpoint (weights and optimizer state) as the artifact `<job>/epoch-<n>`, replacing one of the same
    /// epoch (the final weights after early stopping restored an earlier epoch's). Nothing is left of a failed write.
    func saveCheckpoint(_ model: Sequential, jobID: String, epoch: Int) throws -> ArtifactReceipt {
        let staging = try artifacts.stage(.checkpoint)
        do {
            try ModelArchive.save(model, to: staging, includeOptimizer: true)
            return try artifacts.commit(staging, as: .checkpoint, id: checkpointID(jobID, epoch: epoch), replacing: true)
        } catch {
            artifacts.discard(staging)
            throw error
        }
    }

    func lockedUpdate(_ liveJob: LiveJob, _ body: (LiveJob) -> Void) { lock.withLock { body(liveJob) } }
    func lockedRead<T>(_ liveJob: LiveJob, _ body: (LiveJob) -> T) -> T { lock.withLock { body(liveJob) } }
}
