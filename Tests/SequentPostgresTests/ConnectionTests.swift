import Foundation
import Testing
@testable import SequentPostgres
import PostgresTestSupport

extension PostgresTests {
    @Suite struct ConnectionTests {
        @Test func connectsOverTCPAndThroughASocketDirectory() throws {
            let tcp = try PostgresConnection(url: try TestCluster.url())
            let row = try #require(try tcp.query("SELECT current_database() AS db, inet_server_addr() IS NULL AS unix").first)
            #expect(row["db"].text == "sequent_test")
            #expect(row["unix"].bool == false)

            let dir = try #require(TestCluster.environment["SEQUENT_TEST_POSTGRES_SOCKET_DIR"])
            let port = try #require(TestCluster.environment["SEQUENT_TEST_POSTGRES_PORT"])
            let socket = try PostgresConnection(url: "postgres://postgres@/sequent_test?host=\(dir)&port=\(port)")
            #expect(try socket.query("SELECT inet_server_addr() IS NULL AS unix").first?["unix"].bool == true)

            let unreachable = try #require(throws: PostgresError.self) {
                try PostgresConnection(url: "postgres://postgres@/nope?host=/nonexistent")
            }
            #expect(unreachable.kind == .connectionFailed)
        }

        @Test func parametersAndResultsRoundTrip() throws {
            let c = try PostgresConnection(url: try TestCluster.url())
            let bytes = Data((0..<256).map { UInt8($0) } + [0, 0, 92, 120])
            let text = "quote ' double \" backslash \\ braces {} comma, ünïcødé 🙂"
            let row = try #require(try c.query("""
                SELECT $1::int8 AS i, $2::float8 AS d, $3::text AS t, $4::text AS n, $5::bool AS b, $6::bytea AS y,
                    $7::text[] AS a, array_length($7::text[], 1) AS len, ($7::text[])[2] AS second
                """, [.int(-9_007_199_254_740_993), .double(0.1), .text(text), .null, .bool(true), .bytes(bytes),
                      .textArray(["a", text, ""])]).first)
            #expect(row["i"] == .int(-9_007_199_254_740_993))
            #expect(row["d"] == .double(0.1))
            #expect(row["t"] == .text(text))
            #expect(row["n"] == .null)
            #expect(row["b"] == .bool(true))
            #expect(row["y"] == .bytes(bytes))
            #expect(row["len"] == .int(3))
            #expect(row["second"] == .text(text))
            #expect(try c.query("SELECT 1 WHERE false").isEmpty)
        }

        @Test func errorsCarryTheirSQLState() throws {
            let a = try PostgresConnection(url: try TestCluster.url())
            try a.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, v int)")
            try a.execute("INSERT INTO t VALUES (1, 0)")
            let unique = try #require(throws: PostgresError.self) { try a.execute("INSERT INTO t VALUES (1, 0)") }
            #expect(unique.kind == .uniqueViolation)
            #expect(unique.sqlState == "23505")
            let syntax = try #require(throws: PostgresError.self) { try a.execute("SELEC 1") }
            #expect(syntax.kind == .other)
            #expect(syntax.sqlState == "42601")

            // Two REPEATABLE READ transactions update the same row: the later one cannot serialize.
            let db = try TestCluster.freshDatabase()
            defer { db.drop() }
            let x = try PostgresConnection(url: db.url), y = try PostgresConnection(url: db.url)
            try x.execute("CREATE TABLE counter (id int PRIMARY KEY, n int)")
            try x.execute("INSERT INTO counter VALUES (1, 0)")
            try x.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try y.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            _ = try x.query("SELECT n FROM counter")
            _ = try y.query("SELECT n FROM counter")
            try x.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
            try x.execute("COMMIT")
            let conflict = try #require(throws: PostgresError.self) { try y.execute("UPDATE counter SET n = n + 1 WHERE id = 1") }
            #expect(conflict.kind == .serializationFailure)
            #expect(conflict.sqlState == "40001")
            try y.execute("ROLLBACK")
        }

        @Test func transactionsCommitOrRollBackAndDoNotNest() throws {
            let c = try PostgresConnection(url: try TestCluster.url())
            try c.execute("CREATE TEMP TABLE t (v int)")
            try c.withTransaction { try $0.execute("INSERT INTO t VALUES (1)") }
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                try c.withTransaction { c in
                    try c.execute("INSERT INTO t VALUES (2)")
                    throw Abort()
                }
            }
            // A failed statement aborts the transaction; it is rolled back and the connection stays usable.
            #expect(throws: PostgresError.self) {
                try c.withTransaction { c in
                    try c.execute("INSERT INTO t VALUES (3)")
                    try c.execute("INSERT INTO t VALUES ('x')")
                }
            }
            let nested = try #require(throws: PostgresError.self) {
                try c.withTransaction { c in try c.withTransaction { _ in } }
            }
            #expect(nested.kind == .misuse)
            #expect(try c.query("SELECT v FROM t ORDER BY v").map { $0["v"] } == [.int(1)])
            #expect(c.inTransaction == false)
        }

        @Test func notificationsReachAnotherConnectionWithinASecond() throws {
            let listener = try PostgresConnection(url: try TestCluster.url())
            let sender = try PostgresConnection(url: try TestCluster.url())
            try listener.listen("sequent test channel")
            // Nothing pending: the wait ends at its timeout with nothing.
            let quiet = Date()
            #expect(try listener.waitForNotifications(timeout: 0.2).isEmpty)
            #expect(Date().timeIntervalSince(quiet) >= 0.19)

            // Sent from another thread, usually while the listener waits in poll (it connects first); arriving
            // before the wait starts is delivered too.
            let senderURL = try TestCluster.url()
            let sentAt = Collector<Date>()
            let thread = Thread {
                guard let s = try? PostgresConnection(url: senderURL) else { return }
                sentAt.append(Date())
                try? s.notify("sequent test channel", payload: "hello ✓")
            }
            thread.start()
            let got = try listener.waitForNotifications(timeout: 5)   // returns as soon as the notification arrives
            let latency = Date().timeIntervalSince(try #require(sentAt.all.first))
            #expect(got.map(\.payload) == ["hello ✓"])
            #expect(got.first?.channel == "sequent test channel")
            #expect(latency < 1)

            // Inside a transaction a NOTIFY is delivered at COMMIT, not before.
            try sender.withTransaction { c in
                try c.notify("sequent test channel", payload: "committed")
                #expect(try listener.waitForNotifications(timeout: 0.2).isEmpty)
            }
            #expect(try listener.waitForNotifications(timeout: 1).map(\.payload) == ["committed"])
            try listener.unlisten("sequent test channel")
            try sender.notify("sequent test channel", payload: "unheard")
            #expect(try listener.waitForNotifications(timeout: 0.2).isEmpty)
        }

        @Test func aStatementInFlightWhenTheConnectionDiesIsRetriedOnlyIfIdempotent() throws {
            let admin = try PostgresConnection(url: try TestCluster.url())
            let c = try PostgresConnection(url: try TestCluster.url())
            // Sleeps on the first backend only, so a retry on a new backend returns at once.
            let sql = "SELECT pg_sleep(CASE WHEN pg_backend_pid() = $1 THEN 30 ELSE 0 END) IS NULL AS slept"
            for idempotent in [false, true] {
                try c.reconnectIfBroken()   // after the first round's loss: a live backend to kill
                let pid = c.backendPID
                let killed = DispatchSemaphore(value: 0)
                let killer = Thread {
                    defer { killed.signal() }
                    // Waits until the statement is running on the server, then terminates its backend.
                    // A failure here leaves the statement running: the test then fails on its 20 s bound.
                    guard let k = try? PostgresConnection(url: (try? TestCluster.url()) ?? "") else { return }
                    // pg_stat_activity has no notification to wait on: poll it, within the test's 20 s bound.
                    let deadline = Date().addingTimeInterval(20)
                    while Date() < deadline,
                          let rows = try? k.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                                                  [.int(Int64(pid))]), rows.isEmpty {
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                    _ = try? k.query("SELECT pg_terminate_backend($1)", [.int(Int64(pid))])
                }
                killer.start()
                let started = Date()
                if idempotent {
                    #expect(try c.query(sql, [.int(Int64(pid))], idempotent: true).first?["slept"] == .bool(false))
                } else {
                    let error = try #require(throws: PostgresError.self) { try c.query(sql, [.int(Int64(pid))]) }
                    #expect(error.kind == .connectionLost)
                }
                #expect(Date().timeIntervalSince(started) < 20)
                #expect(killed.wait(timeout: .now() + 20) == .success)
                if idempotent { #expect(c.backendPID != pid) }
            }
            // One reconnect before round two, one for the idempotent retry; the connection is live afterwards.
            #expect(try c.query("SELECT 1 AS one").first?["one"] == .int(1))
            #expect(c.reconnects == 2)
            _ = admin
        }
    }
}
