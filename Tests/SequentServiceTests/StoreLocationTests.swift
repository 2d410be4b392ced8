import Foundation
import Testing
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The `store` setting that picks one process (SQLite) or a cluster (PostgreSQL), and the settings that go with it.
@Suite struct StoreLocationTests {
    @Test func storeURLsAreReadAndBadOnesNamed() throws {
        #expect(StoreLocation("sqlite") == .sqlite(path: nil))
        #expect(StoreLocation("sqlite:///var/lib/sequent/db.sqlite") == .sqlite(path: "/var/lib/sequent/db.sqlite"))
        #expect(StoreLocation("postgres://u@db:5432/s") == .postgres(url: "postgres://u@db:5432/s"))
        #expect(StoreLocation("postgresql://u@db/s") == .postgres(url: "postgresql://u@db/s"))
        for bad in ["", "sqlite://", "mysql://x", "postgres"] { #expect(StoreLocation(bad) == nil, "\(bad)") }
        #expect(StoreLocation("postgres://sequent:secret@db:5432/s")?.redacted == "postgres://sequent:***@db:5432/s")
        var c = ServiceConfiguration()
        do {
            try c.set("store", .string("mysql://x"), source: "--store")
            Issue.record("accepted mysql://")
        } catch let e as ConfigError {
            #expect(e.field == "store" && e.detail.contains("mysql://x") && e.detail.contains("--store"))
        }
    }

    @Test func environmentSetsTheStoreAndWorkersMayBeZero() throws {
        let c = try ServiceConfiguration.load(file: nil, environment: [
            "SEQUENT_STORE": "postgres://u@h:5/d", "SEQUENT_WORKERS": "0", "SEQUENT_ARTIFACTS_DIR": "/mnt/shared",
        ])
        #expect(c.storeLocation == .postgres(url: "postgres://u@h:5/d"))
        #expect(c.workers == 0)
        #expect(c.artifactsDirectory == "/mnt/shared")
    }

    /// A directory other machines share keeps a fresh staging folder (maybe another machine's write in progress)
    /// and sweeps an abandoned one; a private directory sweeps both.
    @Test func aSharedFolderSweepsOnlyAbandonedLeftovers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shared-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for shared in [true, false] {
            let store = LocalArtifactStore(dataDirectory: dir, datasetsRoot: dir.appendingPathComponent("datasets"),
                                           shared: shared)
            let fresh = try store.stage(.model), old = try store.stage(.model)
            for url in [fresh, old] { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
            let past = Date().addingTimeInterval(-2 * LocalArtifactStore.sharedLeftoverAge)
            try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: old.path)
            _ = try store.removeLeftovers()
            #expect(!FileManager.default.fileExists(atPath: old.path))
            #expect(FileManager.default.fileExists(atPath: fresh.path) == shared)
            try? FileManager.default.removeItem(at: fresh)
        }
    }
}
