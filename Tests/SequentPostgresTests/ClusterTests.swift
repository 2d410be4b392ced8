import Foundation
import PostgresTestSupport
import SequentStore
import Testing
@testable import SequentPostgres

/// Two processes' views of one cluster: two buses, two artifact caches on one database.
extension PostgresTests {
    @Suite struct ClusterTests {
        /// Gathers what a bus delivers and lets a test wait for the n-th delivery.
        final class Inbox: @unchecked Sendable {
            // @unchecked: `items` is only touched under `lock`; the semaphore is thread-safe.
            private let lock = NSLock()
            private var items: [String] = []
            private let arrived = DispatchSemaphore(value: 0)

            func add(_ item: String) {
                lock.withLock { items.append(item) }
                arrived.signal()
            }

            var all: [String] { lock.withLock { items } }

            /// Waits until `count` deliveries have arrived in all (giving up after 5 s without one).
            func wait(untilCount count: Int) -> Bool {
                while all.count < count {
                    if arrived.wait(timeout: .now() + 5) == .timedOut { return all.count >= count }
                }
                return true
            }
        }

        @Test func eventsClosesAndCancelsCrossProcessesOnceEach() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let a = try PostgresEventBus(store: try PostgresStore(url: db.url), originPrefix: "a")
            let b = try PostgresEventBus(store: try PostgresStore(url: db.url), originPrefix: "b")
            defer { a.stop(); b.stop() }
            let onA = Inbox(), onB = Inbox()
            _ = a.subscribe(jobID: "j", deliver: { onA.add("\($0.name):\($0.data)") }, closed: { onA.add("closed") })
            _ = b.subscribe(jobID: "j", deliver: { onB.add("\($0.name):\($0.data)") }, closed: { onB.add("closed") })

            // A's own subscriber has it at once; B's through the database.
            a.publish(jobID: "j", name: "progress", data: "1")
            #expect(onA.all == ["progress:1"])
            #expect(onB.wait(untilCount: 1))
            #expect(onB.all == ["progress:1"])
            // B answers. Once A has B's event it has also heard its own first one back (NOTIFYs arrive in commit
            // order, on one listener thread) and skipped it: nothing twice.
            b.publish(jobID: "j", name: "state", data: "2")
            #expect(onB.all == ["progress:1", "state:2"])
            #expect(onA.wait(untilCount: 2))
            #expect(onA.all == ["progress:1", "state:2"])
            // The job finished on B: A's stream ends too.
            b.close(jobID: "j")
            #expect(onB.all == ["progress:1", "state:2", "closed"])
            #expect(onA.wait(untilCount: 3))
            #expect(onA.all == ["progress:1", "state:2", "closed"])

            // A cancel reaches the worker wherever it runs, once.
            let cancelsA = Inbox(), cancelsB = Inbox(), marks = Inbox()
            _ = a.onCancel(jobID: "j") { cancelsA.add("a") }
            _ = b.onCancel(jobID: "j") { cancelsB.add("b") }
            _ = a.subscribe(jobID: "mark", deliver: { marks.add($0.data) }, closed: {})
            b.signalCancel(jobID: "j")
            #expect(cancelsB.all == ["b"])
            #expect(cancelsA.wait(untilCount: 1))
            a.signalCancel(jobID: "j")
            #expect(cancelsA.all == ["a", "a"])
            #expect(cancelsB.wait(untilCount: 2))
            // A mark sent by B after it got A's cancel: when it reaches A, A has skipped its own cancel.
            b.publish(jobID: "mark", name: "state", data: "m")
            #expect(marks.wait(untilCount: 1))
            #expect(cancelsA.all == ["a", "a"] && cancelsB.all == ["b", "b"])
        }

