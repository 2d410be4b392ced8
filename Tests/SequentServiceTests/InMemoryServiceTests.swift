import Foundation
import Logging
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The scheduler and the API handlers on the in-memory store, artifact store and event bus: no SQLite, no socket,
/// no model folders in the data directory. Also what leases add: a worker that lost its job stops, a job whose
/// worker died is requeued, a cancel the bus never delivered still arrives with the heartbeat.
@Suite(.serialized) struct InMemoryServiceTests {
    /// An event bus that drops cancel signals, as a lost NOTIFY would.
    final class DeafBus: EventBus, @unchecked Sendable {
        let hub = EventHub()
        func publish(jobID: String, name: String, data: String) { hub.publish(jobID: jobID, name: name, data: data) }
        func subscribe(jobID: String, deliver: @escaping @Sendable (JobEvent) -> Void,
                       closed: @escaping @Sendable () -> Void) -> EventSubscription {
            hub.subscribe(jobID: jobID, deliver: deliver, closed: closed)
        }
        func unsubscribe(_ subscription: EventSubscription) { hub.unsubscribe(subscription) }
        func close(jobID: String?) { hub.close(jobID: jobID) }
        func signalCancel(jobID: String) {}
        func onCancel(jobID: String, _ handler: @escaping @Sendable () -> Void) -> EventSubscription {
            hub.onCancel(jobID: jobID, handler)
        }
    }

    final class Backends {
        let store = InMemoryStore()
        let artifacts = InMemoryArtifactStore()
        let dir: URL
        let service: TrainingService

