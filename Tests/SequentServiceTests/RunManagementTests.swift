import Foundation
import Logging
import Testing
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Issue 15's routes on the in-memory store and artifact store, through the router without a socket: deleting
/// jobs and models, filtering the job list, a job's note, and the History and step metrics as CSV. Jobs are put in
/// the states a test needs through the store (a claim, a transition), so no training runs.
@Suite struct RunManagementTests {
    let b: InMemoryServiceTests.Backends
    let app: HTTPApp

    init() throws {
        b = try InMemoryServiceTests.Backends()
        app = HTTPApp(service: b.service, logger: Logger(label: "test"))
    }

    func send(_ method: String, _ target: String, _ body: String? = nil) throws -> HTTPResponse {
        app.handle(try HTTPRequest(method: method, target: target, headers: ["Content-Type": "application/json"],
                                   body: Array((body ?? "").utf8)))
    }

    func json(_ r: HTTPResponse) throws -> JSONValue { try JSONValue.parse(Data(r.body)) }
    func text(_ r: HTTPResponse) -> String { String(decoding: r.body, as: UTF8.self) }

    /// Enqueues a job training on `dataset` (a folder when `folder`).
    @discardableResult
    func enqueue(_ id: String, name: String = "shoes", dataset: String = "fashion_mnist", folder: Bool = false) throws
        -> JobRecord {
        let spec = JSONValue.object(["name": .string(name),
                                     "dataset": .object([folder ? "directory" : "name": .string(dataset)])])
        let job = JobRecord(id: id, name: name, specJSON: spec.serialized())
        #expect(try b.store.enqueue(job, maxQueued: 100))
        return job
    }

