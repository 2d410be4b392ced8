import Foundation
import PostgresTestSupport
import SequentPostgres
import Testing
@testable import SequentStore

/// One store, artifact store and event bus under test, with what the contract needs to reach behind them.
final class StoreHarness: @unchecked Sendable {
    let store: any ServiceStore
    let artifacts: any ArtifactStore
    let events: any EventBus
    /// Another handle on the same data, as a second process would have (SQLite: a second connection).
    let peer: () throws -> any ServiceStore
    /// Damages a committed artifact behind the store's back (a disk error, a tampered file).
    let corrupt: (ArtifactKind, String) throws -> Void
    private let cleanup: () -> Void

    init(store: any ServiceStore, artifacts: any ArtifactStore, events: any EventBus,
         peer: @escaping () throws -> any ServiceStore, corrupt: @escaping (ArtifactKind, String) throws -> Void,
         cleanup: @escaping () -> Void = {}) {
        self.store = store
        self.artifacts = artifacts
        self.events = events
        self.peer = peer
        self.corrupt = corrupt
        self.cleanup = cleanup
    }

    deinit { cleanup() }
}

/// An implementation of the storage protocols, one of `all`.
struct StoreBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () throws -> StoreHarness
    var testDescription: String { name }

    static let sqlite = StoreBackend(name: "SQLite + local folders") {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-contract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("sequent.sqlite").path
        let artifacts = LocalArtifactStore(dataDirectory: dir, datasetsRoot: dir.appendingPathComponent("datasets"))
        return StoreHarness(
            store: try SQLiteStore(path: path), artifacts: artifacts, events: EventHub(),
            peer: { try SQLiteStore(path: path) },
            corrupt: { kind, id in
                let folder = artifacts.location(kind, id: id)
                let file = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().first)
                let url = folder.appendingPathComponent(file)
                var data = try Data(contentsOf: url)
                data[data.startIndex] ^= 0xFF
                try data.write(to: url)
            },
            cleanup: { try? FileManager.default.removeItem(at: dir) })
    }

    static let inMemory = StoreBackend(name: "in memory") {
        let store = InMemoryStore(), artifacts = InMemoryArtifactStore()
        return StoreHarness(store: store, artifacts: artifacts, events: EventHub(), peer: { store },
                            corrupt: { kind, id in artifacts.corrupt(kind, id: id) })
    }

    /// PostgreSQL, each harness on a database of its own: with the cluster of scripts/with-postgres.sh, or failing
    /// when SEQUENT_REQUIRE_POSTGRES=1 and there is none (as SequentPostgresTests do).
    static let postgres = StoreBackend(name: "PostgreSQL") {
        // Held until the harness is cleaned up: SequentPostgresTests' server restart waits for it.
        let use = ClusterUse.claim()
        do { return try postgresHarness(releasing: use) } catch {
            use.release()
            throw error
        }
    }

    private static func postgresHarness(releasing use: ClusterUse.Claim) throws -> StoreHarness {
        let db = try TestCluster.freshDatabase()
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-contract-\(UUID().uuidString)")
        let store = try PostgresStore(url: db.url)
        let events = try PostgresEventBus(store: store)
        return StoreHarness(
            store: store, artifacts: try PostgresArtifactStore(store: store, cacheDirectory: cache), events: events,
            peer: { try PostgresStore(url: db.url) },
            corrupt: { kind, id in
                // The stored bytes, as every replica sees them; and this replica's cached copy is gone, as on one
                // that never opened the artifact.
                let c = try PostgresConnection(url: db.url)
                try c.execute("""
                    UPDATE artifact_chunks SET bytes = set_byte(bytes, 0, (get_byte(bytes, 0) + 1) % 256)
                    WHERE kind = $1 AND id = $2 AND n = 0
                    """, [.text(kind.rawValue), .text(id)])
                try FileManager.default.removeItem(at: cache.appendingPathComponent("artifacts"))
            },
            cleanup: {
                events.stop()
                db.drop()
                try? FileManager.default.removeItem(at: cache)
                use.release()
            })
    }

    static let all = [sqlite, inMemory] + (TestCluster.shouldRun ? [postgres] : [])
}

