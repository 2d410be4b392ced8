import Foundation
import Testing
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Writes to the data directory that fail (scripts/disk-full.sh fills a real tmpfs; here a file stands where a
/// folder must go, which fails the same code paths without needing a mount).
@Suite(.serialized) struct StorageFailureTests {
    @Test func aFailedAtomicWriteLeavesTheTargetAndNoTemporaryFile() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // rename(2) cannot replace a non-empty folder: the write fails after the temporary file was written.
        let target = dir.appendingPathComponent("model.weights.safetensors")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inside"), withIntermediateDirectories: true)
        #expect(throws: FileWriteError.self) { try ModelArchive.writeAtomically(Data(count: 1 << 16), to: target) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names == ["model.weights.safetensors"])
        #expect(FileManager.default.fileExists(atPath: target.appendingPathComponent("inside").path))

        let full = FileWriteError(code: ENOSPC, path: "/data/models/m_1/model.weights.safetensors.tmp")
        #expect(full.isDiskFull)
        #expect(!full.description.contains("/"))
        #expect(full.description.contains("no space left"))
    }
}
