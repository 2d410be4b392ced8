import Foundation
import Testing
@testable import SequentStore

@Suite struct StoreTests {
    func tempStore() throws -> (SQLiteStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (try SQLiteStore(path: dir.appendingPathComponent("sequent.sqlite").path), dir)
    }

    @Test func migratesInWALMode() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(store.database.schemaVersion == SQLiteStore.migrations.count)
        #expect(try store.database.query("PRAGMA journal_mode").first?["journal_mode"].text == "wal")
        // Re-opening applies nothing twice.
        let again = try SQLiteStore(path: store.database.path)
        #expect(again.database.schemaVersion == SQLiteStore.migrations.count)
    }

    @Test func queueIsFIFOAndBounded() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        for i in 0..<3 { #expect(try store.enqueue(JobRecord(id: "j\(i)", name: "n", specJSON: "{}"), maxQueued: 3)) }
        #expect(try store.enqueue(JobRecord(id: "j3", name: "n", specJSON: "{}"), maxQueued: 3) == false)
        #expect(try store.claimNext()?.id == "j0")
        #expect(try store.job(id: "j0")?.state == .running)
        #expect(try store.claimNext()?.id == "j1")
        #expect(try store.queuedCount() == 1)
        #expect(try store.jobs(state: nil, limit: 10, before: nil).map(\.id) == ["j2", "j1", "j0"])
        let page = try store.jobs(state: nil, limit: 2, before: nil)
        #expect(try store.jobs(state: nil, limit: 2, before: page.last!.sequence).map(\.id) == ["j0"])
        #expect(try store.jobs(state: .running, limit: 10, before: nil).count == 2)
        #expect(try store.countByState() == [.running: 2, .queued: 1])
    }

    @Test func epochsAreUpsertedWithTheCheckpoint() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
        var job = try #require(try store.claimNext())
        job.checkpointEpoch = 1
        try store.recordEpoch(EpochRecord(jobID: "j", epoch: 1, logs: ["loss": 0.5, "accuracy": 0.8], learningRate: 0.001,
                                          durationSeconds: 2, samplesPerSecond: 30000), job: job)
        // A resumed run that records epoch 1 again replaces it: no duplicate rows.
        try store.recordEpoch(EpochRecord(jobID: "j", epoch: 1, logs: ["loss": 0.4, "accuracy": 0.85], learningRate: 0.001,
                                          durationSeconds: 2, samplesPerSecond: 30000), job: job)
        job.checkpointEpoch = 2
        try store.recordEpoch(EpochRecord(jobID: "j", epoch: 2, logs: ["loss": .nan], learningRate: 0.001,
                                          durationSeconds: 2, samplesPerSecond: 30000), job: job)
        let epochs = try store.epochs(jobID: "j")
        #expect(epochs.map(\.epoch) == [1, 2])
        #expect(epochs[0].logs == ["loss": 0.4, "accuracy": 0.85])
        #expect(epochs[1].logs["loss"] == nil)   // NaN is stored as null, never as invalid JSON
        #expect(try store.job(id: "j")?.checkpointEpoch == 2)
    }

    @Test func metricsSeriesAndTruncation() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
        try store.appendMetrics(jobID: "j", (1...10).map { MetricPoint(key: "loss", step: $0 * 10, wallTime: Double($0), value: 1 / Double($0)) })
        try store.appendMetrics(jobID: "j", [MetricPoint(key: "accuracy", step: 10, wallTime: 1, value: 0.5)])
        #expect(try store.metrics(jobID: "j", key: "loss").count == 10)
        #expect(try store.metrics(jobID: "j", key: nil).count == 11)
        try store.truncateMetrics(jobID: "j", afterStep: 50)
        #expect(try store.metrics(jobID: "j", key: "loss").map(\.step) == [10, 20, 30, 40, 50])
    }

    @Test func compareAndSetTransitions() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
        #expect(try store.transition(id: "j", from: [.running], to: .cancelling) == false)
        #expect(try store.transition(id: "j", from: [.queued], to: .cancelled, finishedAt: Date()))
        #expect(try store.job(id: "j")?.state == .cancelled)
        #expect(try store.job(id: "j")?.finishedAt != nil)
    }

    @Test func modelRegistry() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try store.enqueue(JobRecord(id: "j", name: "shoes", specJSON: "{}"), maxQueued: 10)
        try store.addModel(ModelRecord(id: "m1", jobID: "j", name: "shoes", createdAt: Date(timeIntervalSince1970: 1), path: "/a", sha256: "x", metadataJSON: "{}"))
        try store.addModel(ModelRecord(id: "m2", jobID: "j", name: "shoes", createdAt: Date(timeIntervalSince1970: 2), path: "/b", sha256: "y", metadataJSON: "{}"))
        #expect(try store.latestModel(named: "shoes")?.id == "m2")
        #expect(try store.model(id: "m1")?.path == "/a")
        #expect(try store.models(limit: 10).map(\.id) == ["m2", "m1"])
        // Ids are unique; the job need not exist (models outlive their jobs).
        #expect(throws: SQLiteError.self) {
            try store.addModel(ModelRecord(id: "m1", jobID: "j", name: "x", path: "/c", sha256: "z", metadataJSON: "{}"))
        }
        try store.addModel(ModelRecord(id: "m3", jobID: "deleted", name: "x", path: "/c", sha256: "z", metadataJSON: "{}"))
    }

    @Test func aVersion3DatabaseKeepsItsModelsWhenTheirJobsAreDeleted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-v3-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sequent.sqlite").path
        let old = try Database(path: path)
        try old.migrate(Array(SQLiteStore.migrations.prefix(3)))
        try old.execute("""
            INSERT INTO jobs (id, name, state, spec, created_at, model_id)
                VALUES ('j', 'n', 'succeeded', '{}', '2026-11-29T17:53:00.123Z', 'b')
            """)
        // Equal creation times: insertion order ("b" after "a") decides which is newest, before and after.
        for id in ["a", "b"] {
            try old.execute("""
                INSERT INTO models (id, job_id, name, created_at, path, sha256, metadata, artifact_sha256)
                    VALUES (?, 'j', 'n', '2026-11-29T17:53:00.123Z', 'p', 'w', '{}', 'd')
                """, [.text(id)])
        }
        let store = try SQLiteStore(path: path)
        #expect(store.database.schemaVersion == SQLiteStore.migrations.count)
        #expect(try store.models(limit: 10).map(\.id) == ["b", "a"])
        #expect(try store.job(id: "j")?.note == nil)
        let job = try #require(try store.job(id: "j"))
        #expect(try store.deleteJob(id: "j") == .deleted(job))
        #expect(try store.model(id: "a")?.artifactSHA256 == "d")
        #expect(try store.latestModel(named: "n")?.id == "b")
    }

    @Test func aModelAndItsJobsFinalStateCommitTogether() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try store.enqueue(JobRecord(id: "j", name: "shoes", specJSON: "{}"), maxQueued: 10)
        var job = try #require(try store.claimNext())
        job.state = .succeeded
        job.modelID = "m1"
        try store.addModel(ModelRecord(id: "m1", jobID: "j", name: "shoes", path: "/a", sha256: "x", metadataJSON: "{}"),
                           finishing: job)
        #expect(try store.job(id: "j")?.state == .succeeded)
        #expect(try store.job(id: "j")?.modelID == "m1")

        // A second job whose model cannot be recorded (the id is taken) stays running, not succeeded without a model.
        _ = try store.enqueue(JobRecord(id: "k", name: "shoes", specJSON: "{}"), maxQueued: 10)
        var other = try #require(try store.claimNext())
        other.state = .succeeded
        other.modelID = "m1"
        #expect(throws: SQLiteError.self) {
            try store.addModel(ModelRecord(id: "m1", jobID: "k", name: "shoes", path: "/b", sha256: "y", metadataJSON: "{}"),
                               finishing: other)
        }
        #expect(try store.job(id: "k")?.state == .running)
        #expect(try store.job(id: "k")?.modelID == nil)
        #expect(try store.model(id: "m1")?.jobID == "j")
    }

    @Test func datesRoundTripWithMilliseconds() {
        let d = Date(timeIntervalSince1970: 1_764_437_580.125)
        let s = SQLiteStore.format(d)
        #expect(s == "2025-11-29T17:33:00.125Z")
        #expect(abs(SQLiteStore.parse(s)!.timeIntervalSince1970 - d.timeIntervalSince1970) < 0.001)
    }

    @Test func aVersion2DatabaseUpgradesWithItsRunningJobsUnclaimed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sequent.sqlite").path
        // What a server of the previous release left: schema 2, a job running when it stopped.
        let old = try Database(path: path)
        try old.migrate(Array(SQLiteStore.migrations.prefix(2)))
        try old.execute("""
            INSERT INTO jobs (id, name, state, spec, created_at, checkpoint_epoch)
                VALUES ('j', 'n', 'running', '{}', '2026-11-29T17:53:00.123Z', 2)
            """)
        let store = try SQLiteStore(path: path)
        #expect(store.database.schemaVersion == SQLiteStore.migrations.count)
        let job = try #require(try store.job(id: "j"))
        #expect(job.state == .running && job.checkpointEpoch == 2)
        #expect(job.worker == nil && job.leaseExpiresAt == nil && job.checkpointSHA256 == nil)
        // No lease, nothing lapses: start-up recovery (the store's owner) is what requeues it.
        #expect(try store.requeueExpiredLeases(now: Date().addingTimeInterval(3600)).isEmpty)
        #expect(try store.unfinishedRunningJobs().map(\.id) == ["j"])
    }
}
