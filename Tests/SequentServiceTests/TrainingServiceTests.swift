import Foundation
import Logging
import Testing
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The scheduler and workers against a real SQLite file and real Fashion-MNIST data (small subsets).
@Suite(.serialized) struct TrainingServiceTests {
    static func makeService(_ dir: URL, workers: Int = 1, maxQueued: Int = 100) throws -> TrainingService {
        var c = ServiceConfiguration()
        c.dataDirectory = dir.path
        c.fashionMNISTDirectory = JobSpecTests.fashionDirectory
        c.workers = workers
        c.threadsPerJob = 1
        c.maxQueuedJobs = maxQueued
        c.metricsEvery = 5
        return try TrainingService(configuration: c, logger: Logger(label: "test"))
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-svc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func spec(epochs: Int, trainLimit: Int = 512, name: String = "tiny") -> JSONValue {
        ["name": .string(name),
         "dataset": ["name": "fashion_mnist", "validation": "test", "train_limit": .number(Double(trainLimit)), "test_limit": 128],
         "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 32, "activation": "relu"],
                                                          ["type": "Dense", "units": 10, "activation": "softmax"]]],
         "fit": ["epochs": .number(Double(epochs)), "batch_size": 32, "seed": 3]]
    }

    /// Polls until the job reaches one of `states` (or fails the test after `timeout`).
    static func wait(_ service: TrainingService, _ id: String, for states: Set<JobState>, timeout: TimeInterval = 60) throws -> JobRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let j = try service.store.job(id: id), states.contains(j.state) { return j }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TrainingError("job \(id) did not reach \(states) in \(timeout) s: \(String(describing: try service.store.job(id: id)?.state))")
    }

    @Test func jobRunsToSuccessAndRegistersItsModel() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        try service.start()
        defer { service.shutdown() }
        let job = try service.submit(Self.spec(epochs: 2))
        #expect(job.state == .queued)
        let done = try Self.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        let epochs = try service.store.epochs(jobID: job.id)
        #expect(epochs.map(\.epoch) == [1, 2])
        #expect(epochs.allSatisfy { $0.logs["val_accuracy"] != nil && $0.samplesPerSecond > 0 })
        let modelID = try #require(done.modelID)
        let model = try #require(try service.store.model(id: modelID))
        #expect(FileManager.default.fileExists(atPath: model.path + "/model.weights.safetensors"))
        #expect(model.sha256.count == 64)
        #expect(model.metadataJSON.contains("Ankle boot"))
        #expect(try service.store.metrics(jobID: job.id, key: "loss").count >= 5)
        // Checkpoints are removed once the job is done (right after its final state is stored, so poll briefly).
        let checkpoints = dir.appendingPathComponent("checkpoints/\(job.id)").path
        let deadline = Date().addingTimeInterval(5)
        while FileManager.default.fileExists(atPath: checkpoints) && Date() < deadline { usleep(10_000) }
        #expect(!FileManager.default.fileExists(atPath: checkpoints))
        let view = JobView.json(done, service: service)
        #expect(view["metrics"]?["test_accuracy"]?.doubleValue != nil)
    }

    @Test func cancelStopsARunningJobWithinABatch() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        try service.start()
        defer { service.shutdown() }
        let job = try service.submit(Self.spec(epochs: 50, trainLimit: 5000))
        _ = try Self.wait(service, job.id, for: [.running])
        // Let it get into training.
        let deadline = Date().addingTimeInterval(30)
        while service.liveState(job.id)?.progress.isEmpty ?? true, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let cancelling = try service.cancel(id: job.id)
        #expect(cancelling.state == .cancelling || cancelling.state == .cancelled)
        let t0 = Date()
        let done = try Self.wait(service, job.id, for: [.cancelled, .succeeded, .failed], timeout: 10)
        #expect(done.state == .cancelled)
        #expect(Date().timeIntervalSince(t0) < 2)
        #expect(done.stopReason?.hasPrefix("cancelled at epoch") == true)
        #expect(throws: ServiceError.self) { try service.cancel(id: job.id) }   // 409 once finished
    }

    @Test func queuedJobsCancelAtOnceAndTheQueueIsBounded() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir, maxQueued: 2)
        // Not started: jobs stay queued.
        let a = try service.submit(Self.spec(epochs: 1))
        _ = try service.submit(Self.spec(epochs: 1))
        do {
            _ = try service.submit(Self.spec(epochs: 1))
            Issue.record("expected 429")
        } catch let e as ServiceError {
            #expect(e.status == 429)
        }
        #expect(try service.cancel(id: a.id).state == .cancelled)
    }

    @Test func limitsAndValidationErrorsCarryStatusAndField() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = ServiceConfiguration()
        c.dataDirectory = dir.path
        c.maxParameters = 20_000
        let service = try TrainingService(configuration: c, logger: Logger(label: "test"))
        do {
            _ = try service.submit(Self.spec(epochs: 1))
            Issue.record("expected 422")
        } catch let e as ServiceError {
            #expect(e.status == 422)
            #expect(e.message == "the model has 25450 parameters, the limit is 20000")
        } catch { Issue.record("\(error)") }
        do {
            var s = Self.spec(epochs: 1)
            if case .object(var o) = s { o["fit"] = ["epochs": -1]; s = .object(o) }
            _ = try service.submit(s)
        } catch let e as ServiceError {
            #expect(e.status == 400 && e.field == "fit.epochs")
        }
    }

    @Test func anEnormousModelIsRefusedWithoutAllocatingIt() throws {
        // 784 × 4,000,000 weights would be 12.5 GB of floats (and twice that for Adam's moments): validating
        // and refusing it must not allocate any of it.
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        let spec: JSONValue = ["model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 4_000_000],
                                                                                ["type": "Dense", "units": 10, "activation": "softmax"]]]]
        do {
            _ = try service.submit(spec)
            Issue.record("expected 422")
        } catch let e as ServiceError {
            #expect(e.status == 422)
            #expect(e.message.hasPrefix("the model has 3180000010 parameters"))
        }
    }

    @Test func shutdownRequeuesAndANewProcessResumesWithoutDuplicateEpochs() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Self.makeService(dir)
        try first.start()
        let job = try first.submit(Self.spec(epochs: 4, trainLimit: 3000))
        // Wait for the first epoch to be checkpointed, then stop the server mid-training.
        let deadline = Date().addingTimeInterval(60)
        while (try first.store.job(id: job.id)?.checkpointEpoch ?? 0) < 1, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        first.shutdown()
        let stopped = try #require(try first.store.job(id: job.id))
        #expect(stopped.state == .queued || stopped.state == .succeeded)
        if stopped.state == .queued {
            #expect(stopped.checkpointEpoch >= 1)
            #expect(FileManager.default.fileExists(atPath: first.checkpointDirectory(job.id, epoch: stopped.checkpointEpoch).path))
        }
        let second = try Self.makeService(dir)
        try second.start()
        defer { second.shutdown() }
        let done = try Self.wait(second, job.id, for: [.succeeded, .failed])
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        #expect(try second.store.epochs(jobID: job.id).map(\.epoch) == [1, 2, 3, 4])
        let steps = try second.store.metrics(jobID: job.id, key: "loss").map(\.step)
        #expect(steps == steps.sorted() && Set(steps).count == steps.count)
    }

    @Test func aJobFoundRunningAtStartUpIsResumed() throws {
        // What a crash leaves behind: a job marked running with a checkpoint of epoch 1.
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        let job = try service.submit(Self.spec(epochs: 2))
        var claimed = try #require(try service.store.claimNext())
        let spec = try JobSpec.parse(try JSONValue.parse(claimed.specJSON))
        let model = try spec.makeModel()
        try ModelArchive.save(model, to: service.checkpointDirectory(job.id, epoch: 1), includeOptimizer: true)
        claimed.checkpointEpoch = 1
        try service.store.recordEpoch(SequentStore.EpochRecord(jobID: job.id, epoch: 1, logs: ["loss": 1], learningRate: 0.001,
                                                               durationSeconds: 1, samplesPerSecond: 1), job: claimed)
        #expect(try service.store.job(id: job.id)?.state == .running)
        try service.start()
        defer { service.shutdown() }
        let done = try Self.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .succeeded)
        let epochs = try service.store.epochs(jobID: job.id)
        #expect(epochs.map(\.epoch) == [1, 2])
        #expect(epochs[0].logs["loss"] == 1)   // epoch 1 was not re-run
    }

    @Test func aMissingCheckpointFailsTheJobWithAReason() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        let job = try service.submit(Self.spec(epochs: 2))
        var claimed = try #require(try service.store.claimNext())
        claimed.checkpointEpoch = 1
        try service.store.update(claimed)
        try service.start()
        defer { service.shutdown() }
        let done = try Self.wait(service, job.id, for: [.succeeded, .failed])
        #expect(done.state == .failed)
        let error = try #require(done.error)
        // Written for the user: what failed and what to do, no Foundation error text, no server path.
        #expect(error.contains("the checkpoint of epoch 1 is missing or unreadable"), "\(error)")
        #expect(error.contains("resubmit the job"), "\(error)")
        #expect(!error.contains("Domain=") && !error.contains("/"), "\(error)")
    }

    @Test func aCancelBetweenClaimAndRegistrationIsHonoured() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let service = try Self.makeService(dir)
        let claimed = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        // Holds the worker after the claim, before the job is registered as live: where a cancel used to be lost.
        service.afterClaimHook = { _ in
            claimed.signal()
            release.wait()
        }
        try service.start()
        defer { service.shutdown() }
        defer { release.signal() }   // never leave the worker held, even when an expectation fails
        let job = try service.submit(Self.spec(epochs: 2))
        try #require(claimed.wait(timeout: .now() + 30) == .success)
        #expect(try service.store.job(id: job.id)?.state == .running)
        #expect(try service.cancel(id: job.id).state == .cancelling)
        release.signal()
        let done = try Self.wait(service, job.id, for: [.cancelled, .succeeded, .failed])
        #expect(done.state == .cancelled)
        #expect(done.modelID == nil)
        #expect(try service.store.epochs(jobID: job.id).isEmpty)
    }

    @Test func metricsDownsamplingKeepsEndsAndExtremes() {
        let points = (0..<1000).map { MetricPoint(key: "loss", step: $0, wallTime: Double($0), value: $0 == 500 ? 99 : Double($0 % 7)) }
        let d = API.downsample(points, to: 100)
        #expect(d.count <= 100)
        #expect(d.first?.step == 0 && d.last?.step == 999)
        #expect(d.contains { $0.value == 99 })
        #expect(d.map(\.step) == d.map(\.step).sorted())
        #expect(API.downsample(Array(points.prefix(10)), to: 100).count == 10)
    }
}
