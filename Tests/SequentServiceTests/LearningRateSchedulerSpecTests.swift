import Foundation
import Testing
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The `learning_rate_scheduler` callback as a job spec sees it: 400s at submission, the epoch rows of a
/// job that resumes from a checkpoint, and a schedule that fails at run time.
@Suite(.serialized) struct LearningRateSchedulerSpecTests {
    func spec(_ callback: JSONValue, optimizer: JSONValue = "adam", epochs: Int = 3) -> JSONValue {
        guard case .object(var o) = TrainingServiceTests.spec(epochs: epochs) else { fatalError() }
        o["callbacks"] = [callback]
        o["compile"] = ["optimizer": optimizer, "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]]
        return .object(o)
    }

    func error(_ value: JSONValue) -> ConfigError? {
        do { _ = try JobSpec.parse(value); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    @Test func badSchedulesAreRefusedNamingTheFieldAndPosition() throws {
        let syntax = try #require(error(spec(["type": "learning_rate_scheduler", "schedule": "1e-8 * 10**(epoch/20"])))
        #expect(syntax.field == "callbacks[0].schedule")
        #expect(syntax.detail.contains("at position 21: expected ')' to close the '(' at position 12"))
        #expect(syntax.detail.contains("\"1e-8 * 10**(epoch/20\""))
        let hostile = try #require(error(spec(["type": "learning_rate_scheduler", "schedule": "__import__('os').system('x')"])))
        #expect(hostile.field == "callbacks[0].schedule" && hostile.detail.contains("position 12"))
        let attribute = try #require(error(spec(["type": "learning_rate_scheduler", "schedule": "epoch.__class__"])))
        #expect(attribute.detail.contains("unknown name 'epoch.__class__'"))
        let long = try #require(error(spec(["type": "learning_rate_scheduler", "schedule": .string(String(repeating: "a", count: 2000))])))
        #expect(long.field == "callbacks[0].schedule" && long.detail.contains("at most 1000"))
        #expect(error(spec(["type": "learning_rate_scheduler"]))?.message == "callbacks[0].schedule is required")
        #expect(error(spec(["type": "learning_rate_scheduler", "schedule": 0.1]))?.field == "callbacks[0].schedule")
        #expect(error(spec(["type": "learning_rate_scheduler", "schedule": "lr", "factor": 2]))?.field == "callbacks[0].factor")
        // Keras's `verbose` is accepted.
        #expect(error(spec(["type": "learning_rate_scheduler", "schedule": "lr", "verbose": 1])) == nil)
    }

    @Test func anOptimizerWithAScheduleIsRefused() throws {
        let scheduled: JSONValue = ["type": "sgd", "learning_rate": ["class_name": "ExponentialDecay",
                                    "config": ["initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5]]]
        let e = try #require(error(spec(["type": "learning_rate_scheduler", "schedule": "lr"], optimizer: scheduled)))
        #expect(e.field == "callbacks[0].type")
        #expect(e.detail.contains("learning_rate_scheduler cannot change the rate of an optimizer whose learning_rate is a schedule"))
        // Through the service: a 400 naming the field.
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        do {
            _ = try service.submit(spec(["type": "learning_rate_scheduler", "schedule": "lr * (2"]))
            Issue.record("submitted")
        } catch let e as ServiceError {
            #expect(e.status == 400 && e.field == "callbacks[0].schedule" && e.message.contains("position 8"))
        }
    }

    @Test func aResumedJobComputesTheSameRateForTheSameEpoch() throws {
        // A crash after epoch 1 of `lr * 0.5` from Adam's 0.001: the checkpoint holds 0.0005; epochs 2 and 3
        // must train with 0.00025 and 0.000125, as they would have without the crash.
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        let job = try service.submit(spec(["type": "learning_rate_scheduler", "schedule": "lr * 0.5"]))
        var claimed = try #require(try service.store.claimNext())
        let model = try JobSpec.parse(try JSONValue.parse(claimed.specJSON)).makeModel()
        model.optimizer!.learningRate = 0.0005
        try ModelArchive.save(model, to: service.checkpointDirectory(job.id, epoch: 1), includeOptimizer: true)
        claimed.checkpointEpoch = 1
        try service.store.recordEpoch(SequentStore.EpochRecord(jobID: job.id, epoch: 1, logs: ["loss": 1, "learning_rate": Double(Float(0.0005))],
                                                               learningRate: Double(Float(0.0005)), durationSeconds: 1, samplesPerSecond: 1), job: claimed)
        try service.start()
        defer { service.shutdown() }
        let done = try TrainingServiceTests.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        let epochs = try service.store.epochs(jobID: job.id)
        let expected = [0.0005, 0.00025, 0.000125].map { Double(Float($0)) }
        #expect(epochs.map(\.learningRate) == expected)
        // The logs go through the store's JSON, which keeps 16 significant digits.
        for (row, rate) in zip(epochs, expected) { #expect(abs(row.logs["learning_rate"]! - rate) < rate * 1e-14) }
    }

    @Test func aScheduleGivingANegativeRateFailsTheJob() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try TrainingServiceTests.makeService(dir)
        try service.start()
        defer { service.shutdown() }
        let job = try service.submit(spec(["type": "learning_rate_scheduler", "schedule": "lr if epoch < 1 else 0.001 - epoch"]))
        let done = try TrainingServiceTests.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .failed)
        #expect(done.error == "learning_rate_scheduler: the schedule gave the learning rate -0.999 (lr=0.0010000000474974513) at epoch 2 (epoch=1 in \"lr if epoch < 1 else 0.001 - epoch\")")
        #expect(try service.store.epochs(jobID: job.id).map(\.epoch) == [1])
    }
}
