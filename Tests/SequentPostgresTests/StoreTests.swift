import Foundation
import SequentStore
import Testing
@testable import SequentPostgres
import PostgresTestSupport

extension PostgresTests {
    @Suite struct StoreTests {
        @Test func migrationsAreIdempotentAndSafeWhenReplicasStartTogether() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            // Eight "replicas" migrate an empty database at once: the advisory lock queues them.
            let versions = Collector<Int>(), failures = Collector<String>()
            onThreads(8) { _ in
                do {
                    let c = try PostgresConnection(url: db.url)
                    versions.append(try PostgresSchema.migrate(c))
                } catch {
                    failures.append("\(error)")
                }
            }
            #expect(failures.all == [])
            #expect(versions.all == Array(repeating: PostgresSchema.migrations.count, count: 8))
            let c = try PostgresConnection(url: db.url)
            let applied = try c.query("SELECT version FROM schema_migrations ORDER BY version").compactMap { $0["version"].int }
            #expect(applied == Array(1...PostgresSchema.migrations.count))
            // Again: nothing applied twice, and a store opens on the migrated database.
            #expect(try PostgresSchema.migrate(c) == PostgresSchema.migrations.count)
            _ = try PostgresStore(url: db.url)
            #expect(try PostgresSchema.version(c) == PostgresSchema.migrations.count)
            #expect(try c.query("SELECT COUNT(*) AS n FROM schema_migrations").first?["n"] == .int(Int64(applied.count)))
            let columns = try c.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'")
                .compactMap { $0["column_name"].text }
            for column in ["warnings", "worker_id", "worker_host", "worker_pid", "lease_expires_at", "checkpoint_sha256"] {
                #expect(columns.contains(column))
            }
        }

