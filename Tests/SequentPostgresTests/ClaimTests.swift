import Foundation
import SequentStore
import Testing
@testable import SequentPostgres
import PostgresTestSupport

extension PostgresTests {
    @Suite struct ClaimTests {
        @Test func aClaimSkipsAJobAnotherClaimerHoldsInsteadOfWaiting() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            _ = try store.enqueue(JobRecord(id: "first", name: "n", specJSON: "{}"), maxQueued: 10)
            // Another claimer is mid-claim on the only job: it holds the row lock.
            let other = try PostgresConnection(url: db.url)
            try other.execute("BEGIN")
            try other.execute("SELECT sequence FROM jobs WHERE state = 'queued' ORDER BY sequence FOR UPDATE SKIP LOCKED LIMIT 1")
            let started = Date()
            #expect(try store.claimNext() == nil)
            #expect(Date().timeIntervalSince(started) < 1)   // skipped, not waited for
            _ = try store.enqueue(JobRecord(id: "second", name: "n", specJSON: "{}"), maxQueued: 10)
            #expect(try store.claimNext()?.id == "second")
            try other.execute("ROLLBACK")
            #expect(try store.claimNext()?.id == "first")
        }

        @Test func twoConnectionsRacingForOneJobProduceOneWinner() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let a = try PostgresStore(url: db.url), b = try PostgresStore(url: db.url)
            let workers = [WorkerIdentity(id: "a", host: "h", pid: 1), WorkerIdentity(id: "b", host: "h", pid: 2)]
            for round in 0..<20 {
                _ = try a.enqueue(JobRecord(id: "j\(round)", name: "n", specJSON: "{}"), maxQueued: 10)
                let won = Collector<String>()
                onThreads(2) { i in
                    let store = i == 0 ? a : b
                    if let job = try? store.claimNext(worker: workers[i], leaseSeconds: 30) {
                        won.append("\(job.id)@\(workers[i].id)")
                    }
                }
                #expect(won.all.count == 1, "round \(round): \(won.all)")
                let winner = try #require(won.all.first?.split(separator: "@").last.map(String.init))
                #expect(try a.job(id: "j\(round)")?.worker?.id == winner)
            }
        }

        @Test func eightThreadsClaimFourHundredJobsEachExactlyOnce() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let seed = try PostgresStore(url: db.url)
            let jobs = 400
            for i in 0..<jobs { _ = try seed.enqueue(JobRecord(id: "j\(i)", name: "n", specJSON: "{}"), maxQueued: jobs) }
            let stores = try (0..<8).map { _ in try PostgresStore(url: db.url, poolSize: 1) }
            let workers = (0..<8).map { WorkerIdentity(id: "w\($0)", host: "h", pid: $0) }
            let claims = Collector<(String, String)>(), errors = Collector<String>()
            let started = Date()
            onThreads(8) { t in
                var mine: [(String, String)] = []
                do {
                    // A short fake job: claim, then finish it.
                    while var job = try stores[t].claimNext(worker: workers[t], leaseSeconds: 30) {
                        mine.append((job.id, job.worker?.id ?? "none"))
                        job.state = .succeeded
                        job.finishedAt = Date()
                        // Fenced by the claimer, which still holds it.
                        if try !stores[t].update(job, ifStateIn: [.running]) { errors.append("\(job.id) not held") }
                    }
                } catch {
                    errors.append("\(error)")
                }
                claims.append(contentsOf: mine)
            }
            let seconds = Date().timeIntervalSince(started)
            print("claims: \(jobs) jobs by 8 threads in \(String(format: "%.3f", seconds)) s = "
                  + "\(Int(Double(jobs) / seconds)) claims/s (each claim + finishing update)")
            #expect(errors.all == [])
            let ids = claims.all.map(\.0)
            #expect(ids.count == jobs)
            #expect(Set(ids).count == jobs)
            #expect(try seed.countByState() == [.succeeded: jobs])
            // Each claim named its claimer; a finished job names no worker.
            let claimers = Dictionary(grouping: claims.all, by: \.1).mapValues(\.count)
            #expect(Set(claimers.keys).isSubset(of: Set(workers.map(\.id))))
            let c = try PostgresConnection(url: db.url)
            #expect(try c.query("SELECT COUNT(*) AS n FROM jobs WHERE worker_id IS NOT NULL").first?["n"] == .int(0))
        }

        /// Leases are taken and compared on the database's clock: `requeueExpiredLeases(now:)` reads its argument as
        /// an offset from the caller's clock, so a worker whose clock is off cannot lapse a live lease.
        @Test func leasesAreTimedByTheDatabaseClock() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            let a = WorkerIdentity(id: "worker-a", host: "host-a", pid: 11)
            for id in ["live", "lapsed"] {
                _ = try store.enqueue(JobRecord(id: id, name: "n", specJSON: "{}"), maxQueued: 10)
            }
            let live = try #require(try store.claimNext(worker: a, leaseSeconds: 60))
            let expires = try #require(try store.job(id: "live")?.leaseExpiresAt)
            #expect(live.leaseExpiresAt == expires)
            #expect(expires.timeIntervalSinceNow > 50 && expires.timeIntervalSinceNow < 70)
            // A lease of -1 s is lapsed the moment it is taken: the worker that "died" without renewing.
            var lapsed = try #require(try store.claimNext(worker: a, leaseSeconds: -1))
            lapsed.checkpointEpoch = 2
            try store.update(lapsed)
            #expect(try store.requeueExpiredLeases(now: Date()).map(\.id) == ["lapsed"])
            #expect(try store.job(id: "lapsed")?.checkpointEpoch == 2)
            #expect(try store.requeueExpiredLeases(now: Date().addingTimeInterval(30)).isEmpty)
            #expect(try store.requeueExpiredLeases(now: Date().addingTimeInterval(90)).map(\.id) == ["live"])
        }
    }
}