/// The contract of `ServiceStore`, `ArtifactStore` and `EventBus`, run against every implementation.
@Suite struct StoreContractTests {
    static let alice = WorkerIdentity(id: "w_alice-0", host: "alpha", pid: 101)
    static let bob = WorkerIdentity(id: "w_bob-0", host: "beta", pid: 202)

    func job(_ id: String, name: String = "n") -> JobRecord { JobRecord(id: id, name: name, specJSON: "{}") }

    @Test(arguments: StoreBackend.all)
    func enqueueIsBoundedAndClaimsAreFIFOWithALease(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for i in 0..<3 { #expect(try h.store.enqueue(job("j\(i)"), maxQueued: 3)) }
        #expect(try h.store.enqueue(job("j3"), maxQueued: 3) == false)
        #expect(try h.store.queuedCount() == 3)
        let before = Date()
        let first = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        #expect(first.id == "j0" && first.state == .running && first.worker == Self.alice)
        #expect(first.startedAt != nil)
        let lease = try #require(first.leaseExpiresAt)
        #expect(lease > before.addingTimeInterval(29) && lease < Date().addingTimeInterval(31))
        let stored = try #require(try h.store.job(id: "j0"))
        #expect(stored.state == .running && stored.worker == Self.alice && stored.leaseExpiresAt != nil)
        #expect(try h.store.claimNext(worker: Self.bob, leaseSeconds: 30)?.id == "j1")
        #expect(try h.store.queuedCount() == 1)
        #expect(try h.store.enqueue(job("j3"), maxQueued: 3))   // room again
        #expect(try h.store.countByState() == [.running: 2, .queued: 2])
        #expect(try h.store.unfinishedRunningJobs().map(\.id) == ["j0", "j1"])
        #expect(try h.store.claimNext(worker: Self.bob, leaseSeconds: 30)?.id == "j2")
        #expect(try h.store.claimNext(worker: Self.bob, leaseSeconds: 30)?.id == "j3")
        #expect(try h.store.claimNext(worker: Self.bob, leaseSeconds: 30) == nil)
    }

    @Test(arguments: StoreBackend.all)
    func racingWorkersClaimEachJobExactlyOnce(_ backend: StoreBackend) throws {
        let h = try backend.make()
        #expect(try h.store.enqueue(job("only"), maxQueued: 10))
        // Half the workers go through a second handle, as other processes would.
        let stores: [any ServiceStore] = try (0..<8).map { $0.isMultiple(of: 2) ? h.store : try h.peer() }
        let wins = Wins()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let me = WorkerIdentity(id: "w_\(i)", host: "h", pid: i)
            if let j = try? stores[i].claimNext(worker: me, leaseSeconds: 30) { wins.add(j.id, me) }
        }
        #expect(wins.all.map(\.0) == ["only"])
        #expect(try h.store.job(id: "only")?.worker == wins.all.first?.1)

        for i in 0..<20 { #expect(try h.store.enqueue(job("k\(i)"), maxQueued: 100)) }
        let claimed = Wins()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let me = WorkerIdentity(id: "w_\(i)", host: "h", pid: i)
            while let j = try? stores[i].claimNext(worker: me, leaseSeconds: 30) { claimed.add(j.id, me) }
        }
        #expect(claimed.all.map(\.0).sorted() == (0..<20).map { "k\($0)" }.sorted())
    }

    final class Wins: @unchecked Sendable {
        // @unchecked: `items` is only touched under `lock`.
        private let lock = NSLock()
        private var items: [(String, WorkerIdentity)] = []
        func add(_ id: String, _ w: WorkerIdentity) { lock.withLock { items.append((id, w)) } }
        var all: [(String, WorkerIdentity)] { lock.withLock { items } }
    }