    /// A job that ran two epochs, logged step metrics, left a checkpoint and registered model `m_<id>`.
    func finishedJob(_ id: String, name: String = "shoes") throws -> JobRecord {
        try enqueue(id, name: name)
        var job = try #require(try b.store.claimNext(worker: .local("w"), leaseSeconds: 30))
        #expect(job.id == id)
        for epoch in 1...2 {
            let e = EpochRecord(jobID: id, epoch: epoch, logs: ["loss": 1.5 / Double(epoch), "top,k": 0.25],
                                learningRate: 0.001, durationSeconds: 2, samplesPerSecond: 3000,
                                finishedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(epoch)))
            #expect(try b.store.recordEpoch(e, job: job))
        }
        try b.store.appendMetrics(jobID: id, [MetricPoint(key: "loss", step: 1, wallTime: 0.5, value: 2),
                                              MetricPoint(key: "loss", step: 2, wallTime: 1, value: .nan)])
        try commitFolder(.checkpoint, id: "\(id)/epoch-2")
        let receipt = try commitFolder(.model, id: "m_\(id)")
        job.state = .succeeded
        job.finishedAt = Date()
        job.modelID = "m_\(id)"
        try b.store.addModel(ModelRecord(id: "m_\(id)", jobID: id, name: name, path: "", sha256: "w",
                                         metadataJSON: "{}", artifactSHA256: receipt.sha256), finishing: job)
        return try #require(try b.store.job(id: id))
    }

    @discardableResult
    func commitFolder(_ kind: ArtifactKind, id: String) throws -> ArtifactReceipt {
        let staging = try b.artifacts.stage(kind)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: staging.appendingPathComponent("config.json"))
        return try b.artifacts.commit(staging, as: kind, id: id, replacing: false)
    }

    func listedIDs(_ query: String) throws -> [String] {
        let r = try send("GET", "/v1/jobs?\(query)")
        #expect(r.status == 200, "\(text(r))")
        return try json(r)["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
    }

    // MARK: DELETE /v1/jobs/{id}

    @Test func deletingAFinishedJobRemovesItsRecordsAndCheckpointsButKeepsItsModel() throws {
        _ = try finishedJob("j_done")
        let r = try send("DELETE", "/v1/jobs/j_done")
        #expect(r.status == 204 && r.body.isEmpty)
        #expect(try send("GET", "/v1/jobs/j_done").status == 404)
        #expect(try send("GET", "/v1/jobs/j_done/epochs").status == 404)
        #expect(try listedIDs("").isEmpty)
        #expect(try b.store.epochs(jobID: "j_done").isEmpty)
        #expect(try b.store.metrics(jobID: "j_done", key: nil).isEmpty)
        #expect(try b.artifacts.list(.checkpoint).isEmpty)
        // Models outlive their jobs.
        #expect(try send("GET", "/v1/models/m_j_done").status == 200)
        #expect(try b.artifacts.list(.model) == ["m_j_done"])
        let again = try send("DELETE", "/v1/jobs/j_done")
        #expect(try again.status == 404 && json(again)["error"]?["code"]?.stringValue == "not_found")
    }

    @Test func aJobAWorkerHoldsIsNotDeletedButAnUnclaimedQueuedOneIs() throws {
        try enqueue("j_run")
        try enqueue("j_wait")
        _ = try b.store.claimNext(worker: .local("w"), leaseSeconds: 30)   // j_run
        let running = try send("DELETE", "/v1/jobs/j_run")
        #expect(running.status == 409)
        #expect(try json(running)["error"]?["message"]?.stringValue?.contains("running") == true)
        #expect(try b.store.transition(id: "j_run", from: [.running], to: .cancelling))
        #expect(try send("DELETE", "/v1/jobs/j_run").status == 409)
        #expect(try b.store.job(id: "j_run")?.state == .cancelling)

        let events = EventRecorder()
        let sub = b.service.events.subscribe(jobID: "j_wait", deliver: { events.add($0.name, $0.data) },
                                             closed: { events.add("closed", "") })
        defer { b.service.events.unsubscribe(sub) }
        #expect(try send("DELETE", "/v1/jobs/j_wait").status == 204)
        #expect(try b.store.queuedCount() == 0)
        #expect(try b.store.claimNext(worker: .local("w"), leaseSeconds: 30) == nil)
        // Its watchers hear it was cancelled, then the stream ends.
        let heard = events.all
        #expect(heard.map(\.0) == ["state", "closed"])
        #expect(try JSONValue.parse(heard.first?.1 ?? "")["state"]?.stringValue == "cancelled")
        #expect(try send("DELETE", "/v1/jobs/j_none").status == 404)
    }

    final class EventRecorder: @unchecked Sendable {
        // @unchecked: `items` is only touched under `lock`.
        private let lock = NSLock()
        private var items: [(String, String)] = []
        func add(_ name: String, _ data: String) { lock.withLock { items.append((name, data)) } }
        var all: [(String, String)] { lock.withLock { items } }
    }

    // MARK: DELETE /v1/models/{id}

    @Test func deletingAModelRemovesItsRecordAndFilesAndItsJobsReference() throws {
        _ = try finishedJob("j_m")
        #expect(try send("DELETE", "/v1/models/m_j_m").status == 204)
        #expect(try send("GET", "/v1/models/m_j_m").status == 404)
        #expect(try b.artifacts.list(.model).isEmpty)
        let job = try json(try send("GET", "/v1/jobs/j_m"))
        #expect(job["state"]?.stringValue == "succeeded" && job["model_id"] == .null)
        #expect(try send("POST", "/v1/models/m_j_m:predict", "{\"instances\": [[0]]}").status == 404)
        #expect(try send("DELETE", "/v1/models/m_j_m").status == 404)
        // By id only: a job name is not a model id here.
        _ = try finishedJob("j_n", name: "boots")
        #expect(try send("DELETE", "/v1/models/boots").status == 404)
        #expect(try send("GET", "/v1/models/m_j_n").status == 200)
    }

    // MARK: GET /v1/jobs filters

    @Test func theJobListFiltersByStateNameDatasetAndTextAndPagesAmongMatches() throws {
        for i in 0..<6 {
            try enqueue("j\(i)", name: i.isMultiple(of: 2) ? "digits" : "Shoes", dataset: i.isMultiple(of: 2) ? "fashion_mnist" : "shoes_v2",
                        folder: !i.isMultiple(of: 2))
        }
        #expect(try send("PATCH", "/v1/jobs/j2", "{\"note\": \"the BEST run\"}").status == 200)
        #expect(try listedIDs("name=Shoes") == ["j5", "j3", "j1"])
        #expect(try listedIDs("name=shoes").isEmpty)
        #expect(try listedIDs("dataset=shoes_v2") == ["j5", "j3", "j1"])
        #expect(try listedIDs("dataset=fashion_mnist") == ["j4", "j2", "j0"])
        #expect(try listedIDs("q=hoe") == ["j5", "j3", "j1"])
        #expect(try listedIDs("q=best") == ["j2"])
        #expect(try listedIDs("q=&name=") == ["j5", "j4", "j3", "j2", "j1", "j0"])   // empty filters nothing
        _ = try b.store.claimNext(worker: .local("w"), leaseSeconds: 30)   // j0
        #expect(try listedIDs("state=queued&dataset=fashion_mnist") == ["j4", "j2"])
        // A filtered page holds `limit` matches; its cursor continues among them.
        let page = try json(try send("GET", "/v1/jobs?name=Shoes&limit=2"))
        #expect(page["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["j5", "j3"])
        let cursor = try #require(page["next_cursor"]?.stringValue)
        #expect(try listedIDs("name=Shoes&limit=2&cursor=\(cursor)") == ["j1"])
        let bad = try send("GET", "/v1/jobs?state=done")
        #expect(try bad.status == 400 && json(bad)["error"]?["field"]?.stringValue == "state")
        // An empty state is not a state either (the dashboard leaves the parameter out for "any").
        let empty = try send("GET", "/v1/jobs?state=")
        #expect(try empty.status == 400 && json(empty)["error"]?["field"]?.stringValue == "state")
    }

    // MARK: PATCH /v1/jobs/{id}

    @Test func aNoteIsSavedClearedAndBounded() throws {
        try enqueue("j")
        #expect(try json(try send("GET", "/v1/jobs/j"))["note"] == .null)
        let saved = try send("PATCH", "/v1/jobs/j", "{\"note\": \"wider conv, lr 3e-4 \\u00e9\"}")
        #expect(saved.status == 200)
        #expect(try json(saved)["note"]?.stringValue == "wider conv, lr 3e-4 é")
        #expect(try json(try send("GET", "/v1/jobs/j"))["note"]?.stringValue == "wider conv, lr 3e-4 é")
        let longest = String(repeating: "é", count: TrainingService.maxNoteLength)
        #expect(try send("PATCH", "/v1/jobs/j", "{\"note\": \"\(longest)\"}").status == 200)
        let tooLong = try send("PATCH", "/v1/jobs/j", "{\"note\": \"\(longest)x\"}")
        #expect(try tooLong.status == 400 && json(tooLong)["error"]?["field"]?.stringValue == "note")
        #expect(try json(tooLong)["error"]?["message"]?.stringValue?.contains("4000") == true)
        #expect(try json(try send("GET", "/v1/jobs/j"))["note"]?.stringValue == longest)
        #expect(try json(try send("PATCH", "/v1/jobs/j", "{\"note\": null}"))["note"] == .null)

        for (body, field) in [("{\"name\": \"x\"}", "name"), ("{}", "note"), ("{\"note\": 3}", "note")] {
            let r = try send("PATCH", "/v1/jobs/j", body)
            #expect(try r.status == 400 && json(r)["error"]?["field"]?.stringValue == field, "\(body)")
        }
        #expect(try send("PATCH", "/v1/jobs/j", "not json").status == 400)
        #expect(try send("PATCH", "/v1/jobs/j", "[1]").status == 400)
        #expect(try send("PATCH", "/v1/jobs/j_none", "{\"note\": \"x\"}").status == 404)
    }

    // MARK: CSV

    @Test func theHistoryDownloadsAsCSV() throws {
        _ = try finishedJob("j_csv", name: "my \"job\"/v2")
        let r = try send("GET", "/v1/jobs/j_csv/epochs?format=csv")
        #expect(r.status == 200)
        #expect(r.headers["Content-Type"] == "text/csv; charset=utf-8")
        #expect(r.headers["Content-Disposition"] == "attachment; filename=\"my__job__v2-epochs.csv\"")
        #expect(text(r) == """
            epoch,loss,"top,k",learning_rate,duration_seconds,samples_per_second,finished_at\r
            1,1.5,0.25,0.001,2,3000,2027-01-15T08:00:01.000Z\r
            2,0.75,0.25,0.001,2,3000,2027-01-15T08:00:02.000Z\r

            """)
        #expect(try send("GET", "/v1/jobs/j_csv/epochs?format=json").headers["Content-Type"] == "application/json")
        let bad = try send("GET", "/v1/jobs/j_csv/epochs?format=xlsx")
        #expect(try bad.status == 400 && json(bad)["error"]?["message"]?.stringValue?.contains("xlsx") == true)
        #expect(try send("GET", "/v1/jobs/j_none/epochs?format=csv").status == 404)
    }

    @Test func stepMetricsDownloadAsCSV() throws {
        _ = try finishedJob("j_pts", name: "ünïcode")
        let r = try send("GET", "/v1/jobs/j_pts/metrics?format=csv")
        #expect(r.status == 200 && r.headers["Content-Type"] == "text/csv; charset=utf-8")
        #expect(r.headers["Content-Disposition"] == "attachment; filename=\"_n_code-metrics.csv\"")
        // A non-finite value is an empty cell.
        #expect(text(r) == "key,step,wall_time,value\r\nloss,1,0.5,2\r\nloss,2,1,\r\n")
        #expect(text(try send("GET", "/v1/jobs/j_pts/metrics?format=csv&key=acc")) == "key,step,wall_time,value\r\n")
        let bad = try send("GET", "/v1/jobs/j_pts/metrics?format=parquet")
        #expect(try bad.status == 400 && json(bad)["error"]?["field"]?.stringValue == "format")
        #expect(try send("GET", "/v1/jobs/j_none/metrics?format=csv").status == 404)
    }

    @Test func csvQuotesAsRFC4180() {
        #expect(CSV.document([["a", "b,c", "say \"hi\"", "two\nlines", ""]])
                == "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n")
        #expect(CSV.fileName("...", "epochs") == "job-epochs.csv")
        #expect(CSV.fileName("fashion-cnn_1.2", "epochs") == "fashion-cnn_1.2-epochs.csv")
    }

    @Test func userTextNeverReadsAsAFormula() {
        for (text, safe) in [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
                             ("\tcmd", "'\tcmd"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), ("", "")] {
            #expect(CSV.text(text) == safe, "\(text)")
        }
        // Numbers are written by `number`, never guarded: a negative value stays a value.
        #expect(CSV.number(-0.5) == "-0.5")
    }
}
