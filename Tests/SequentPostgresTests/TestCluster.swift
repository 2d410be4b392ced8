import Foundation
import Testing
@testable import SequentPostgres

/// Every PostgreSQL test, one at a time: one of them restarts the server, which would break the others' connections.
/// They run against the throwaway cluster of scripts/with-postgres.sh (`make test` starts one). Without it they are
/// skipped, unless SEQUENT_REQUIRE_POSTGRES=1 (the Makefile sets it): then they run and fail.
@Suite(.serialized, .enabled(if: TestCluster.shouldRun,
                              "SEQUENT_TEST_POSTGRES_URL is unset: run under scripts/with-postgres.sh (make test does)"))
struct PostgresTests {}

struct MissingCluster: Error, CustomStringConvertible {
    var description: String {
        "SEQUENT_REQUIRE_POSTGRES=1 but SEQUENT_TEST_POSTGRES_URL is unset: run the tests under scripts/with-postgres.sh"
    }
}

enum TestCluster {
    static let environment = ProcessInfo.processInfo.environment

    static var shouldRun: Bool {
        if environment["SEQUENT_TEST_POSTGRES_URL"] != nil { return true }
        if environment["SEQUENT_REQUIRE_POSTGRES"] == "1" { return true }
        print("SequentPostgresTests skipped: SEQUENT_TEST_POSTGRES_URL is unset (run under scripts/with-postgres.sh)")
        return false
    }

    /// The cluster's URL; throws (failing the test) when there is none.
    static func url() throws -> String {
        guard let url = environment["SEQUENT_TEST_POSTGRES_URL"] else { throw MissingCluster() }
        return url
    }

    /// `url` with another database name.
    static func url(database: String) throws -> String {
        var components = try #require(URLComponents(string: try url()))
        components.path = "/" + database
        return try #require(components.string)
    }

    /// A new empty database for one test (tests never see each other's jobs); `drop()` removes it.
    static func freshDatabase() throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = try PostgresConnection(url: try url())
        try admin.execute("CREATE DATABASE " + admin.quoteIdentifier(name))
        return TestDatabase(name: name, url: try url(database: name))
    }

    /// Restarts the server (`pg_ctl restart -m fast`: every connection is closed) and waits until it accepts
    /// connections again.
    static func restartServer() throws {
        let bin = try #require(environment["SEQUENT_TEST_POSTGRES_BIN"], "SEQUENT_TEST_POSTGRES_BIN is unset")
        let data = try #require(environment["SEQUENT_TEST_POSTGRES_DATA"], "SEQUENT_TEST_POSTGRES_DATA is unset")
        let log = URL(fileURLWithPath: data).deletingLastPathComponent().appendingPathComponent("server.log").path
        var command = [bin + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-m", "fast", "restart"]
        if let user = environment["SEQUENT_TEST_POSTGRES_RUNAS"], !user.isEmpty {
            command = ["/usr/sbin/runuser", "-u", user, "--"] + command
        }
        // posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit was seen to miss the exit
        // of runuser here and hang.
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, command[0], &actions, nil, argv, environ) == 0, "cannot start \(command[0])")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        #expect(status == 0, "pg_ctl restart failed: wait status \(status)")
    }
}

/// A database made for one test.
struct TestDatabase {
    let name: String
    let url: String

    func drop() {
        guard let admin = try? PostgresConnection(url: (try? TestCluster.url()) ?? "") else { return }
        try? admin.execute("DROP DATABASE IF EXISTS " + admin.quoteIdentifier(name) + " WITH (FORCE)")
    }
}

/// Runs `body(i)` for i in 0..<count on `count` threads started together, and waits for all.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let start = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        let thread = Thread {
            start.wait()
            body(i)
            done.leave()
        }
        thread.start()
    }
    for _ in 0..<count { start.signal() }
    done.wait()
}

/// Values gathered from several threads.
final class Collector<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []

    func append(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    func append(contentsOf more: [T]) { lock.lock(); items.append(contentsOf: more); lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
}
