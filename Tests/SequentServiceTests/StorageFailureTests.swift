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

    @Test func aCheckpointThatCannotBeWrittenFailsTheJob() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        let job = try service.submit(TrainingServiceTests.spec(epochs: 3))
        // A file where the job's checkpoint folder goes: the save of epoch 1 fails.
        try Data("x".utf8).write(to: dir.appendingPathComponent("checkpoints/\(job.id)"))
        try service.start()
        defer { service.shutdown() }
        let done = try TrainingServiceTests.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .failed)
        let error = try #require(done.error)
        #expect(error.hasPrefix("cannot save the checkpoint of epoch 1: the file could not be written"), "\(error)")
        #expect(!error.contains(dir.path) && !error.contains("checkpoints") && !error.contains("Domain="), "\(error)")
        #expect(error.hasSuffix("(Not a directory)"), "\(error)")
        // Training stopped there: no epoch recorded without its checkpoint, epochs 2 and 3 never ran, no model.
        #expect(try service.store.epochs(jobID: job.id).isEmpty)
        #expect(done.checkpointEpoch == 0)
        #expect(done.modelID == nil)
        #expect(try service.store.models(limit: 10).isEmpty)
    }
}