        init(lease: Double = 30, heartbeat: Double? = nil, events: any EventBus = EventHub()) throws {
            dir = try TrainingServiceTests.tempDir()
            var c = ServiceConfiguration()
            c.dataDirectory = dir.path
            c.fashionMNISTDirectory = JobSpecTests.fashionDirectory
            c.workers = 1
            c.threadsPerJob = 1
            c.metricsEvery = 5
            c.leaseSeconds = lease
            c.heartbeatSeconds = heartbeat
            // ownsStore false: as on a store shared with other machines, only leases recover jobs.
            service = TrainingService(configuration: c, logger: Logger(label: "test"), store: store, artifacts: artifacts,
                                      events: events, ownsStore: false)
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static func until(_ what: String, timeout: TimeInterval = 60, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { throw TrainingError("timed out waiting for \(what)") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    static func json(_ response: HTTPResponse) throws -> JSONValue { try JSONValue.parse(Data(response.body)) }

    @Test func aJobTrainsRegistersItsModelInTheArtifactStoreAndPredicts() throws {
        let b = try Backends()
        let app = HTTPApp(service: b.service, logger: Logger(label: "test"))
        try b.service.start()
        defer { b.service.shutdown() }
        let job = try b.service.submit(TrainingServiceTests.spec(epochs: 2))
        var sawWorker = false
        try Self.until("the job to finish") {
            let view = JobView.json(try #require(try b.store.job(id: job.id)), service: b.service)
            if view["state"]?.stringValue == "running", let w = view["worker"], w != .null {
                sawWorker = w["host"]?.stringValue == ProcessInfo.processInfo.hostName
                    && w["pid"]?.intValue == Int(ProcessInfo.processInfo.processIdentifier)
                    && w["id"]?.stringValue?.hasPrefix("w_") == true
            }
            return try b.store.job(id: job.id)?.state.isFinished == true
        }
        let done = try #require(try b.store.job(id: job.id))
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        #expect(sawWorker)
        #expect(done.worker == nil && JobView.json(done, service: b.service)["worker"] == .null)
        #expect(try b.store.epochs(jobID: job.id).map(\.epoch) == [1, 2])
        let modelID = try #require(done.modelID)
        let model = try #require(try b.store.model(id: modelID))
        #expect(try b.artifacts.list(.model) == [model.id])
        #expect(model.artifactSHA256 != nil && model.sha256.count == 64)
        // Checkpoints are removed once the job is done.
        try Self.until("the checkpoints to go") { try b.artifacts.list(.checkpoint).isEmpty }
        #expect(!FileManager.default.fileExists(atPath: b.dir.appendingPathComponent("models").path))

        let body = JSONValue.object(["instances": .array([.array((0..<784).map { _ in .number(0) })])]).serialized()
        let response = app.handle(try HTTPRequest(method: "POST", target: "/v1/models/\(model.id):predict",
                                                  headers: ["Content-Type": "application/json"], body: Array(body.utf8)))
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        #expect(try Self.json(response)["predictions"]?.arrayValue?.first?.arrayValue?.count == 10)
    }

    @Test func aCorruptedModelIsRefused() throws {
        let b = try Backends()
        let staging = try b.artifacts.stage(.model)
        try ModelArchive.save(try JobSpec.parse(TrainingServiceTests.spec(epochs: 1)).makeModel(), to: staging)
        let receipt = try b.artifacts.commit(staging, as: .model, id: "m_x")
        _ = try b.store.enqueue(JobRecord(id: "j", name: "tiny", specJSON: "{}"), maxQueued: 10)
        try b.store.addModel(ModelRecord(id: "m_x", jobID: "j", name: "tiny", path: "", sha256: "",
                                         metadataJSON: "{}", artifactSHA256: receipt.sha256))
        b.artifacts.corrupt(.model, id: "m_x")
        let predict = PredictService(store: b.store, artifacts: b.artifacts)
        #expect(throws: ServiceError.self) { _ = try predict.model("m_x") }
    }

    @Test func aCancelReachesTheWorkerThroughTheBus() throws {
        let b = try Backends()
        try b.service.start()
        defer { b.service.shutdown() }
        let job = try b.service.submit(TrainingServiceTests.spec(epochs: 50, trainLimit: 5000))
        try Self.until("training to start") { !(b.service.liveState(job.id)?.progress.isEmpty ?? true) }
        #expect(try b.service.cancel(id: job.id).state == .cancelling)
        try Self.until("the cancel", timeout: 10) { try b.store.job(id: job.id)?.state.isFinished == true }
        #expect(try b.store.job(id: job.id)?.state == .cancelled)
    }

    @Test func aCancelTheBusLostArrivesWithTheHeartbeat() throws {
        let b = try Backends(lease: 3, heartbeat: 0.05, events: DeafBus())
        try b.service.start()
        defer { b.service.shutdown() }
        let job = try b.service.submit(TrainingServiceTests.spec(epochs: 50, trainLimit: 5000))
        try Self.until("training to start") { !(b.service.liveState(job.id)?.progress.isEmpty ?? true) }
        #expect(try b.service.cancel(id: job.id).state == .cancelling)
        try Self.until("the cancel", timeout: 10) { try b.store.job(id: job.id)?.state.isFinished == true }
        let done = try #require(try b.store.job(id: job.id))
        #expect(done.state == .cancelled && done.stopReason?.hasPrefix("cancelled at epoch") == true)
    }

    @Test func aWorkerThatLostItsLeaseStopsAndWritesNothingMore() throws {
        let b = try Backends(lease: 3, heartbeat: 0.05)
        try b.service.start()
        defer { b.service.shutdown() }
        let job = try b.service.submit(TrainingServiceTests.spec(epochs: 50, trainLimit: 5000))
        try Self.until("training to start") { !(b.service.liveState(job.id)?.progress.isEmpty ?? true) }
        // Another machine takes the job over, as it would after this worker's lease lapsed.
        let other = WorkerIdentity(id: "w_other-0", host: "elsewhere", pid: 1)
        try Self.until("the other worker to hold the job") {
            _ = try b.store.requeueExpiredLeases(now: Date().addingTimeInterval(3600))
            return try b.store.claimNext(worker: other, leaseSeconds: 3600)?.id == job.id
        }
        let taken = try #require(try b.store.job(id: job.id))
        try Self.until("this worker to stop", timeout: 10) { b.service.liveState(job.id) == nil }
        let after = try #require(try b.store.job(id: job.id))
        #expect(after.state == .running && after.worker == other)
        #expect(after.finishedAt == nil && after.checkpointEpoch == taken.checkpointEpoch)
        #expect(try b.store.epochs(jobID: job.id).count == taken.checkpointEpoch)
    }

    @Test func aJobWhoseWorkerDiedIsRequeuedAndResumed() throws {
        let b = try Backends(lease: 30, heartbeat: 0.05)
        let job = try b.service.submit(TrainingServiceTests.spec(epochs: 1))
        // A worker on another machine claims it with a short lease and dies.
        let dead = WorkerIdentity(id: "w_dead-0", host: "gone", pid: 1)
        #expect(try b.store.claimNext(worker: dead, leaseSeconds: 0.2)?.id == job.id)
        try b.service.start()   // not the store's owner: start-up leaves the job to its lease
        defer { b.service.shutdown() }
        try Self.until("the job to finish") { try b.store.job(id: job.id)?.state.isFinished == true }
        let done = try #require(try b.store.job(id: job.id))
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        #expect(done.modelID != nil)
    }

    @Test func handlersAnswerFromTheInMemoryStore() throws {
        let b = try Backends()
        let app = HTTPApp(service: b.service, logger: Logger(label: "test"))   // not started: jobs stay queued
        func send(_ method: String, _ target: String, _ body: JSONValue? = nil) throws -> HTTPResponse {
            app.handle(try HTTPRequest(method: method, target: target, headers: ["Content-Type": "application/json"],
                                       body: body.map { Array($0.serialized().utf8) } ?? []))
        }
        var ids: [String] = []
        for _ in 0..<3 {
            let created = try send("POST", "/v1/jobs", TrainingServiceTests.spec(epochs: 1))
            #expect(created.status == 201)
            let id = try #require(try Self.json(created)["id"]?.stringValue)
            #expect(created.headers["Location"] == "/v1/jobs/\(id)")
            ids.append(id)
        }
        let one = try send("GET", "/v1/jobs/\(ids[0])")
        #expect(one.status == 200)
        #expect(try Self.json(one)["state"]?.stringValue == "queued")
        #expect(try Self.json(one)["worker"] == .null)
        let page = try Self.json(try send("GET", "/v1/jobs?limit=2"))
        #expect(page["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[2], ids[1]])
        let cursor = try #require(page["next_cursor"]?.stringValue)
        let rest = try Self.json(try send("GET", "/v1/jobs?limit=2&cursor=\(cursor)"))
        #expect(rest["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [ids[0]])
        #expect(rest["next_cursor"] == .null)
        #expect(try send("GET", "/v1/jobs/j_missing").status == 404)
        let cancelled = try send("POST", "/v1/jobs/\(ids[1])/cancel")
        #expect(cancelled.status == 202)
        #expect(try Self.json(cancelled)["state"]?.stringValue == "cancelled")
        #expect(try send("POST", "/v1/jobs/\(ids[1])/cancel").status == 409)
        #expect(try send("GET", "/v1/jobs/\(ids[0])/epochs").status == 200)
        #expect(try send("GET", "/v1/models/m_missing").status == 404)
        #expect(try Self.json(try send("GET", "/v1/models"))["models"]?.arrayValue?.isEmpty == true)
        let datasets = try Self.json(try send("GET", "/v1/datasets"))["datasets"]?.arrayValue
        #expect(datasets?.compactMap { $0["name"]?.stringValue } == ["fashion_mnist"])
        #expect(try send("DELETE", "/v1/datasets/shoes").status == 404)
    }

    @Test func aJobTrainsOnADatasetTheArtifactStoreHandsOut() throws {
        let b = try Backends()
        let app = HTTPApp(service: b.service, logger: Logger(label: "test"))
        // Two classes as JPEG folders, committed to the in-memory store: it opens them in a cache named by digest.
        let data = try FashionMNIST.load(directory: JobSpecTests.fashionDirectory, trainLimit: 1, testLimit: 1000).test
        let staging = try b.artifacts.stage(.dataset)
        var written = [0: 0, 9: 0]
        for i in 0..<data.count {
            let label = Int(data.y.scalars[i])
            guard let n = written[label], n < 40 else { continue }
            let pixels = data.x.scalars[(i * 784)..<((i + 1) * 784)].map { UInt8(($0 * 255).rounded()) }
            let dir = staging.appendingPathComponent(label == 0 ? "shirts" : "boots")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(try ImageDecoder.encodeJPEG(pixels, width: 28, height: 28, channels: 1, quality: 92))
                .write(to: dir.appendingPathComponent("\(i).jpg"))
            written[label] = n + 1
        }
        _ = try b.artifacts.commit(staging, as: .dataset, id: "shirts-boots")
        let listed = try Self.json(app.handle(try HTTPRequest(method: "GET", target: "/v1/datasets")))["datasets"]?.arrayValue
        #expect(listed?.compactMap { $0["name"]?.stringValue } == ["fashion_mnist", "shirts-boots"])
        let spec: JSONValue = [
            "name": "shirts-boots",
            "dataset": ["directory": "shirts-boots", "validation_split": 0.25, "target_size": [28, 28],
                        "color_mode": "grayscale", "class_mode": "binary"],
            "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 1, "activation": "sigmoid"]]],
            "compile": ["optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["accuracy"]],
            "fit": ["epochs": 1, "batch_size": 16]]
        do {
            var missing = spec
            if case .object(var o) = missing, case .object(var d)? = o["dataset"] {
                d["directory"] = "nope"
                o["dataset"] = .object(d)
                missing = .object(o)
            }
            _ = try b.service.submit(missing)
            Issue.record("expected 400 for a dataset the store does not have")
        } catch let e as ServiceError {
            #expect(e.status == 400 && e.field == "dataset.directory")
        }
        try b.service.start()
        defer { b.service.shutdown() }
        let job = try b.service.submit(spec)
        try Self.until("the job to finish") { try b.store.job(id: job.id)?.state.isFinished == true }
        let done = try #require(try b.store.job(id: job.id))
        #expect(done.state == .succeeded, "\(done.error ?? "")")
        let modelID = try #require(done.modelID)
        #expect(try b.store.model(id: modelID)?.metadataJSON.contains("\"boots\"") == true)
    }
}
