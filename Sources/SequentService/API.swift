import Foundation
import SequentNN
import SequentStore

/// A JSON answer from an API handler, independent of the HTTP server that carries it.
public struct APIResult: Sendable {
    public var status: Int
    public var body: JSONValue
    public var headers: [(String, String)] = []
    /// A body that is not JSON (a CSV download), with its Content-Type; `body` is then unused.
    public var text: (contentType: String, body: String)?
    /// A binary body (a model download), with its Content-Type; `body` and `text` are then unused.
    public var bytes: (contentType: String, body: [UInt8])?

    public init(_ status: Int, _ body: JSONValue, headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// A file download named `fileName`.
    static func download(_ bytes: [UInt8], contentType: String, fileName: String) -> APIResult {
        var r = APIResult(200, .null, headers: [("Content-Disposition", "attachment; filename=\"\(fileName)\"")])
        r.bytes = (contentType, bytes)
        return r
    }

    /// A CSV download named `fileName`.
    static func csv(_ text: String, fileName: String) -> APIResult {
        var r = APIResult(200, .null, headers: [("Content-Disposition", "attachment; filename=\"\(fileName)\"")])
        r.text = ("text/csv; charset=utf-8", text)
        return r
    }

    /// A 204 with no body.
    static let noContent: APIResult = {
        var r = APIResult(204, .null)
        r.text = ("", "")
        return r
    }()

    /// The error body of Sequent's own routes: `{"error": {"code", "message", "field", "request_id"}}`, the
    /// request id on 5xx answers (`HTTPApp.errorResponse` decides).
    public static func error(_ e: ServiceError, requestID: String? = nil) -> APIResult {
        var inner: [String: JSONValue] = ["code": .string(e.code), "message": .string(e.message)]
        if let f = e.field { inner["field"] = .string(f) }
        if let requestID { inner["request_id"] = .string(requestID) }
        return APIResult(e.status, .object(["error": .object(inner)]))
    }
}

/// The handlers of DESIGN.md §3 for jobs and models: parse the request's JSON and query, call the service,
/// render the records. Kept free of socket code so they can be tested directly.
public struct API: Sendable {
    public let service: TrainingService

    public init(service: TrainingService) { self.service = service }

    /// `POST /v1/jobs`
    public func submitJob(body: [UInt8]) throws -> APIResult {
        let job = try service.submit(try Self.json(body))
        return APIResult(201, JobView.json(job, service: service), headers: [("Location", "/v1/jobs/\(job.id)")])
    }

    /// A request body as JSON; 400 naming what is wrong with it.
    static func json(_ body: [UInt8]) throws -> JSONValue {
        do { return try JSONValue.parse(Data(body)) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_json", "the request body \(e.detail)")
        }
    }

    /// `GET /v1/jobs?state=&name=&dataset=&q=&limit=&cursor=`; an empty `name`, `dataset` or `q` filters nothing, an
    /// empty `state` is not a state (400), as the schema's enum says.
    public func listJobs(query: [String: String]) throws -> APIResult {
        func given(_ key: String) -> String? { query[key].flatMap { $0.isEmpty ? nil : $0 } }
        var filter = JobFilter(name: given("name"), dataset: given("dataset"), text: given("q"))
        if let s = query["state"] {
            guard let st = JobState(rawValue: s) else {
                throw ServiceError(400, "invalid_query", "state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(s)\"", field: "state")
            }
            filter.state = st
        }
        let limit = try Self.intQuery(query, "limit", default: 50, range: Self.jobPageLimit)
        var cursor: Int?
        if let c = query["cursor"] {
            guard let v = Int(c), Self.cursorRange.contains(v) else { throw ServiceError(400, "invalid_query", "cursor must come from a previous page's next_cursor, got \"\(c)\"", field: "cursor") }
            cursor = v
        }
        let jobs = try service.store.jobs(filter, limit: limit, before: cursor)
        var body: [String: JSONValue] = ["jobs": .array(jobs.map { JobView.json($0, service: service) })]
        body["next_cursor"] = jobs.count == limit ? .string(String(jobs.last!.sequence)) : .null
        return APIResult(200, .object(body))
    }

    /// Bounds of the query parameters, shared with the OpenAPI document.
    static let jobPageLimit = 1...500, modelPageLimit = 1...1000, maxPointsRange = 2...100_000
    /// A job's sequence number; the bound keeps it exact in the document's JSON numbers.
    static let cursorRange = 1...999_999_999_999_999

    /// An integer query parameter, `def` when absent; 400 naming it when it is not an integer in `range`.
    static func intQuery(_ query: [String: String], _ key: String, default def: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s = query[key] else { return def }
        guard let v = Int(s), range.contains(v) else {
            throw ServiceError(400, "invalid_query", "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound), got \"\(s)\"", field: key)
        }
        return v
    }

    func job(_ id: String) throws -> JobRecord {
        guard let job = try service.store.job(id: id) else { throw ServiceError.notFound("job", id) }
        return job
    }

    /// `GET /v1/jobs/{id}`
    public func getJob(id: String) throws -> APIResult {
        APIResult(200, JobView.json(try job(id), service: service))
    }

    /// The `format` a History or metrics request asks for: `json` (the default) or `csv`.
    func wantsCSV(_ query: [String: String]) throws -> Bool {
        switch query["format"] ?? "json" {
        case "json": return false
        case "csv": return true
        case let other:
            throw ServiceError(400, "invalid_query", "format must be json or csv, got \"\(other)\"", field: "format")
        }
    }

