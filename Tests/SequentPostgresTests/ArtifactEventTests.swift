import Foundation
import SequentStore
import Testing
@testable import SequentPostgres
import PostgresTestSupport

extension PostgresTests {
    @Suite struct ArtifactEventTests {
        @Test func artifactsRoundTripInChunksAndCorruptionIsDetected() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            let dir = try TemporaryFolder()
            func file(_ bytes: Data) throws -> URL {
                let url = dir.url.appendingPathComponent(UUID().uuidString)
                try bytes.write(to: url)
                return url
            }
            func read(_ kind: String, _ id: String) throws -> (bytes: Data, sha256: String)? {
                let url = dir.url.appendingPathComponent(UUID().uuidString)
                return try store.get(kind: kind, id: id, to: url).map { (try Data(contentsOf: url), $0.sha256) }
            }
            var generator = SystemRandomNumberGenerator()
            let bytes = Data((0..<(2 * PostgresStore.artifactChunkSize + 12345)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let sha = try store.put(kind: "weights", id: "m1", contentsOf: try file(bytes))
            #expect(sha == SHA256.hex(bytes))
            let got = try #require(try read("weights", "m1"))
            #expect(got.bytes == bytes)
            #expect(got.sha256 == sha)
            let c = try PostgresConnection(url: db.url)
            #expect(try c.query("SELECT COUNT(*) AS n FROM artifact_chunks WHERE id = 'm1'").first?["n"] == .int(3))
            #expect(try read("weights", "missing") == nil)
            #expect(try read("checkpoints", "m1") == nil)

            // Replacing leaves no chunk of the old bytes; refusing to replace is a unique violation.
            try store.put(kind: "weights", id: "m1", contentsOf: try file(Data("small".utf8)))
            #expect(try read("weights", "m1")?.bytes == Data("small".utf8))
            #expect(try c.query("SELECT COUNT(*) AS n FROM artifact_chunks WHERE id = 'm1'").first?["n"] == .int(1))
            let taken = try #require(throws: PostgresError.self) {
                try store.put(kind: "weights", id: "m1", contentsOf: try file(Data("other".utf8)), replacing: false)
            }
            #expect(taken.kind == .uniqueViolation)
            #expect(try read("weights", "m1")?.bytes == Data("small".utf8))
            // An empty artifact is one with no chunks.
            try store.put(kind: "weights", id: "empty", contentsOf: try file(Data()))
            #expect(try read("weights", "empty")?.sha256 ==
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            #expect(try store.artifactIDs(kind: "weights") == ["empty", "m1"])

            // A flipped byte, then a missing chunk.
            try store.put(kind: "weights", id: "big", contentsOf: try file(bytes))
            try c.execute("UPDATE artifact_chunks SET bytes = set_byte(bytes, 10, (get_byte(bytes, 10) + 1) % 256) WHERE id = 'big' AND n = 1")
            let flipped = try #require(throws: PostgresError.self) { try read("weights", "big") }
            #expect(flipped.kind == .corruptArtifact)
            try c.execute("DELETE FROM artifact_chunks WHERE id = 'big' AND n = 2")
            let short = try #require(throws: PostgresError.self) { try read("weights", "big") }
            #expect(short.kind == .corruptArtifact)
            #expect(try store.deleteArtifact(kind: "weights", id: "big") == 1)
            #expect(try store.deleteArtifact(kind: "weights", id: "big") == 0)
            #expect(try c.query("SELECT COUNT(*) AS n FROM artifact_chunks WHERE id = 'big'").first?["n"] == .int(0))
        }

        @Test func messagesReachAListenerInOrderIncludingOversizedOnes() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            let received = Collector<ClusterMessage>()
            let arrived = DispatchSemaphore(value: 0)
            let listener = try PostgresEventListener(url: db.url) { message in
                received.append(message)
                arrived.signal()
            }
            defer { listener.stop() }
            let big = "{\"data\": \"" + String(repeating: "x", count: 20_000) + "\"}"
            let sent = [ClusterMessage(.event, origin: "o", jobID: "j1", name: "progress", data: #"{"step": 1}"#),
                        ClusterMessage(.event, origin: "o", jobID: "j1", name: "epoch", data: big),
                        ClusterMessage(.event, origin: "o", jobID: "j2", name: "state", data: "line one\nline two"),
                        ClusterMessage(.cancel, origin: "o", jobID: "j2"),
                        ClusterMessage(.close, origin: "p", jobID: "j1")]
            let started = Date()
            for m in sent { try store.notify(m) }
            for _ in sent { #expect(arrived.wait(timeout: .now() + 5) == .success) }
            #expect(Date().timeIntervalSince(started) < 1)
            // One channel for events and closes, another for cancels: the order holds within each.
            #expect(received.all.filter { $0.kind != .cancel } == sent.filter { $0.kind != .cancel })
            #expect(received.all.filter { $0.kind == .cancel } == [sent[3]])
            #expect(try PostgresConnection(url: db.url).query("SELECT COUNT(*) AS n FROM events").first?["n"] == .int(1))
            let misuse = try #require(throws: PostgresError.self) {
                try store.notify(ClusterMessage(.event, origin: "o", jobID: "j\n", name: "x"))
            }
            #expect(misuse.kind == .misuse)
        }

        @Test func stepMetricInsertThroughput() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            _ = try store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 1)
            // Batches of 200 points, as a training loop flushes them (a few keys × tens of steps), then of 5000.
            var total = 0
            for (batches, perBatch) in [(250, 200), (10, 5000)] {
                let started = Date()
                for b in 0..<batches {
                    let points = (0..<perBatch).map { i in
                        MetricPoint(key: i % 2 == 0 ? "loss" : "accuracy", step: total + b * perBatch + i,
                                    wallTime: Double(b), value: 0.5)
                    }
                    try store.appendMetrics(jobID: "j", points)
                }
                let seconds = Date().timeIntervalSince(started)
                print("step metrics: \(batches * perBatch) points in batches of \(perBatch) in "
                      + "\(String(format: "%.3f", seconds)) s = \(Int(Double(batches * perBatch) / seconds)) inserts/s")
                total += batches * perBatch
            }
            #expect(try store.metrics(jobID: "j", key: nil).count == total)
        }
    }
}
