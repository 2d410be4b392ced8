import Foundation
import SequentNN
import SequentStore

/// A JSON answer from an API handler, independent of the HTTP server that carries it.
public struct APIResult: Sendable {
    public var status: Int
    public var body: JSONValue
    public var headers: [(String, String)] = []

    public init(_ status: Int, _ body: JSONValue, headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

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
        let value: JSONValue
        do { value = try JSONValue.parse(Data(body)) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_json", "the request body \(e.detail)")
        }
        let job = try service.submit(value)
        return APIResult(201, JobView.json(job, service: service), headers: [("Location", "/v1/jobs/\(job.id)")])
    }

    /// `GET /v1/jobs?state=&limit=&cursor=`
    public func listJobs(query: [String: String]) throws -> APIResult {
        var state: JobState?
        if let s = query["state"] {
            guard let st = JobState(rawValue: s) else {
                throw ServiceError(400, "invalid_query", "state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(s)\"", field: "state")
            }
            state = st
        }
        let limit = try intQuery(query, "limit", default: 50, range: Self.jobPageLimit)
        var cursor: Int?
        if let c = query["cursor"] {
            guard let v = Int(c), Self.cursorRange.contains(v) else { throw ServiceError(400, "invalid_query", "cursor must come from a previous page's next_cursor, got \"\(c)\"", field: "cursor") }
            cursor = v
        }
        let jobs = try service.store.jobs(state: state, limit: limit, before: cursor)
        var body: [String: JSONValue] = ["jobs": .array(jobs.map { JobView.json($0, service: service) })]
        body["next_cursor"] = jobs.count == limit ? .string(String(jobs.last!.sequence)) : .null
        return APIResult(200, .object(body))
    }

    /// Bounds of the query parameters, shared with the OpenAPI document.
    static let jobPageLimit = 1...500, modelPageLimit = 1...1000, maxPointsRange = 2...100_000
    /// A job's sequence number; the bound keeps it exact in the document's JSON numbers.
    static let cursorRange = 1...999_999_999_999_999

    func intQuery(_ query: [String: String], _ key: String, default def: Int, range: ClosedRange<Int>) throws -> Int {
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

    /// `GET /v1/jobs/{id}/epochs`
    public func epochs(id: String) throws -> APIResult {
        _ = try job(id)
        return APIResult(200, .object(["job_id": .string(id),
                                       "epochs": .array(try service.store.epochs(jobID: id).map(EpochView.json))]))
    }

    /// `GET /v1/jobs/{id}/metrics?max_points=&key=`: `{"loss": [[wall_time, step, value], …], …}`, each series
    /// reduced to at most `max_points` by keeping each bucket's minimum and maximum (spikes stay visible).
    public func metrics(id: String, query: [String: String]) throws -> APIResult {
        _ = try job(id)
        let maxPoints = try intQuery(query, "max_points", default: 1000, range: Self.maxPointsRange)
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

    /// `GET /v1/models`
    public func listModels(query: [String: String]) throws -> APIResult {
        let limit = try intQuery(query, "limit", default: 100, range: Self.modelPageLimit)
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