        @Test func shutdownClosesOnlyThisProcessesStreams() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let a = try PostgresEventBus(store: try PostgresStore(url: db.url))
            let b = try PostgresEventBus(store: try PostgresStore(url: db.url))
            defer { a.stop(); b.stop() }
            let onA = Inbox(), onB = Inbox()
            _ = a.subscribe(jobID: "j", deliver: { onA.add($0.data) }, closed: { onA.add("closed") })
            _ = b.subscribe(jobID: "j", deliver: { onB.add($0.data) }, closed: { onB.add("closed") })
            a.close(jobID: nil)
            #expect(onA.all == ["closed"])
            // B's stream lives on: the next event reaches it, with no close before it.
            a.publish(jobID: "j", name: "state", data: "after")
            #expect(onB.wait(untilCount: 1))
            #expect(onB.all == ["after"])
        }

        /// Writes a nested folder as a dataset upload would (class folders under train/).
        func writeDataset(_ url: URL) throws {
            for (path, text) in [("train/cat/1.jpg", "meow"), ("train/dog/2.jpg", "woof"), ("labels.txt", ""),
                                 ("train/dog/name with spaces\nand a newline", "odd")] {
                let file = url.appendingPathComponent(path)
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: file)
            }
        }

        @Test func artifactsAreDownloadedOnceIntoEachMachinesCache() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let folders = try TemporaryFolder()
            let store = try PostgresStore(url: db.url)
            let writer = try PostgresArtifactStore(store: store, cacheDirectory: folders.url.appendingPathComponent("a"))
            let reader = try PostgresArtifactStore(store: try PostgresStore(url: db.url),
                                                   cacheDirectory: folders.url.appendingPathComponent("b"))
            let staging = try writer.stage(.dataset)
            try writeDataset(staging)
            let expected = try ArtifactDigest.of(directory: staging)
            let receipt = try writer.commit(staging, as: .dataset, id: "pets")
            #expect(receipt == expected)
            // The writer's staged folder became its cached copy.
            #expect(try writer.open(.dataset, id: "pets", sha256: receipt.sha256)
                    == writer.cacheFolder(.dataset, id: "pets", digest: receipt.sha256))

            // The other machine downloads and unpacks it, nested paths and odd names included.
            let opened = try reader.open(.dataset, id: "pets", sha256: receipt.sha256)
            #expect(opened == reader.cacheFolder(.dataset, id: "pets", digest: receipt.sha256))
            #expect(try ArtifactDigest.of(directory: opened) == receipt)
            #expect(try String(contentsOf: opened.appendingPathComponent("train/cat/1.jpg"), encoding: .utf8) == "meow")

            // A second open is a cache hit: with the stored bytes gone it still opens.
            let c = try PostgresConnection(url: db.url)
            try c.execute("DELETE FROM artifact_chunks WHERE kind = 'dataset' AND id = 'pets'")
            #expect(try reader.open(.dataset, id: "pets", sha256: nil) == opened)
            // A damaged cached copy is not trusted: it is fetched again, which now fails its check.
            try Data("purr".utf8).write(to: opened.appendingPathComponent("train/cat/1.jpg"))
            #expect(throws: ArtifactError.corrupt(.dataset, "pets")) { try reader.open(.dataset, id: "pets", sha256: nil) }

            // Removed: gone from the database and from this machine's cache.
            try writer.remove(.dataset, id: "pets")
            #expect(try reader.list(.dataset).isEmpty)
            #expect(throws: ArtifactError.notFound(.dataset, "pets")) { try writer.open(.dataset, id: "pets", sha256: nil) }
            #expect(!FileManager.default.fileExists(atPath: writer.cacheFolder(.dataset, id: "pets", digest: receipt.sha256).path))
        }

        @Test func leftoversAreStagingFoldersOnly() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let folders = try TemporaryFolder()
            let artifacts = try PostgresArtifactStore(store: try PostgresStore(url: db.url), cacheDirectory: folders.url)
            for id in ["j_a/epoch-1", "j_a/epoch-2", "j_ab/epoch-1"] {
                let s = try artifacts.stage(.checkpoint)
                try writeDataset(s)
                _ = try artifacts.commit(s, as: .checkpoint, id: id)
            }
            let cached = try artifacts.open(.checkpoint, id: "j_ab/epoch-1", sha256: nil)
            let interrupted = try artifacts.stage(.model)
            try writeDataset(interrupted)
            #expect(try artifacts.removeLeftovers() == ["staging/" + interrupted.lastPathComponent])
            #expect(!FileManager.default.fileExists(atPath: interrupted.path))
            #expect(FileManager.default.fileExists(atPath: cached.path))
            // A job's checkpoints go together, and only its own (not those of j_ab).
            try artifacts.remove(.checkpoint, id: "j_a")
            #expect(try artifacts.list(.checkpoint) == ["j_ab/epoch-1"])
            #expect(FileManager.default.fileExists(atPath: cached.path))
        }

        @Test func clusterStoresOpensAllThreeOnOneDatabase() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let folders = try TemporaryFolder()
            let worker = WorkerIdentity(id: "w_test-0", host: "h", pid: 1)
            let cluster = try ClusterStores.open(url: db.url, cacheDirectory: folders.url, worker: worker)
            defer { (cluster.events as? PostgresEventBus)?.stop() }
            #expect(try cluster.store.enqueue(JobRecord(id: "j", name: "n", specJSON: "{}"), maxQueued: 1))
            #expect(try cluster.store.claimNext(worker: worker, leaseSeconds: 30)?.worker == worker)
            #expect(try cluster.artifacts.list(.model).isEmpty)
            #expect((cluster.events as? PostgresEventBus)?.origin.hasPrefix("w_test-0@h:1/") == true)
        }
    }
}
