import Foundation
import SequentStore
import Testing
@testable import SequentPostgres

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
            let a = try PostgresStore(url: db.url, worker: WorkerIdentity(id: "a", host: "h", pid: 1))
            let b = try PostgresStore(url: db.url, worker: WorkerIdentity(id: "b", host: "h", pid: 2))
            for round in 0..<20 {
                _ = try a.enqueue(JobRecord(id: "j\(round)", name: "n", specJSON: "{}"), maxQueued: 10)
                let won = Collector<String>()
                onThreads(2) { i in
                    let store = i == 0 ? a : b
                    if let job = try? store.claimNext() { won.append("\(job.id)@\(store.worker.id)") }
                }
                #expect(won.all.count == 1, "round \(round): \(won.all)")
                let winner = try #require(won.all.first?.split(separator: "@").last.map(String.init))
                #expect(try a.lease(jobID: "j\(round)")?.worker.id == winner)
            }
        }

        @Test func eightThreadsClaimFourHundredJobsEachExactlyOnce() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let seed = try PostgresStore(url: db.url)
            let jobs = 400
            for i in 0..<jobs { _ = try seed.enqueue(JobRecord(id: "j\(i)", name: "n", specJSON: "{}"), maxQueued: jobs) }
            let stores = try (0..<8).map { try PostgresStore(url: db.url, poolSize: 1,
                                                             worker: WorkerIdentity(id: "w\($0)", host: "h", pid: $0)) }
            let claims = Collector<(String, String)>(), errors = Collector<String>()
            let started = Date()
            onThreads(8) { t in
                var mine: [(String, String)] = []
                do {
                    // A short fake job: claim, then finish it.
                    while var job = try stores[t].claimNext(worker: stores[t].worker, leaseSeconds: 30) {
                        mine.append((job.id, stores[t].worker.id))
                        job.state = .succeeded
                        job.finishedAt = Date()
                        _ = try stores[t].update(job, ifStateIn: [.running])
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
            // Each job names the worker that claimed it.
            let byJob = Dictionary(uniqueKeysWithValues: claims.all)
            let c = try PostgresConnection(url: db.url)
            for row in try c.query("SELECT id, worker_id FROM jobs") {
                #expect(byJob[row["id"].text ?? ""] == row["worker_id"].text)
            }
        }

        @Test func leasesRenewLapseAndRequeue() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url)
            let a = WorkerIdentity(id: "worker-a", host: "host-a", pid: 11)
            let b = WorkerIdentity(id: "worker-b", host: "host-b", pid: 22)
            for id in ["live", "lapsed", "cancel", "nolease"] {
                _ = try store.enqueue(JobRecord(id: id, name: "n", specJSON: "{}"), maxQueued: 10)
            }
            let live = try #require(try store.claimNext(worker: a, leaseSeconds: 60))
            #expect(live.id == "live")
            let lease = try #require(try store.lease(jobID: "live"))
            #expect(lease.worker == a)
            let expires = try #require(lease.expiresAt)
            #expect(expires.timeIntervalSinceNow > 50 && expires.timeIntervalSinceNow < 70)
            #expect(try store.renewLease(jobID: "live", workerID: "worker-b", leaseSeconds: 600) == false)
            #expect(try store.renewLease(jobID: "live", workerID: "worker-a", leaseSeconds: 600))
            #expect(try store.lease(jobID: "live")!.expiresAt!.timeIntervalSinceNow > 500)

            // A lease of -1 s is lapsed the moment it is taken: the worker that "died" without renewing.
            var lapsed = try #require(try store.claimNext(worker: a, leaseSeconds: -1))
            #expect(lapsed.id == "lapsed")
            lapsed.checkpointEpoch = 2
            try store.update(lapsed)
            _ = try #require(try store.claimNext(worker: a, leaseSeconds: -1))
            #expect(try store.transition(id: "cancel", from: [.running], to: .cancelling))
            _ = try #require(try store.claimNext(worker: a, leaseSeconds: nil))

            #expect(try store.requeueExpiredLeases().sorted() == ["cancel", "lapsed"])
            #expect(try store.requeueExpiredLeases() == [])
            let requeued = try #require(try store.job(id: "lapsed"))
            #expect(requeued.state == .queued)
            #expect(requeued.checkpointEpoch == 2)
            #expect(try store.lease(jobID: "lapsed") == nil)
            let cancelled = try #require(try store.job(id: "cancel"))
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.finishedAt != nil)
            #expect(try store.job(id: "live")?.state == .running)
            #expect(try store.job(id: "nolease")?.state == .running)   // no lease: never requeued

            // The old worker lost it; a new worker resumes it from its checkpoint, first in line.
            #expect(try store.renewLease(jobID: "lapsed", workerID: "worker-a", leaseSeconds: 60) == false)
            let resumed = try #require(try store.claimNext(worker: b, leaseSeconds: 60))
            #expect(resumed.id == "lapsed")
            #expect(resumed.checkpointEpoch == 2)
            #expect(resumed.startedAt == requeued.startedAt)
            #expect(try store.lease(jobID: "lapsed")?.worker == b)
            #expect(try store.renewLease(jobID: "lapsed", workerID: "worker-b", leaseSeconds: 60))
            // Only the holder's writes land.
            lapsed.progressJSON = #"{"from": "a"}"#
            #expect(try store.update(lapsed, heldBy: "worker-a") == false)
            var current = resumed
            current.progressJSON = #"{"from": "b"}"#
            #expect(try store.update(current, heldBy: "worker-b"))
            #expect(try store.job(id: "lapsed")?.progressJSON == #"{"from": "b"}"#)
        }
    }
}
