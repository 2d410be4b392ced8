import Foundation
import Logging
import Testing
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// The service over HTTP on 127.0.0.1 with a real client: in-process for the API, and as a real
/// `sequent serve` child process for kill -9 / SIGTERM.
@Suite(.serialized) struct EndToEndTests {
    /// A running in-process server on an ephemeral port.
    final class Server {
        let dir: URL
        let service: TrainingService
        let app: HTTPApp
        var client: HTTPClient

        init(token: String? = nil, maxQueued: Int = 100, maxParameters: Int = 50_000_000,
             configure: (inout ServiceConfiguration) -> Void = { _ in }) throws {
            dir = try TrainingServiceTests.tempDir()
            var c = ServiceConfiguration()
            c.port = 0
            c.dataDirectory = dir.path
            c.fashionMNISTDirectory = JobSpecTests.fashionDirectory
            c.threadsPerJob = 1
            c.metricsEvery = 5
            c.token = token
            c.maxQueuedJobs = maxQueued
            c.maxParameters = maxParameters
            configure(&c)
            var logger = Logger(label: "e2e")
            logger.logLevel = .warning
            service = try TrainingService(configuration: c, logger: logger)
            try service.start()
            app = HTTPApp(service: service, logger: logger)
            try app.start()
            client = HTTPClient(port: app.server.port, token: token)
        }

        func stop() {
            app.server.shutdown(gracePeriod: 2)
            service.shutdown()
            try? FileManager.default.removeItem(at: dir)
        }

