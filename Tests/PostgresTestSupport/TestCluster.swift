import Foundation
import SequentPostgres

/// The throwaway cluster of scripts/with-postgres.sh (`make test` starts one), shared by SequentPostgresTests and
/// the storage contract (SequentStoreTests). Without it PostgreSQL tests are skipped, unless
/// SEQUENT_REQUIRE_POSTGRES=1 (the Makefile sets it): then they run and fail.
public enum TestCluster {
    public static let environment = ProcessInfo.processInfo.environment

    /// Whether PostgreSQL tests run: with a cluster, or when one is required (and its absence must fail them).
    public static var shouldRun: Bool {
        environment["SEQUENT_TEST_POSTGRES_URL"] != nil || environment["SEQUENT_REQUIRE_POSTGRES"] == "1"
    }

    /// The cluster's URL; throws (failing the test) when there is none.
    public static func url() throws -> String {
        guard let url = environment["SEQUENT_TEST_POSTGRES_URL"] else { throw MissingCluster() }
        return url
    }

    /// `url` with another database name.
    public static func url(database: String) throws -> String {
        guard var components = URLComponents(string: try url()) else { throw MissingCluster() }
        components.path = "/" + database
        guard let url = components.string else { throw MissingCluster() }
        return url
    }

    /// A new empty database for one test (tests never see each other's jobs); `drop()` removes it.
    public static func freshDatabase() throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = try PostgresConnection(url: try url())
        try admin.execute("CREATE DATABASE " + admin.quoteIdentifier(name))
        return TestDatabase(name: name, url: try url(database: name))
    }
}

/// The failure of a PostgreSQL test run without a cluster.
public struct MissingCluster: Error, CustomStringConvertible {
    public var description: String {
        "SEQUENT_REQUIRE_POSTGRES=1 but SEQUENT_TEST_POSTGRES_URL is unset (or not a URL): run the tests under "
            + "scripts/with-postgres.sh"
    }
}

/// A database made for one test.
public struct TestDatabase: Sendable {
    public let name: String
    public let url: String

    public func drop() {
        guard let admin = try? PostgresConnection(url: (try? TestCluster.url()) ?? "") else { return }
        try? admin.execute("DROP DATABASE IF EXISTS " + admin.quoteIdentifier(name) + " WITH (FORCE)")
    }
}

/// Keeps the server restart of SequentPostgresTests (`pg_ctl restart` closes every connection) away from the tests
/// of other suites on the cluster, which run in parallel with it in the same test process: they hold a shared
/// claim while they use the cluster, the restart an exclusive one.
public final class ClusterUse: @unchecked Sendable {
    // @unchecked: the rwlock is the synchronisation; it is never moved or freed.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    private init() {
        lock = .allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
    }

    private static let shared = ClusterUse()

    /// Holds a shared claim until `release()`: the server is not restarted meanwhile.
    public static func claim() -> Claim {
        pthread_rwlock_rdlock(shared.lock)
        return Claim()
    }

    /// Runs `body` with no other claim held (it waits for them to end).
    public static func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(shared.lock)
        defer { pthread_rwlock_unlock(shared.lock) }
        return try body()
    }

    /// A shared claim; release it once.
    public struct Claim: Sendable {
        public func release() { pthread_rwlock_unlock(ClusterUse.shared.lock) }
    }
}