    @Test(arguments: StoreBackend.all)
    func transitionsAndConditionalUpdatesAreCompareAndSet(_ backend: StoreBackend) throws {
        let h = try backend.make()
        _ = try h.store.enqueue(job("q"), maxQueued: 10)
        let end = Date(timeIntervalSince1970: 1_900_000_000)
        #expect(try h.store.transition(id: "q", from: [.running], to: .cancelling) == false)
        #expect(try h.store.transition(id: "q", from: [.queued], to: .cancelled, finishedAt: end))
        #expect(try h.store.transition(id: "q", from: [.queued], to: .cancelled, finishedAt: end) == false)
        let cancelled = try #require(try h.store.job(id: "q"))
        #expect(cancelled.state == .cancelled && cancelled.finishedAt == end)
        #expect(try h.store.transition(id: "missing", from: [.queued], to: .cancelled) == false)

        _ = try h.store.enqueue(job("r"), maxQueued: 10)
        var running = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        #expect(try h.store.transition(id: "r", from: [.running], to: .cancelling))
        // The worker's write of `succeeded` must not overwrite the cancel.
        running.state = .succeeded
        #expect(try h.store.update(running, ifStateIn: [.running]) == false)
        #expect(try h.store.job(id: "r")?.state == .cancelling)
        #expect(try h.store.job(id: "r")?.worker == Self.alice)   // still held while cancelling
        running.state = .cancelled
        running.stopReason = "cancelled at epoch 1"
        #expect(try h.store.update(running, ifStateIn: [.running, .cancelling]))
        let done = try #require(try h.store.job(id: "r"))
        #expect(done.state == .cancelled && done.stopReason == "cancelled at epoch 1")
        #expect(done.worker == nil && done.leaseExpiresAt == nil)   // released
    }

