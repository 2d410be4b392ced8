import Foundation
import Testing
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// What a `kill -9` can leave in the data directory, and how the next start treats it (scripts/crash-soak.sh
/// is the end-to-end version with real processes).
@Suite(.serialized) struct CrashResumeTests {
    @Test func startUpRemovesFilesNoRecordPointsAt() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        let fm = FileManager.default
        func touch(_ path: String) throws {
            let url = dir.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: url)
        }
        func exists(_ path: String) -> Bool { fm.fileExists(atPath: dir.appendingPathComponent(path).path) }

        // A job that finished just before the kill: its checkpoints were not deleted yet.
        let done = try service.submit(TrainingServiceTests.spec(epochs: 1, name: "done"))
        var finished = try #require(try service.store.claimNext())
        finished.state = .succeeded
        try service.store.update(finished)
        try touch("checkpoints/\(done.id)/epoch-1/model.weights.safetensors")
        // A job killed while writing the checkpoint of epoch 3 (epoch 2 is the committed one).
        let running = try service.submit(TrainingServiceTests.spec(epochs: 5, name: "running"))
        var claimed = try #require(try service.store.claimNext())
        claimed.checkpointEpoch = 2
        try service.store.update(claimed)
        try touch("checkpoints/\(running.id)/epoch-2/model.weights.safetensors")
        try touch("checkpoints/\(running.id)/epoch-3/model.weights.safetensors.tmp")
        try touch("checkpoints/\(running.id)/user/checkpoint-01/config.json.tmp")
        try touch("checkpoints/\(running.id)/user/checkpoint-01/model.weights.safetensors")
        // A model written but not recorded, and a recorded one.
        try touch("models/m_unrecorded/model.weights.safetensors")
        try touch("models/m_recorded/model.weights.safetensors")
        var owner = try service.store.job(id: done.id)!
        owner.modelID = "m_recorded"
        try service.store.addModel(ModelRecord(id: "m_recorded", jobID: done.id, name: "done",
                                               path: dir.appendingPathComponent("models/m_recorded").path,
                                               sha256: "x", metadataJSON: "{}"), finishing: owner)
        try touch("checkpoints/j_nosuchjob/epoch-1/config.json")

        let removed = try service.sweepDataDirectory()
        #expect(!exists("checkpoints/\(done.id)"))
        #expect(exists("checkpoints/\(running.id)/epoch-2/model.weights.safetensors"))
        #expect(!exists("checkpoints/\(running.id)/epoch-3"))
        #expect(!exists("checkpoints/\(running.id)/user/checkpoint-01/config.json.tmp"))
        #expect(exists("checkpoints/\(running.id)/user/checkpoint-01/model.weights.safetensors"))
        #expect(!exists("models/m_unrecorded"))
        #expect(exists("models/m_recorded/model.weights.safetensors"))
        #expect(!exists("checkpoints/j_nosuchjob"))
        #expect(removed.count == 5, "\(removed)")
    }
}

extension CrashResumeTests {
    /// A job a callback stopped at epoch 1 (recorded with that epoch), killed before it finished: the next start
    /// finishes it as it would have, with its stop reason and no epoch 2.
    @Test func aJobStoppedByACallbackIsNotTrainedPastTheStopOnResume() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        guard case .object(var spec) = TrainingServiceTests.spec(epochs: 5) else { return }
        spec["callbacks"] = [["type": "threshold_stop", "monitor": "loss", "below": 1000]]
        let job = try service.submit(.object(spec))
        var claimed = try #require(try service.store.claimNext())
        let model = try JobSpec.parse(try JSONValue.parse(claimed.specJSON)).makeModel()
        try ModelArchive.save(model, to: service.checkpointDirectory(job.id, epoch: 1), includeOptimizer: true)
        claimed.checkpointEpoch = 1
        claimed.stopReason = "threshold_stop: loss 0.9 < 1000"
        try service.store.recordEpoch(SequentStore.EpochRecord(jobID: job.id, epoch: 1, logs: ["loss": 0.9], learningRate: 0.001,
                                                               durationSeconds: 1, samplesPerSecond: 1), job: claimed)
        try service.start()
        defer { service.shutdown() }
        let done = try TrainingServiceTests.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        #expect(try service.store.epochs(jobID: job.id).map(\.epoch) == [1])
        #expect(done.stopReason == "threshold_stop: loss 0.9 < 1000")
        #expect(done.modelID != nil)
    }

    /// The stop is recorded in the epoch's transaction (what the test above starts from).
    @Test func aCallbacksStopIsRecordedWithItsEpoch() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        let job = try service.submit(TrainingServiceTests.spec(epochs: 5))
        let claimed = try #require(try service.store.claimNext())
        let model = try JobSpec.parse(try JSONValue.parse(claimed.specJSON)).makeModel()
        let recorder = JobRecorder(service: service, job: claimed, live: TrainingService.LiveJob(), metricsEvery: 5)
        model.stopTraining = true
        model.stopReason = "threshold_stop: accuracy 0.9 > 0.8"
        recorder.onEpochEnd(0, logs: ["loss": 0.5, "accuracy": 0.9], model: model)
        let stored = try #require(try service.store.job(id: job.id))
        #expect(stored.checkpointEpoch == 1)
        #expect(stored.stopReason == "threshold_stop: accuracy 0.9 > 0.8")
        #expect(FileManager.default.fileExists(atPath: service.checkpointDirectory(job.id, epoch: 1).path + "/config.json"))
    }
}