        @Test func queueIsFIFOAndBounded() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            for i in 0..<3 { #expect(try store.enqueue(JobRecord(id: "j\(i)", name: "n", specJSON: "{}"), maxQueued: 3)) }
            #expect(try store.enqueue(JobRecord(id: "j3", name: "n", specJSON: "{}"), maxQueued: 3) == false)
            let duplicate = try #require(throws: PostgresError.self) {
                try store.enqueue(JobRecord(id: "j0", name: "n", specJSON: "{}"), maxQueued: 10)
            }
            #expect(duplicate.kind == .uniqueViolation)
            let first = try #require(try store.claimNext())
            #expect(first.id == "j0")
            #expect(first.state == .running)
            #expect(first.startedAt != nil)
            #expect(try store.job(id: "j0")?.state == .running)
            #expect(try store.claimNext()?.id == "j1")
            #expect(try store.queuedCount() == 1)
            #expect(try store.jobs(state: nil, limit: 10, before: nil).map(\.id) == ["j2", "j1", "j0"])
            let page = try store.jobs(state: nil, limit: 2, before: nil)
            #expect(try store.jobs(state: nil, limit: 2, before: page.last!.sequence).map(\.id) == ["j0"])
            #expect(try store.jobs(state: .running, limit: 10, before: nil).count == 2)
            #expect(try store.countByState() == [.running: 2, .queued: 1])
            #expect(try store.unfinishedRunningJobs().map(\.id) == ["j0", "j1"])
            #expect(try store.job(id: "missing") == nil)
        }

        @Test func jobsRoundTripEveryColumn() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            let created = Date(timeIntervalSince1970: 1_764_000_000.125)
            _ = try store.enqueue(JobRecord(id: "j", name: "fashion", specJSON: #"{"a": "ü"}"#, createdAt: created),
                                  maxQueued: 10)
            var job = try #require(try store.claimNext())
            job.progressJSON = #"{"epoch": 1}"#
            job.metricsJSON = #"{"loss": 0.5}"#
            job.stopReason = "early_stopping"
            job.error = "it's \"broken\""
            job.modelID = "m"
            job.checkpointEpoch = 3
            job.warningsJSON = #"{"skipped_count": 2}"#
            job.checkpointSHA256 = "c0ffee"
            job.state = .succeeded
            job.finishedAt = Date(timeIntervalSince1970: 1_764_000_100.5)
            try store.update(job)
            let read = try #require(try store.job(id: "j"))
            #expect(read.createdAt.timeIntervalSince1970 == 1_764_000_000.125)
            #expect(read.finishedAt?.timeIntervalSince1970 == 1_764_000_100.5)
            #expect(abs(read.startedAt!.timeIntervalSince(job.startedAt!)) < 1e-5)
            var expected = job
            expected.startedAt = read.startedAt
            // Finished: the job is released.
            expected.worker = nil
            expected.leaseExpiresAt = nil
            #expect(read == expected)
        }

        @Test func compareAndSetUpdatesAndTransitions() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
            var job = try #require(try store.claimNext())
            #expect(try store.transition(id: "j", from: [.queued], to: .cancelled) == false)
            #expect(try store.transition(id: "j", from: [.queued, .running], to: .cancelling))
            #expect(try store.job(id: "j")?.state == .cancelling)
            job.state = .succeeded
            // The worker's "succeeded" must not overwrite the cancel.
            #expect(try store.update(job, ifStateIn: [.running]) == false)
            #expect(try store.job(id: "j")?.state == .cancelling)
            let finished = Date(timeIntervalSince1970: 1_764_000_000)
            #expect(try store.transition(id: "j", from: [.cancelling], to: .cancelled, finishedAt: finished))
            #expect(try store.job(id: "j")?.finishedAt == finished)
            // Without a finish time the stored one stays.
            #expect(try store.transition(id: "j", from: [.cancelled], to: .cancelled))
            #expect(try store.job(id: "j")?.finishedAt == finished)
            job.state = .failed
            // Fenced by the worker the record names, which no longer holds the finished job.
            #expect(try store.update(job, ifStateIn: [.cancelled]) == false)
            job.worker = nil
            #expect(try store.update(job, ifStateIn: [.cancelled]))
            #expect(try store.job(id: "j")?.state == .failed)
            #expect(try store.transition(id: "nope", from: JobState.allCases, to: .failed) == false)
        }

        @Test func epochsAreUpsertedWithTheCheckpoint() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
            var job = try #require(try store.claimNext())
            job.checkpointEpoch = 1
            try store.recordEpoch(EpochRecord(jobID: "j", epoch: 1, logs: ["loss": 0.5, "accuracy": 0.8], learningRate: 0.001,
                                              durationSeconds: 2, samplesPerSecond: 30000), job: job)
            try store.recordEpoch(EpochRecord(jobID: "j", epoch: 1, logs: ["loss": 0.4, "accuracy": 0.85], learningRate: 0.001,
                                              durationSeconds: 2, samplesPerSecond: 30000), job: job)
            job.checkpointEpoch = 2
            try store.recordEpoch(EpochRecord(jobID: "j", epoch: 2, logs: ["loss": .nan], learningRate: 0.001,
                                              durationSeconds: 2, samplesPerSecond: 30000), job: job)
            let epochs = try store.epochs(jobID: "j")
            #expect(epochs.map(\.epoch) == [1, 2])
            #expect(epochs[0].logs == ["loss": 0.4, "accuracy": 0.85])
            #expect(epochs[0].learningRate == 0.001)
            #expect(epochs[1].logs["loss"] == nil)
            #expect(try store.job(id: "j")?.checkpointEpoch == 2)
            // The epoch and the job commit together: an epoch for a job that does not exist leaves nothing.
            #expect(throws: PostgresError.self) {
                try store.recordEpoch(EpochRecord(jobID: "ghost", epoch: 1, logs: [:], learningRate: 0, durationSeconds: 0,
                                                  samplesPerSecond: 0), job: JobRecord(id: "ghost", name: "", specJSON: ""))
            }
            #expect(try store.epochs(jobID: "ghost").isEmpty)
        }

        @Test func metricsSeriesAndTruncation() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 10)
            // More points than one INSERT carries, two keys, a NaN, and a key that needs quoting in an array.
            var points: [MetricPoint] = []
            for s in 0..<(PostgresStore.metricBatch + 10) {
                let wall = Double(s) / 10
                let loss: Double = s == 7 ? .nan : 1 / Double(s + 1)
                points.append(MetricPoint(key: "loss", step: s, wallTime: wall, value: loss))
                points.append(MetricPoint(key: "val \"acc\", {x}", step: s, wallTime: wall, value: Double(s)))
            }
            try store.appendMetrics(jobID: "j", points)
            try store.appendMetrics(jobID: "j", [])
            let loss = try store.metrics(jobID: "j", key: "loss")
            #expect(loss.count == PostgresStore.metricBatch + 10)
            #expect(loss[3] == MetricPoint(key: "loss", step: 3, wallTime: 0.3, value: 0.25))
            #expect(loss[7].value.isNaN)
            #expect(try store.metrics(jobID: "j", key: nil).count == points.count)
            #expect(try store.metrics(jobID: "j", key: "val \"acc\", {x}").last?.value == Double(PostgresStore.metricBatch + 9))
            try store.truncateMetrics(jobID: "j", afterStep: 4)
            #expect(try store.metrics(jobID: "j", key: "loss").map(\.step) == [0, 1, 2, 3, 4])
            #expect(try store.metrics(jobID: "j", key: nil).count == 10)
        }

        @Test func modelsAndTheFinishingTransaction() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            for id in ["a", "b"] { _ = try store.enqueue(JobRecord(id: id, name: "fashion", specJSON: "{}"), maxQueued: 10) }
            var a = try #require(try store.claimNext())
            var b = try #require(try store.claimNext())
            let when = Date(timeIntervalSince1970: 1_764_000_000)
            a.state = .succeeded
            a.modelID = "m1"
            let m1 = ModelRecord(id: "m1", jobID: "a", name: "fashion", createdAt: when, path: "models/m1", sha256: "00",
                                 metadataJSON: #"{"classes": ["t-shirt"]}"#)
            #expect(try store.addModel(m1, finishing: a) == .succeeded)
            #expect(try store.model(id: "m1") == m1)
            #expect(try store.job(id: "a")?.modelID == "m1")
            // Cancelled while saving: ends cancelled, the model kept. Same created_at: insertion order breaks the tie.
            #expect(try store.transition(id: "b", from: [.running], to: .cancelling))
            b.state = .succeeded
            b.modelID = "m2"
            let m2 = ModelRecord(id: "m2", jobID: "b", name: "fashion", createdAt: when, path: "models/m2", sha256: "11",
                                 metadataJSON: "{}")
            #expect(try store.addModel(m2, finishing: b) == .cancelled)
            #expect(try store.job(id: "b")?.state == .cancelled)
            #expect(try store.job(id: "b")?.stopReason == "cancelled after its last epoch (the model was saved)")
            #expect(try store.latestModel(named: "fashion")?.id == "m2")
            #expect(try store.latestModel(named: "other") == nil)
            #expect(try store.models(limit: 10).map(\.id) == ["m2", "m1"])
            #expect(try store.models(limit: 1).map(\.id) == ["m2"])
            // A model for an unknown job violates the foreign key, and the job update rolls back with it.
            var ghost = a
            ghost.stopReason = "should not stick"
            #expect(throws: PostgresError.self) {
                try store.addModel(ModelRecord(id: "m1", jobID: "a", name: "x", path: "", sha256: "", metadataJSON: "{}"),
                                   finishing: ghost)
            }
            #expect(try store.job(id: "a")?.stopReason == nil)
            try store.addModel(ModelRecord(id: "m3", jobID: "a", name: "plain", createdAt: when, path: "p", sha256: "22",
                                           metadataJSON: "{}"))
            #expect(try store.latestModel(named: "plain")?.id == "m3")
        }
    }
}