    /// `GET /v1/jobs/{id}/epochs?format=json|csv`
    public func epochs(id: String, query: [String: String] = [:]) throws -> APIResult {
        let job = try job(id)
        if try wantsCSV(query) {
            return .csv(CSV.epochs(try service.store.epochs(jobID: id)), fileName: CSV.fileName(job.name, "epochs"))
        }
        return APIResult(200, .object(["job_id": .string(id),
                                       "epochs": .array(try service.store.epochs(jobID: id).map(EpochView.json))]))
    }

    /// `GET /v1/jobs/{id}/metrics?max_points=&key=`: `{"loss": [[wall_time, step, value], …], …}`, each series
    /// reduced to at most `max_points` by keeping each bucket's minimum and maximum (spikes stay visible).
    /// With `format=csv`, every point (not downsampled) as `key,step,wall_time,value` rows.
    public func metrics(id: String, query: [String: String]) throws -> APIResult {
        let job = try job(id)
        // Checked for CSV too, which ignores it (every point): a bad value is a 400 either way.
        let maxPoints = try Self.intQuery(query, "max_points", default: 1000, range: Self.maxPointsRange)
        if try wantsCSV(query) {
            return .csv(CSV.metrics(try service.store.metrics(jobID: id, key: query["key"])),
                        fileName: CSV.fileName(job.name, "metrics"))
        }
        let points = try service.store.metrics(jobID: id, key: query["key"])
        var series: [String: [MetricPoint]] = [:]
        for p in points { series[p.key, default: []].append(p) }
        var out: [String: JSONValue] = [:]
        for (key, ps) in series {
            out[key] = .array(Self.downsample(ps, to: maxPoints).map {
                .array([.number(($0.wallTime * 1000).rounded() / 1000), .number(Double($0.step)), .number($0.value)])
            })
        }
        return APIResult(200, .object(["job_id": .string(id), "series": .object(out)]))
    }

    /// Min/max decimation: keeps the first and last points and, per bucket, the lowest and highest.
    static func downsample(_ points: [MetricPoint], to maxPoints: Int) -> [MetricPoint] {
        guard points.count > maxPoints else { return points }
        guard maxPoints >= 4 else { return Array(points.prefix(maxPoints)) }
        let buckets = (maxPoints - 2) / 2
        var out = [points[0]]
        let inner = points[1..<(points.count - 1)]
        let size = Double(inner.count) / Double(buckets)
        for b in 0..<buckets {
            let lo = inner.startIndex + Int(Double(b) * size), hi = inner.startIndex + Int(Double(b + 1) * size)
            guard lo < hi else { continue }
            let bucket = inner[lo..<hi]
            let mn = bucket.min { $0.value < $1.value }!, mx = bucket.max { $0.value < $1.value }!
            out += mn.step <= mx.step ? (mn.step == mx.step ? [mn] : [mn, mx]) : [mx, mn]
        }
        out.append(points[points.count - 1])
        return out
    }

    /// `POST /v1/jobs/{id}/cancel`
    public func cancel(id: String) throws -> APIResult {
        APIResult(202, JobView.json(try service.cancel(id: id), service: service))
    }

    /// `DELETE /v1/jobs/{id}`
    public func deleteJob(id: String) throws -> APIResult {
        try service.deleteJob(id: id)
        return .noContent
    }

    /// `PATCH /v1/jobs/{id}` with `{"note": "…"}` (null clears it).
    public func patchJob(id: String, body: [UInt8]) throws -> APIResult {
        guard let fields = try Self.json(body).objectValue else {
            throw ServiceError(400, "invalid_json", "the request body must be a JSON object such as {\"note\": \"…\"}")
        }
        if let unknown = fields.keys.sorted().first(where: { $0 != "note" }) {
            throw ServiceError(400, "invalid_field", "\(unknown) cannot be changed; only note can", field: unknown)
        }
        let note: String?
        switch fields["note"] {
        case .string(let s)?: note = s
        case .null?: note = nil
        case nil: throw ServiceError(400, "invalid_field", "note is required", field: "note")
        default: throw ServiceError(400, "invalid_field", "note must be a string or null", field: "note")
        }
        return APIResult(200, JobView.json(try service.setNote(jobID: id, note: note), service: service))
    }

    /// `DELETE /v1/models/{id}`: by id only (a job name would pick whichever model is newest).
    public func deleteModel(id: String) throws -> APIResult {
        try service.deleteModel(id: id)
        return .noContent
    }

    /// `GET /v1/models`
    public func listModels(query: [String: String]) throws -> APIResult {
        let limit = try Self.intQuery(query, "limit", default: 100, range: Self.modelPageLimit)
        return APIResult(200, .object(["models": .array(try service.store.models(limit: limit).map(ModelView.json))]))
    }

    /// `GET /v1/models/{id}`: by id, or by job name (its latest model).
    public func getModel(id: String) throws -> APIResult {
        guard let m = try service.store.model(id: id) ?? service.store.latestModel(named: id) else {
            throw ServiceError.notFound("model", id)
        }
        return APIResult(200, ModelView.json(m))
    }

    /// `GET /v1/recipes`: the seed job specs in config/jobs, for clients that start from them.
    public func recipes(directory: String = "config/jobs") throws -> APIResult {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        let items: [JSONValue] = files.compactMap { f in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(f)"), let spec = try? JSONValue.parse(data) else { return nil }
            return .object(["name": .string(String(f.dropLast(5))), "spec": spec])
        }
        return APIResult(200, .object(["recipes": .array(items)]))
    }

    /// `GET /healthz`
    public func health() -> APIResult { APIResult(200, ["status": "ok"]) }
}
