import Foundation

/// A `ServiceStore` in memory, for tests of the scheduler and the handlers without SQLite: the same contract
/// (Tests/SequentStoreTests/StoreContractTests.swift runs against both), one lock around every call, so each
/// call is atomic like a transaction.
public final class InMemoryStore: ServiceStore, @unchecked Sendable {
    // @unchecked: all state is only touched under `lock`.
    private let lock = NSLock()
    private var jobsByID: [String: JobRecord] = [:]
    private var nextSequence = 1
    private var epochRows: [String: [Int: EpochRecord]] = [:]
    private var points: [String: [MetricPoint]] = [:]
    private var modelsByID: [String: ModelRecord] = [:]
    /// Insertion order of models (the "rowid" that breaks ties of equal creation times).
    private var modelOrder: [String] = []

    public init() {}

    // MARK: JobQueue

    public func enqueue(_ job: JobRecord, maxQueued: Int) throws -> Bool {
        lock.withLock {
            guard jobsByID.values.filter({ $0.state == .queued }).count < maxQueued else { return false }
            var j = job
            j.sequence = nextSequence
            nextSequence += 1
            j.worker = nil
            j.leaseExpiresAt = nil
            jobsByID[j.id] = j
            return true
        }
    }

    public func claimNext(worker: WorkerIdentity, leaseSeconds: Double) throws -> JobRecord? {
        lock.withLock {
            guard var job = jobsByID.values.filter({ $0.state == .queued }).min(by: { $0.sequence < $1.sequence }) else {
                return nil
            }
            let now = Date()
            job.state = .running
            job.startedAt = job.startedAt ?? now
            job.worker = worker
            job.leaseExpiresAt = now.addingTimeInterval(leaseSeconds)
            jobsByID[job.id] = job
            return job
        }
    }

    public func renewLease(jobID: String, worker: WorkerIdentity, leaseSeconds: Double) throws -> Bool {
        lock.withLock {
            guard var job = jobsByID[jobID], job.state.isClaimed, job.worker?.id == worker.id else { return false }
            job.leaseExpiresAt = Date().addingTimeInterval(leaseSeconds)
            jobsByID[jobID] = job
            return true
        }
    }

    public func requeueExpiredLeases(now: Date) throws -> [JobRecord] {
        lock.withLock {
            let lapsed = jobsByID.values.filter { j in
                j.state.isClaimed && (j.leaseExpiresAt.map { $0 < now } ?? false)
            }.sorted { $0.sequence < $1.sequence }
            return lapsed.map { found in
                let job = found.afterLeaseLapsed(now: now)
                jobsByID[job.id] = job
                return job
            }
        }
    }

    public func queuedCount() throws -> Int {
        lock.withLock { jobsByID.values.filter { $0.state == .queued }.count }
    }

    // MARK: JobRecords

    public func job(id: String) throws -> JobRecord? { lock.withLock { jobsByID[id] } }

    public func jobs(_ filter: JobFilter, limit: Int, before: Int?) throws -> [JobRecord] {
        lock.withLock {
            Array(jobsByID.values.filter { j in j.matches(filter) && (before.map { j.sequence < $0 } ?? true) }
                .sorted { $0.sequence > $1.sequence }.prefix(limit))
        }
    }

    public func setNote(jobID: String, note: String?) throws -> Bool {
        lock.withLock {
            guard jobsByID[jobID] != nil else { return false }
            jobsByID[jobID]?.note = note
            return true
        }
    }

    public func deleteJob(id: String) throws -> JobDeletion {
        lock.withLock {
            guard let job = jobsByID[id] else { return .notFound }
            guard !job.state.isClaimed else { return .claimed(job.state) }
            jobsByID[id] = nil
            epochRows[id] = nil
            points[id] = nil
            return .deleted(job)
        }
    }

    /// `update` with the lock held: keeps the stored worker and lease while the job stays claimed.
    private func write(_ job: JobRecord) {
        guard let stored = jobsByID[job.id] else { return }
        var j = job
        j.sequence = stored.sequence
        j.createdAt = stored.createdAt
        j.specJSON = stored.specJSON
        j.name = stored.name
        j.note = stored.note
        j.worker = j.state.isClaimed ? stored.worker : nil
        j.leaseExpiresAt = j.state.isClaimed ? stored.leaseExpiresAt : nil
        jobsByID[j.id] = j
    }

