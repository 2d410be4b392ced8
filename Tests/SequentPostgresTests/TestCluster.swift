import Foundation
import Testing
@testable import SequentPostgres
import PostgresTestSupport

/// Every PostgreSQL test, one at a time: one of them restarts the server, which would break the others' connections.
/// They run against the throwaway cluster of scripts/with-postgres.sh (`TestCluster`, PostgresTestSupport).
@Suite(.serialized, .enabled(if: TestCluster.shouldRun,
                              "SEQUENT_TEST_POSTGRES_URL is unset: run under scripts/with-postgres.sh (make test does)"))
struct PostgresTests {}

extension TestCluster {
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

/// A temporary folder, removed with the value.
final class TemporaryFolder: @unchecked Sendable {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-pg-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }

    deinit { try? FileManager.default.removeItem(at: url) }
}