    @Test(arguments: StoreBackend.all)
    func updateKeepsTheLeaseOfAClaimedJobAndClearsItOnRelease(_ backend: StoreBackend) throws {
        let h = try backend.make()
        _ = try h.store.enqueue(job("j"), maxQueued: 10)
        var claimed = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 1))
        #expect(try h.store.renewLease(jobID: "j", worker: Self.alice, leaseSeconds: 600))
        let renewed = try #require(try h.store.job(id: "j")?.leaseExpiresAt)
        // A worker writing progress from its (older) copy of the record does not move the lease back.
        claimed.progressJSON = "{\"epoch\": 1}"
        claimed.leaseExpiresAt = Date(timeIntervalSince1970: 0)
        try h.store.update(claimed)
        let stored = try #require(try h.store.job(id: "j"))
        #expect(stored.progressJSON == "{\"epoch\": 1}")
        #expect(stored.leaseExpiresAt == renewed && stored.worker == Self.alice)
        claimed.state = .queued   // shutdown: back to the queue
        try h.store.update(claimed)
        #expect(try h.store.job(id: "j")?.worker == nil)
        #expect(try h.store.renewLease(jobID: "j", worker: Self.alice, leaseSeconds: 30) == false)
    }

    @Test(arguments: StoreBackend.all)
    func leasesRenewLapseAndRequeue(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for id in ["a", "b", "c"] { _ = try h.store.enqueue(job(id), maxQueued: 10) }
        var a = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        a.checkpointEpoch = 3
        a.checkpointSHA256 = "abc"
        try h.store.update(a)
        _ = try h.store.claimNext(worker: Self.alice, leaseSeconds: 30)   // b
        #expect(try h.store.transition(id: "b", from: [.running], to: .cancelling))
        _ = try h.store.claimNext(worker: Self.bob, leaseSeconds: 3600)   // c, a long lease
        #expect(try h.store.renewLease(jobID: "a", worker: Self.alice, leaseSeconds: 30))
        #expect(try h.store.renewLease(jobID: "a", worker: Self.bob, leaseSeconds: 30) == false)
        #expect(try h.store.renewLease(jobID: "missing", worker: Self.alice, leaseSeconds: 30) == false)

        // Nothing has lapsed yet.
        #expect(try h.store.requeueExpiredLeases(now: Date()).isEmpty)
        // A minute later alice has stopped renewing; bob's lease of an hour still holds.
        let later = Date().addingTimeInterval(60)
        let lapsed = try h.store.requeueExpiredLeases(now: later)
        #expect(lapsed.map(\.id) == ["a", "b"])
        #expect(lapsed.map(\.state) == [.queued, .cancelled])
        let requeued = try #require(try h.store.job(id: "a"))
        #expect(requeued.state == .queued && requeued.checkpointEpoch == 3 && requeued.checkpointSHA256 == "abc")
        #expect(requeued.worker == nil && requeued.leaseExpiresAt == nil)
        let cancelled = try #require(try h.store.job(id: "b"))
        #expect(cancelled.state == .cancelled && cancelled.finishedAt != nil && cancelled.worker == nil)
        #expect(try h.store.job(id: "c")?.state == .running)
        #expect(try h.store.requeueExpiredLeases(now: later).isEmpty)

        // The next claimer resumes it; the worker that lost it learns so at its next renewal.
        let resumed = try #require(try h.store.claimNext(worker: Self.bob, leaseSeconds: 30))
        #expect(resumed.id == "a" && resumed.checkpointEpoch == 3 && resumed.worker == Self.bob)
        #expect(try h.store.renewLease(jobID: "a", worker: Self.alice, leaseSeconds: 30) == false)
        #expect(try h.store.renewLease(jobID: "a", worker: Self.bob, leaseSeconds: 30))

        // Until alice notices, her writes of the job are refused; bob's go through.
        var stale = a
        stale.worker = Self.alice
        stale.checkpointEpoch = 4
        let row = EpochRecord(jobID: "a", epoch: 4, logs: ["loss": 1], learningRate: 0.1, durationSeconds: 1,
                              samplesPerSecond: 1)
        #expect(try h.store.recordEpoch(row, job: stale) == false)
        stale.state = .succeeded
        #expect(try h.store.update(stale, ifStateIn: [.running, .cancelling]) == false)
        let untouched = try #require(try h.store.job(id: "a"))
        #expect(untouched.state == .running && untouched.checkpointEpoch == 3 && untouched.worker == Self.bob)
        #expect(try h.store.epochs(jobID: "a").isEmpty)
        var current = resumed
        current.checkpointEpoch = 4
        #expect(try h.store.recordEpoch(row, job: current))
        #expect(try h.store.job(id: "a")?.checkpointEpoch == 4)
        #expect(try h.store.epochs(jobID: "a").map(\.epoch) == [4])
    }

    @Test(arguments: StoreBackend.all)
    func epochsAreReplacedAndMetricsTruncated(_ backend: StoreBackend) throws {
        let h = try backend.make()
        _ = try h.store.enqueue(job("j"), maxQueued: 10)
        var j = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        func epoch(_ n: Int, loss: Double) -> EpochRecord {
            EpochRecord(jobID: "j", epoch: n, logs: ["loss": loss, "accuracy": 0.5], learningRate: 0.001,
                        durationSeconds: 2, samplesPerSecond: 100)
        }
        j.checkpointEpoch = 1
        try h.store.recordEpoch(epoch(1, loss: 0.9), job: j)
        j.checkpointEpoch = 2
        try h.store.recordEpoch(epoch(2, loss: 0.7), job: j)
        // A resumed run re-records epoch 2: replaced, never duplicated.
        try h.store.recordEpoch(epoch(2, loss: 0.6), job: j)
        try h.store.recordEpoch(epoch(3, loss: .nan), job: j)
        let epochs = try h.store.epochs(jobID: "j")
        #expect(epochs.map(\.epoch) == [1, 2, 3])
        #expect(epochs[1].logs["loss"] == 0.6)
        #expect(epochs[2].logs["loss"] == nil && epochs[2].logs["accuracy"] == 0.5)
        #expect(try h.store.job(id: "j")?.checkpointEpoch == 2)

        let points = (1...10).flatMap { s in
            [MetricPoint(key: "loss", step: s, wallTime: Double(s), value: 1 / Double(s)),
             MetricPoint(key: "accuracy", step: s, wallTime: Double(s), value: Double(s) / 10)]
        }
        try h.store.appendMetrics(jobID: "j", points)
        #expect(try h.store.metrics(jobID: "j", key: "loss").map(\.step) == Array(1...10))
        #expect(try h.store.metrics(jobID: "j", key: nil).count == 20)
        try h.store.truncateMetrics(jobID: "j", afterStep: 4)
        #expect(try h.store.metrics(jobID: "j", key: "loss").map(\.step) == [1, 2, 3, 4])
        #expect(try h.store.metrics(jobID: "j", key: "accuracy").map(\.step) == [1, 2, 3, 4])
        try h.store.appendMetrics(jobID: "j", [MetricPoint(key: "loss", step: 5, wallTime: 11, value: 0.1)])
        #expect(try h.store.metrics(jobID: "j", key: "loss").map(\.step) == [1, 2, 3, 4, 5])
    }

    @Test(arguments: StoreBackend.all)
    func jobsPageNewestFirstWithACursor(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for i in 0..<5 { _ = try h.store.enqueue(job("j\(i)"), maxQueued: 10) }
        _ = try h.store.claimNext(worker: Self.alice, leaseSeconds: 30)   // j0 running
        #expect(try h.store.jobs(state: nil, limit: 10, before: nil).map(\.id) == ["j4", "j3", "j2", "j1", "j0"])
        let page1 = try h.store.jobs(state: nil, limit: 2, before: nil)
        #expect(page1.map(\.id) == ["j4", "j3"])
        let page2 = try h.store.jobs(state: nil, limit: 2, before: page1.last!.sequence)
        #expect(page2.map(\.id) == ["j2", "j1"])
        #expect(try h.store.jobs(state: nil, limit: 2, before: page2.last!.sequence).map(\.id) == ["j0"])
        #expect(try h.store.jobs(state: .queued, limit: 10, before: nil).map(\.id) == ["j4", "j3", "j2", "j1"])
        #expect(try h.store.jobs(state: .running, limit: 10, before: nil).map(\.id) == ["j0"])
    }

    /// A job whose spec trains on `dataset` (a built-in name, or a folder when `folder`).
    func job(_ id: String, name: String, dataset: String, folder: Bool = false) -> JobRecord {
        JobRecord(id: id, name: name, specJSON: "{\"dataset\": {\"\(folder ? "directory" : "name")\": \"\(dataset)\"}}")
    }

    @Test(arguments: StoreBackend.all)
    func jobsFilterByNameDatasetAndTextAndPageAmongTheMatches(_ backend: StoreBackend) throws {
        let h = try backend.make()
        // Odd jobs are "shoes" on a folder, even ones "digits" on fashion_mnist; every third has a note.
        for i in 0..<9 {
            _ = try h.store.enqueue(i.isMultiple(of: 2) ? job("e\(i)", name: "digits", dataset: "fashion_mnist")
                                    : job("o\(i)", name: "shoes", dataset: "shoes_v2", folder: true), maxQueued: 100)
        }
        for i in stride(from: 0, to: 9, by: 3) {
            #expect(try h.store.setNote(jobID: i.isMultiple(of: 2) ? "e\(i)" : "o\(i)", note: "Baseline 100% run"))
        }
        #expect(try h.store.setNote(jobID: "missing", note: "x") == false)
        func ids(_ f: JobFilter, limit: Int = 100, before: Int? = nil) throws -> [String] {
            try h.store.jobs(f, limit: limit, before: before).map(\.id)
        }
        #expect(try ids(JobFilter(name: "shoes")) == ["o7", "o5", "o3", "o1"])
        #expect(try ids(JobFilter(name: "shoe")).isEmpty)   // exact
        #expect(try ids(JobFilter(dataset: "fashion_mnist")) == ["e8", "e6", "e4", "e2", "e0"])
        #expect(try ids(JobFilter(dataset: "shoes_v2")) == ["o7", "o5", "o3", "o1"])
        // Case-insensitive substring of the name or the note, `%` taken literally.
        #expect(try ids(JobFilter(text: "HOE")) == ["o7", "o5", "o3", "o1"])
        #expect(try ids(JobFilter(text: "baseLINE")) == ["e6", "o3", "e0"])
        #expect(try ids(JobFilter(text: "100%")) == ["e6", "o3", "e0"])
        #expect(try ids(JobFilter(text: "1%0")).isEmpty)
        #expect(try ids(JobFilter(name: "digits", text: "baseline")) == ["e6", "e0"])
        // A page holds `limit` matches, and the cursor continues among them.
        let page1 = try h.store.jobs(JobFilter(name: "shoes"), limit: 3, before: nil)
        #expect(page1.map(\.id) == ["o7", "o5", "o3"])
        #expect(try ids(JobFilter(name: "shoes"), limit: 3, before: page1.last!.sequence) == ["o1"])
        _ = try h.store.claimNext(worker: Self.alice, leaseSeconds: 30)   // e0 running
        #expect(try ids(JobFilter(state: .running, dataset: "fashion_mnist")) == ["e0"])
        #expect(try ids(JobFilter(state: .queued, text: "baseline")) == ["e6", "o3"])
    }

    @Test(arguments: StoreBackend.all)
    func aNoteIsKeptByTheWorkersWrites(_ backend: StoreBackend) throws {
        let h = try backend.make()
        _ = try h.store.enqueue(job("j"), maxQueued: 10)
        #expect(try h.store.job(id: "j")?.note == nil)
        var running = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        #expect(try h.store.setNote(jobID: "j", note: "lr 1e-3, \"wide\" model\nsecond line"))
        // The worker's copy predates the note; its writes must not undo it.
        running.progressJSON = "{\"epoch\": 1}"
        try h.store.update(running)
        #expect(try h.store.recordEpoch(EpochRecord(jobID: "j", epoch: 1, logs: ["loss": 1], learningRate: 0.1,
                                                    durationSeconds: 1, samplesPerSecond: 1), job: running))
        #expect(try h.store.job(id: "j")?.note == "lr 1e-3, \"wide\" model\nsecond line")
        #expect(try h.store.setNote(jobID: "j", note: nil))
        #expect(try h.store.job(id: "j")?.note == nil)
    }

    @Test(arguments: StoreBackend.all)
    func deletingAJobRemovesItsRecordsButNotItsModel(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for id in ["done", "held", "waiting"] { _ = try h.store.enqueue(job(id), maxQueued: 10) }
        var done = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        _ = try h.store.claimNext(worker: Self.bob, leaseSeconds: 30)   // "held" running
        #expect(try h.store.recordEpoch(EpochRecord(jobID: "done", epoch: 1, logs: ["loss": 1], learningRate: 0.1,
                                                    durationSeconds: 1, samplesPerSecond: 1), job: done))
        try h.store.appendMetrics(jobID: "done", [MetricPoint(key: "loss", step: 1, wallTime: 1, value: 1)])
        done.state = .succeeded
        done.modelID = "m"
        let model = ModelRecord(id: "m", jobID: "done", name: "n", createdAt: Date(timeIntervalSince1970: 1_800_000_000),
                                path: "p", sha256: "w", metadataJSON: "{}")
        try h.store.addModel(model, finishing: done)

        #expect(try h.store.deleteJob(id: "held") == .claimed(.running))
        #expect(try h.store.transition(id: "held", from: [.running], to: .cancelling))
        #expect(try h.store.deleteJob(id: "held") == .claimed(.cancelling))
        #expect(try h.store.job(id: "held")?.state == .cancelling)
        #expect(try h.store.deleteJob(id: "missing") == .notFound)

        guard case .deleted(let removed) = try h.store.deleteJob(id: "done") else {
            Issue.record("the finished job was not deleted")
            return
        }
        #expect(removed.id == "done" && removed.state == .succeeded)
        #expect(try h.store.job(id: "done") == nil)
        #expect(try h.store.epochs(jobID: "done").isEmpty)
        #expect(try h.store.metrics(jobID: "done", key: nil).isEmpty)
        #expect(try h.store.model(id: "m") == model)   // models outlive their jobs
        #expect(try h.store.deleteJob(id: "done") == .notFound)
        // A queued job nobody claimed yet may go; the queue no longer counts it.
        let waiting = try #require(try h.store.job(id: "waiting"))
        #expect(try h.store.deleteJob(id: "waiting") == .deleted(waiting))
        #expect(try h.store.queuedCount() == 0)
        #expect(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30) == nil)
        #expect(try h.store.jobs(JobFilter(), limit: 10, before: nil).map(\.id) == ["held"])
    }

    @Test(arguments: StoreBackend.all)
    func deletingAModelRemovesItsRecordAndItsJobsReference(_ backend: StoreBackend) throws {
        let h = try backend.make()
        _ = try h.store.enqueue(job("j", name: "shoes"), maxQueued: 10)
        var j = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        j.state = .succeeded
        j.modelID = "m"
        try h.store.addModel(ModelRecord(id: "m", jobID: "j", name: "shoes", path: "p", sha256: "w", metadataJSON: "{}"),
                             finishing: j)
        #expect(try h.store.deleteModel(id: "m"))
        #expect(try h.store.model(id: "m") == nil)
        #expect(try h.store.latestModel(named: "shoes") == nil)
        #expect(try h.store.models(limit: 10).isEmpty)
        #expect(try h.store.job(id: "j")?.modelID == nil)
        #expect(try h.store.job(id: "j")?.state == .succeeded)
        #expect(try h.store.deleteModel(id: "m") == false)
    }

    @Test(arguments: StoreBackend.all)
    func modelsAreRegisteredWithTheirJobsFinalState(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for id in ["a", "b"] { _ = try h.store.enqueue(job(id, name: "shoes"), maxQueued: 10) }
        var a = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        var b = try #require(try h.store.claimNext(worker: Self.alice, leaseSeconds: 30))
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        a.state = .succeeded
        a.modelID = "m_a"
        let first = ModelRecord(id: "m_a", jobID: "a", name: "shoes", createdAt: t0, path: "p", sha256: "w",
                                metadataJSON: "{}", artifactSHA256: "digest-a")
        #expect(try h.store.addModel(first, finishing: a) == .succeeded)
        #expect(try h.store.job(id: "a")?.modelID == "m_a")
        #expect(try h.store.job(id: "a")?.worker == nil)
        // A cancel that came while the model was saved: the job ends cancelled, keeping the model.
        #expect(try h.store.transition(id: "b", from: [.running], to: .cancelling))
        b.state = .succeeded
        b.modelID = "m_b"
        let second = ModelRecord(id: "m_b", jobID: "b", name: "shoes", createdAt: t0.addingTimeInterval(1), path: "p",
                                 sha256: "w", metadataJSON: "{\"k\": 1}")
        #expect(try h.store.addModel(second, finishing: b) == .cancelled)
        #expect(try h.store.job(id: "b")?.state == .cancelled)
        #expect(try h.store.model(id: "m_a") == first)
        #expect(try h.store.model(id: "m_b") == second)
        #expect(try h.store.latestModel(named: "shoes")?.id == "m_b")
        #expect(try h.store.latestModel(named: "boots") == nil)
        #expect(try h.store.models(limit: 10).map(\.id) == ["m_b", "m_a"])
        #expect(try h.store.models(limit: 1).map(\.id) == ["m_b"])
    }

    /// Writes a two-file folder at a staging location, as ModelArchive.save does.
    func writeFolder(_ url: URL, weights: String) throws {
        try FileManager.default.createDirectory(at: url.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("{\"format\": 1}".utf8).write(to: url.appendingPathComponent("config.json"))
        try Data(weights.utf8).write(to: url.appendingPathComponent("sub/model.weights.safetensors"))
    }

    @Test(arguments: StoreBackend.all)
    func artifactsCommitOpenAndVerify(_ backend: StoreBackend) throws {
        let h = try backend.make()
        let staging = try h.artifacts.stage(.model)
        #expect(!FileManager.default.fileExists(atPath: staging.path))
        try writeFolder(staging, weights: "weights-1")
        let receipt = try h.artifacts.commit(staging, as: .model, id: "m_1")
        #expect(!FileManager.default.fileExists(atPath: staging.path))
        #expect(receipt.files["sub/model.weights.safetensors"] == SHA256.hex(Data("weights-1".utf8)))
        #expect(receipt.files.count == 2 && receipt.sha256 == ArtifactDigest.manifestDigest(receipt.files))
        let folder = try h.artifacts.open(.model, id: "m_1", sha256: receipt.sha256)
        #expect(try ArtifactDigest.of(directory: folder) == receipt)
        #expect(try String(contentsOf: folder.appendingPathComponent("sub/model.weights.safetensors"), encoding: .utf8) == "weights-1")
        #expect(try h.artifacts.list(.model) == ["m_1"])
        #expect(throws: ArtifactError.notFound(.model, "m_2")) { try h.artifacts.open(.model, id: "m_2", sha256: nil) }
        #expect(throws: ArtifactError.corrupt(.model, "m_1")) { try h.artifacts.open(.model, id: "m_1", sha256: "0" + receipt.sha256.dropFirst()) }

        // The same id again: refused, unless replacing.
        let again = try h.artifacts.stage(.model)
        try writeFolder(again, weights: "weights-2")
        #expect(throws: ArtifactError.exists(.model, "m_1")) { _ = try h.artifacts.commit(again, as: .model, id: "m_1") }
        let replaced = try h.artifacts.commit(again, as: .model, id: "m_1", replacing: true)
        #expect(replaced.sha256 != receipt.sha256)
        let reopened = try h.artifacts.open(.model, id: "m_1", sha256: replaced.sha256)
        #expect(try String(contentsOf: reopened.appendingPathComponent("sub/model.weights.safetensors"), encoding: .utf8) == "weights-2")

        // Damaged behind the store's back: refused on open.
        try h.corrupt(.model, "m_1")
        #expect(throws: ArtifactError.corrupt(.model, "m_1")) { try h.artifacts.open(.model, id: "m_1", sha256: replaced.sha256) }
        try h.artifacts.remove(.model, id: "m_1")
        #expect(try h.artifacts.list(.model).isEmpty)
        try h.artifacts.remove(.model, id: "m_1")   // nothing to remove: no error

        // A discarded staging folder leaves nothing.
        let failed = try h.artifacts.stage(.dataset)
        try writeFolder(failed, weights: "half")
        h.artifacts.discard(failed)
        #expect(!FileManager.default.fileExists(atPath: failed.path))
        #expect(try h.artifacts.list(.dataset).isEmpty)
    }

    @Test(arguments: StoreBackend.all)
    func checkpointsAreListedByJobAndRemovedTogether(_ backend: StoreBackend) throws {
        let h = try backend.make()
        for id in ["j_a/epoch-1", "j_a/epoch-2", "j_b/epoch-1"] {
            let s = try h.artifacts.stage(.checkpoint)
            try writeFolder(s, weights: id)
            _ = try h.artifacts.commit(s, as: .checkpoint, id: id)
        }
        #expect(try h.artifacts.list(.checkpoint) == ["j_a/epoch-1", "j_a/epoch-2", "j_b/epoch-1"])
        try h.artifacts.remove(.checkpoint, id: "j_a/epoch-1")
        #expect(try h.artifacts.list(.checkpoint) == ["j_a/epoch-2", "j_b/epoch-1"])
        try h.artifacts.remove(.checkpoint, id: "j_a")
        #expect(try h.artifacts.list(.checkpoint) == ["j_b/epoch-1"])
        // A write interrupted before its commit is swept.
        let interrupted = try h.artifacts.stage(.checkpoint)
        try writeFolder(interrupted, weights: "x")
        #expect(try h.artifacts.removeLeftovers().count == 1)
        #expect(!FileManager.default.fileExists(atPath: interrupted.path))
        #expect(try h.artifacts.list(.checkpoint) == ["j_b/epoch-1"])
    }

    final class Received: @unchecked Sendable {
        // @unchecked: `items` is only touched under `lock`.
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.withLock { items.append(s) } }
        var all: [String] { lock.withLock { items } }
    }

    @Test(arguments: StoreBackend.all)
    func eventsAndCancelSignalsReachTheirJobsOnly(_ backend: StoreBackend) throws {
        let h = try backend.make()
        let a = Received(), b = Received(), cancels = Received()
        let sa = h.events.subscribe(jobID: "j_a", deliver: { a.add("\($0.name):\($0.data)") }, closed: { a.add("closed") })
        _ = h.events.subscribe(jobID: "j_b", deliver: { b.add($0.data) }, closed: { b.add("closed") })
        h.events.publish(jobID: "j_a", name: "state", data: "1")
        h.events.publish(jobID: "j_b", name: "progress", data: "2")
        h.events.publish(jobID: "j_a", name: "epoch", data: "3")
        #expect(a.all == ["state:1", "epoch:3"])
        h.events.unsubscribe(sa)
        h.events.publish(jobID: "j_a", name: "state", data: "4")
        #expect(a.all == ["state:1", "epoch:3"])
        h.events.close(jobID: "j_b")
        #expect(b.all == ["2", "closed"])

        let ca = h.events.onCancel(jobID: "j_a") { cancels.add("a") }
        _ = h.events.onCancel(jobID: "j_b") { cancels.add("b") }
        h.events.signalCancel(jobID: "j_a")
        #expect(cancels.all == ["a"])
        h.events.unsubscribe(ca)
        h.events.signalCancel(jobID: "j_a")
        h.events.signalCancel(jobID: "j_b")
        #expect(cancels.all == ["a", "b"])
    }
}