    public func update(_ job: JobRecord) throws { lock.withLock { write(job) } }

    /// Whether `job.worker` (if it names one) holds the stored job.
    private func heldBy(_ job: JobRecord) -> Bool {
        guard let w = job.worker else { return true }
        return jobsByID[job.id].map { $0.state.isClaimed && $0.worker?.id == w.id } ?? false
    }

    public func update(_ job: JobRecord, ifStateIn states: [JobState]) throws -> Bool {
        lock.withLock {
            guard let current = jobsByID[job.id], states.contains(current.state), heldBy(job) else { return false }
            write(job)
            return true
        }
    }

    public func transition(id: String, from: [JobState], to: JobState, finishedAt: Date?) throws -> Bool {
        lock.withLock {
            guard var job = jobsByID[id], from.contains(job.state) else { return false }
            job.state = to
            job.finishedAt = finishedAt ?? job.finishedAt
            write(job)
            return true
        }
    }

    @discardableResult
    public func recordEpoch(_ epoch: EpochRecord, job: JobRecord) throws -> Bool {
        lock.withLock {
            guard heldBy(job) else { return false }
            var e = epoch
            // As SQLite stores them: non-finite values (a diverged loss) are null, i.e. absent.
            e.logs = e.logs.filter { $0.value.isFinite }
            epochRows[epoch.jobID, default: [:]][epoch.epoch] = e
            write(job)
            return true
        }
    }

    public func epochs(jobID: String) throws -> [EpochRecord] {
        lock.withLock { (epochRows[jobID] ?? [:]).values.sorted { $0.epoch < $1.epoch } }
    }

    public func appendMetrics(jobID: String, _ new: [MetricPoint]) throws {
        lock.withLock { points[jobID, default: []] += new }
    }

    public func metrics(jobID: String, key: String?) throws -> [MetricPoint] {
        lock.withLock {
            (points[jobID] ?? []).filter { p in key.map { p.key == $0 } ?? true }
                .enumerated().sorted { ($0.element.key, $0.element.step, $0.offset) < ($1.element.key, $1.element.step, $1.offset) }
                .map(\.element)
        }
    }

    public func truncateMetrics(jobID: String, afterStep step: Int) throws {
        lock.withLock { points[jobID]?.removeAll { $0.step > step } }
    }

    public func unfinishedRunningJobs() throws -> [JobRecord] {
        lock.withLock { jobsByID.values.filter { $0.state.isClaimed }.sorted { $0.sequence < $1.sequence } }
    }

    public func countByState() throws -> [JobState: Int] {
        lock.withLock { Dictionary(grouping: jobsByID.values, by: \.state).mapValues(\.count) }
    }

    // MARK: ModelRegistry

    public func addModel(_ model: ModelRecord) throws {
        lock.withLock {
            modelsByID[model.id] = model
            modelOrder.append(model.id)
        }
    }

    @discardableResult
    public func addModel(_ model: ModelRecord, finishing job: JobRecord) throws -> JobState {
        lock.withLock {
            var final = job
            if jobsByID[job.id]?.state == .cancelling {
                final.state = .cancelled
                final.stopReason = StoreStopReason.cancelledAfterSave
            }
            write(final)
            modelsByID[model.id] = model
            modelOrder.append(model.id)
            return final.state
        }
    }

    public func model(id: String) throws -> ModelRecord? { lock.withLock { modelsByID[id] } }

    /// Newest first: by creation time, then by insertion.
    private func newestModels() -> [ModelRecord] {
        modelOrder.enumerated().reversed().compactMap { modelsByID[$0.element] }
            .enumerated().sorted { ($0.element.createdAt, -$0.offset) > ($1.element.createdAt, -$1.offset) }.map(\.element)
    }

    public func latestModel(named name: String) throws -> ModelRecord? {
        lock.withLock { newestModels().first { $0.name == name } }
    }