        /// Polls GET /v1/jobs/{id} until the state is one of `states`.
        func wait(_ id: String, for states: Set<String>, timeout: TimeInterval = 60) throws -> JSONValue {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let job = try client.request("GET", "/v1/jobs/\(id)").json
                if let s = job["state"]?.stringValue, states.contains(s) { return job }
                Thread.sleep(forTimeInterval: 0.05)
            }
            throw HTTPClient.Failure(description: "job \(id) never reached \(states)")
        }
    }

    static func specText(epochs: Int, trainLimit: Int = 1024, model: String? = nil) -> String {
        let m = model ?? #"{"input_shape": [28, 28, 1], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 32, "activation": "relu"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#
        return #"{"name": "e2e", "dataset": {"name": "fashion_mnist", "validation": "test", "train_limit": \#(trainLimit), "test_limit": 256}, "model": \#(m), "fit": {"epochs": \#(epochs), "batch_size": 32}}"#
    }

    @Test func submitPollSucceedListEpochsAndModel() throws {
        let server = try Server()
        defer { server.stop() }
        let created = try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 2))
        #expect(created.status == 201)
        let id = try #require(created.json["id"]?.stringValue)
        #expect(created.headers["location"] == "/v1/jobs/\(id)")
        #expect(created.json["state"] == "queued")
        #expect(created.json["spec"]?["fit"]?["shuffle"] == true)   // defaults filled in
        let done = try server.wait(id, for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded")
        #expect(done["progress"]?["epoch"] == 2)
        let epochs = try server.client.request("GET", "/v1/jobs/\(id)/epochs").json
        #expect(epochs["epochs"]?.arrayValue?.map { $0["epoch"]?.intValue } == [1, 2])
        #expect(epochs["epochs"]?.arrayValue?.first?["val_accuracy"]?.doubleValue != nil)
        // The same rows are in SQLite.
        let rows = try #require(server.service.store as? SQLiteStore).database.query("SELECT epoch FROM epochs WHERE job_id = ? ORDER BY epoch", [.text(id)])
        #expect(rows.map { $0["epoch"].int } == [1, 2])
        let metrics = try server.client.request("GET", "/v1/jobs/\(id)/metrics?max_points=10").json
        #expect((metrics["series"]?["loss"]?.arrayValue?.count ?? 0) > 2)
        let modelID = try #require(done["model_id"]?.stringValue)
        let model = try server.client.request("GET", "/v1/models/\(modelID)")
        #expect(model.status == 200)
        #expect(model.json["class_names"]?.arrayValue?.count == 10)
        #expect(model.json["input_shape"] == [28, 28, 1])
        #expect(try server.client.request("GET", "/v1/models/e2e").json["id"]?.stringValue == modelID)   // by job name
        let list = try server.client.request("GET", "/v1/jobs?state=succeeded").json
        #expect(list["jobs"]?.arrayValue?.first?["id"]?.stringValue == id)
        #expect(try server.client.request("POST", "/v1/jobs/\(id)/cancel").status == 409)
    }

    @Test func cancelRunningJobOverHTTP() throws {
        let server = try Server()
        defer { server.stop() }
        let id = try #require(try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 100, trainLimit: 10000)).json["id"]?.stringValue)
        _ = try server.wait(id, for: ["running"])
        let deadline = Date().addingTimeInterval(30)
        while server.service.liveState(id)?.progress.isEmpty ?? true, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        // As the README's curl sends it: no body, and neither Content-Length nor Transfer-Encoding.
        let r = try server.client.request("POST", "/v1/jobs/\(id)/cancel", bodyBytes: nil, framesEmptyPost: false)
        #expect(r.status == 202)
        #expect(["cancelling", "cancelled"].contains(r.json["state"]?.stringValue ?? ""))
        let done = try server.wait(id, for: ["cancelled", "succeeded", "failed"], timeout: 5)
        #expect(done["state"] == "cancelled")
    }

    @Test func errorsNameTheFieldAndUseTheRightStatus() throws {
        let server = try Server(maxParameters: 1000)
        defer { server.stop() }
        let bad = try server.client.request("POST", "/v1/jobs", body: #"{"model": {"input_shape": [28, 28, 1], "layers": [{"type": "Dense", "units": -3}]}}"#)
        #expect(bad.status == 400)
        #expect(bad.json["error"]?["field"] == "model.layers[0].units")
        #expect(bad.json["error"]?["message"] == "model.layers[0].units must be > 0, got -3")
        let notJSON = try server.client.request("POST", "/v1/jobs", body: "{nope")
        #expect(notJSON.status == 400)
        #expect(notJSON.json["error"]?["code"] == "invalid_json")
        let big = try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 1))
        #expect(big.status == 422)
        #expect(big.json["error"]?["message"]?.stringValue?.contains("25450 parameters") == true)
        #expect(try server.client.request("GET", "/v1/jobs/j_missing").status == 404)
        #expect(try server.client.request("GET", "/v1/jobs/j_missing/epochs").status == 404)
        #expect(try server.client.request("POST", "/v1/jobs/j_missing/cancel").status == 404)
        #expect(try server.client.request("GET", "/v1/models/m_missing").status == 404)
        #expect(try server.client.request("GET", "/v1/jobs?state=bogus").status == 400)
        #expect(try server.client.request("GET", "/v1/jobs?limit=0").status == 400)
        #expect(try server.client.request("DELETE", "/v1/jobs").status == 405)
        #expect(try server.client.request("POST", "/v1/jobs", body: "x", contentType: "multipart/form-data; boundary=x").status == 415)
    }

    @Test func kerasToJSONModelTrains() throws {
        let server = try Server()
        defer { server.stop() }
        let keras = #"{"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 28, 28, 1], "dtype": "float32", "name": "input_layer"}}, {"class_name": "Conv2D", "config": {"name": "conv2d", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "trainable": true, "dtype": "float32"}}, {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": [2, 2], "padding": "valid", "strides": [2, 2], "data_format": "channels_last"}}, {"class_name": "Flatten", "config": {"name": "flatten", "data_format": "channels_last"}}, {"class_name": "Dense", "config": {"name": "dense", "units": 10, "activation": "softmax", "use_bias": true}}]}}"#
        let r = try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 1, trainLimit: 256, model: keras))
        #expect(r.status == 201, "\(r.text)")
        let id = try #require(r.json["id"]?.stringValue)
        let done = try server.wait(id, for: ["succeeded", "failed"])
        #expect(done["state"] == "succeeded", "\(done["error"]?.brief ?? "")")
        let model = try server.client.request("GET", "/v1/models/\(done["model_id"]?.stringValue ?? "")").json
        #expect(model["summary"]?.arrayValue?.map { $0["type"]?.stringValue ?? "" } == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"])
    }

    @Test func tokenProtectsMutatingRoutes() throws {
        let server = try Server(token: "s3cret")
        defer { server.stop() }
        var anonymous = server.client
        anonymous.token = nil
        let r = try anonymous.request("POST", "/v1/jobs", body: Self.specText(epochs: 1))
        #expect(r.status == 401)
        #expect(r.headers["www-authenticate"] == "Bearer")
        #expect(try anonymous.request("GET", "/v1/jobs").status == 200)   // reads stay open
        #expect(try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 1)).status == 201)
    }

    @Test func openAPIDocumentsEveryRoute() throws {
        let server = try Server()
        defer { server.stop() }
        let doc = try server.client.request("GET", "/openapi.json").json
        #expect(doc["openapi"] == "3.1.0")
        let paths = doc["paths"]?.objectValue ?? [:]
        for route in server.app.router.routes {
            let op = paths[route.pattern]?[route.method.lowercased()]
            #expect(op != nil, "\(route.method) \(route.pattern) is missing from /openapi.json")
        }
        #expect(try server.client.request("GET", "/healthz").json == ["status": "ok"])
        let metrics = try server.client.request("GET", "/metrics")
        #expect(metrics.text.contains("sequent_http_requests_total{method=\"GET\",route=\"/openapi.json\",status=\"200\"} 1"))
        #expect(metrics.text.contains("sequent_jobs{state=\"queued\"}"))
    }

    @Test func eventsStreamProgressEpochsAndFinalState() throws {
        let server = try Server()
        defer { server.stop() }
        let id = try #require(try server.client.request("POST", "/v1/jobs", body: Self.specText(epochs: 2, trainLimit: 2048)).json["id"]?.stringValue)
        let stream = try server.client.request("GET", "/v1/jobs/\(id)/events", timeout: 60)
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let text = stream.text
        #expect(text.hasPrefix("event: state\n"))
        #expect(text.contains("event: epoch\n"))
        #expect(text.contains("\"state\":\"succeeded\""))
    }

    // MARK: A real `sequent serve` process

    static var binary: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/sequent")
    }

    /// Starts `sequent serve --port 0` and returns the process and its port.
    static func launch(dataDir: URL) throws -> (Process, Int) {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw HTTPClient.Failure(description: "\(binary.path) is missing: run `swift build` before `swift test` (make test does)")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = ["serve", "--port", "0", "--data-dir", dataDir.path, "--fashion-mnist", JobSpecTests.fashionDirectory,
                       "--threads-per-job", "1"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The first stdout line names the port.
        var line = Data()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard let port = String(decoding: line, as: UTF8.self).split(separator: " ").last.flatMap({ Int($0) }) else {
            p.terminate()
            throw HTTPClient.Failure(description: "sequent serve printed no port: \(String(decoding: line, as: UTF8.self))")
        }
        return (p, port)
    }

    @Test func killDashNineThenRestartResumesWithoutDuplicateEpochs() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, port) = try Self.launch(dataDir: dir)
        let client = HTTPClient(port: port)
        let id = try #require(try client.request("POST", "/v1/jobs", body: Self.specText(epochs: 4, trainLimit: 8000)).json["id"]?.stringValue)
        // Kill it hard once at least one epoch is checkpointed and the job is still running.
        let deadline = Date().addingTimeInterval(120)
        var job = JSONValue.null
        while Date() < deadline {
            job = try client.request("GET", "/v1/jobs/\(id)").json
            if (job["checkpoint_epoch"]?.intValue ?? 0) >= 1 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)
        let (second, port2) = try Self.launch(dataDir: dir)
        defer { second.terminate(); second.waitUntilExit() }
        let client2 = HTTPClient(port: port2)
        let end = Date().addingTimeInterval(120)
        while Date() < end {
            job = try client2.request("GET", "/v1/jobs/\(id)").json
            if ["succeeded", "failed"].contains(job["state"]?.stringValue ?? "") { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(job["state"] == "succeeded", "\(job.brief)")
        let epochs = try client2.request("GET", "/v1/jobs/\(id)/epochs").json["epochs"]?.arrayValue ?? []
        #expect(epochs.map { $0["epoch"]?.intValue } == [1, 2, 3, 4])
    }

    @Test func sigtermExitsCleanlyAndRequeuesTheRunningJob() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, port) = try Self.launch(dataDir: dir)
        let client = HTTPClient(port: port)
        let id = try #require(try client.request("POST", "/v1/jobs", body: Self.specText(epochs: 50, trainLimit: 8000)).json["id"]?.stringValue)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, try client.request("GET", "/v1/jobs/\(id)").json["state"] != "running" { Thread.sleep(forTimeInterval: 0.02) }
        p.terminate()   // SIGTERM
        p.waitUntilExit()
        #expect(p.terminationReason == .exit)
        #expect(p.terminationStatus == 0)
        let store = try SQLiteStore(path: dir.appendingPathComponent("sequent.sqlite").path)
        #expect(try store.job(id: id)?.state == .queued)   // resumes on the next start, never stranded as running
    }
}
