import Foundation
import SequentStore
import Testing
@testable import SequentPostgres
import PostgresTestSupport

extension PostgresTests {
    @Suite struct RestartTests {
        /// `pg_ctl restart` closes every connection. Each kind of client carries on without being told.
        @Test func connectionsStoresAndListenersSurviveAServerRestart() throws {
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let store = try PostgresStore(url: db.url, poolSize: 2)
            _ = try store.enqueue(JobRecord(id: "before", name: "n", specJSON: "{}"), maxQueued: 10)
            let plain = try PostgresConnection(url: db.url)
            let listening = try PostgresConnection(url: db.url)
            try listening.listen("restart channel")
            let oldPID = plain.backendPID
            let reconnected = DispatchSemaphore(value: 0)
            let events = Collector<ClusterMessage>()
            let eventArrived = DispatchSemaphore(value: 0)
            let listener = try PostgresEventListener(url: db.url, onReconnect: { reconnected.signal() }) { message in
                events.append(message)
                eventArrived.signal()
            }
            defer { listener.stop() }

            try ClusterUse.exclusively { try TestCluster.restartServer() }

            // A non-idempotent statement is sent after the dead connection is noticed: reconnect, then send.
            try plain.execute("CREATE TABLE after_restart (v int)")
            #expect(plain.reconnects == 1)
            #expect(plain.backendPID != oldPID)
            #expect(try plain.query("SELECT COUNT(*) AS n FROM after_restart").first?["n"] == .int(0))

            // The store's pooled connections reconnect the same way.
            #expect(try store.enqueue(JobRecord(id: "after", name: "n", specJSON: "{}"), maxQueued: 10))
            #expect(try store.claimNext()?.id == "before")

            // A listening connection listens again after reconnecting.
            #expect(try listening.query("SELECT 1 AS one").first?["one"] == .int(1))
            try plain.notify("restart channel", payload: "still here")
            #expect(try listening.waitForNotifications(timeout: 2).map(\.payload) == ["still here"])

            // The listener thread reconnects by itself and says so; events flow again.
            #expect(reconnected.wait(timeout: .now() + 10) == .success)
            let after = ClusterMessage(.event, origin: "test", jobID: "after", name: "state", data: "{}")
            try store.notify(after)
            #expect(eventArrived.wait(timeout: .now() + 5) == .success)
            #expect(events.all == [after])
        }
    }
}