    public func models(limit: Int) throws -> [ModelRecord] {
        lock.withLock { Array(newestModels().prefix(limit)) }
    }

    public func deleteModel(id: String) throws -> Bool {
        lock.withLock {
            guard let model = modelsByID.removeValue(forKey: id) else { return false }
            modelOrder.removeAll { $0 == id }
            if jobsByID[model.jobID]?.modelID == id { jobsByID[model.jobID]?.modelID = nil }
            return true
        }
    }
}

/// An `ArtifactStore` that keeps each committed folder's files in memory and hands out copies, as a remote store
/// would: commit takes the staged files away, open materialises them into a cache folder keyed by the digest
/// (under `scratch`, a temporary folder removed with the store) after checking them.
public final class InMemoryArtifactStore: ArtifactStore, @unchecked Sendable {
    // @unchecked: `artifacts` is only touched under `lock`.
    private let lock = NSLock()
    private var artifacts: [ArtifactKind: [String: [String: Data]]] = [:]
    public let scratch: URL

    public init() {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-artifacts-\(UUID().uuidString)")
    }

    deinit { try? FileManager.default.removeItem(at: scratch) }

    public func stage(_ kind: ArtifactKind) throws -> URL {
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("staging"), withIntermediateDirectories: true)
        return scratch.appendingPathComponent("staging/\(kind.rawValue)-\(UUID().uuidString)")
    }

    public func commit(_ staging: URL, as kind: ArtifactKind, id: String, replacing: Bool) throws -> ArtifactReceipt {
        let receipt = try ArtifactDigest.of(directory: staging)
        var files: [String: Data] = [:]
        for path in receipt.files.keys { files[path] = try Data(contentsOf: staging.appendingPathComponent(path)) }
        try lock.withLock {
            if !replacing, artifacts[kind]?[id] != nil { throw ArtifactError.exists(kind, id) }
            artifacts[kind, default: [:]][id] = files
        }
        try? FileManager.default.removeItem(at: staging)
        return receipt
    }

    public func discard(_ staging: URL) { try? FileManager.default.removeItem(at: staging) }

    public func open(_ kind: ArtifactKind, id: String, sha256: String?) throws -> URL {
        guard let files = lock.withLock({ artifacts[kind]?[id] }) else { throw ArtifactError.notFound(kind, id) }
        let digest = ArtifactDigest.manifestDigest(files.mapValues { SHA256.hex($0) })
        if let sha256, digest != sha256 { throw ArtifactError.corrupt(kind, id) }
        let folder = scratch.appendingPathComponent("cache/\(digest)")
        if !FileManager.default.fileExists(atPath: folder.path) {
            let partial = scratch.appendingPathComponent("cache/.partial-\(UUID().uuidString)")
            for (path, data) in files {
                let url = partial.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: url)
            }
            if files.isEmpty { try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true) }
            // Another open of the same content may have won: its folder is the same.
            if rename(partial.path, folder.path) != 0 { try? FileManager.default.removeItem(at: partial) }
        }
        return folder
    }

    public func remove(_ kind: ArtifactKind, id: String) throws {
        lock.withLock {
            for key in (artifacts[kind] ?? [:]).keys where key == id || key.hasPrefix(id + "/") {
                artifacts[kind]?[key] = nil
            }
        }
    }

    public func list(_ kind: ArtifactKind) throws -> [String] {
        lock.withLock { (artifacts[kind] ?? [:]).keys.sorted() }
    }

    public func removeLeftovers() throws -> [String] {
        let staging = scratch.appendingPathComponent("staging")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: staging.path)) ?? []
        for n in names { try? FileManager.default.removeItem(at: staging.appendingPathComponent(n)) }
        return names.map { "staging/" + $0 }
    }

    /// Changes one byte of a stored file (tests: a corrupted artifact must be refused on open).
    public func corrupt(_ kind: ArtifactKind, id: String) {
        lock.withLock {
            guard var files = artifacts[kind]?[id], let path = files.keys.sorted().first, var data = files[path] else { return }
            if data.isEmpty { data = Data([0]) } else { data[data.startIndex] ^= 0xFF }
            files[path] = data
            artifacts[kind]?[id] = files
        }
    }
}
