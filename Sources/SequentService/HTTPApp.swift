import Foundation
import Logging
import SequentHTTP
import SequentNN
import SequentStore

/// Wires the API onto the HTTP server: routes, bearer-token checks on mutating routes, the JSON error format,
/// Server-Sent Events, `/metrics` and `/openapi.json`.
public final class HTTPApp: @unchecked Sendable {
    public let router: Router
    public let server: HTTPServer
    public let service: TrainingService
    let api: API
    public let predict: PredictService
    let telemetry = Telemetry()
    let logger: Logger

    public init(service: TrainingService, logger: Logger) {
        self.service = service
        self.logger = logger
        api = API(service: service)
        let config = service.configuration
        predict = PredictService(store: service.store, artifacts: service.artifacts, cache: ModelCache(budgetBytes: config.modelCacheBytes),
                                 maxPixels: config.maxImagePixels)
        let errorResponder: @Sendable (Int, String) -> HTTPResponse = { [logger] status, message in
            HTTPApp.errorResponse(status: status, message: message, logger: logger)
        }
        let router = Router(defaultBodyLimit: 64 << 10, errorResponder: errorResponder)
        self.router = router
        var serverConfig = HTTPServer.Configuration(host: config.host, port: config.port,
                                                    maxConnections: config.maxConnections,
                                                    bodyPolicy: { router.bodyPolicy(method: $0, path: $1) },
                                                    errorResponder: errorResponder)
        serverConfig.limits.maxBodyBytes = max(config.maxBodyBytes, config.maxUploadBytes, config.maxDatasetBytes, 64 << 10)
        let telemetry = self.telemetry
        server = HTTPServer(configuration: serverConfig, logger: logger) { request in
            HTTPApp.handle(request, router: router, telemetry: telemetry)
        }
        registerRoutes()
        registerPredictRoutes(predict: predict, uploadLimit: config.maxUploadBytes)
        registerInferenceProtocolRoutes(predict: predict, uploadLimit: config.maxUploadBytes)
        registerDashboardRoutes()
        registerDatasetRoutes()
        registerEvaluationRoutes()
        registerModelImportRoutes()
    }

    public func start() throws { try server.start() }

    /// Answers one request: gives it its id (`X-Request-Id`, the client's when well formed), routes it, records it
    /// for /metrics, and returns the id on the response whatever produced it.
    static func handle(_ request: HTTPRequest, router: Router, telemetry: Telemetry) -> HTTPResponse {
        let start = Date()
        let requestID = HTTPApp.requestID(accepting: request.header(requestIDHeader))
        var request = request
        request.headers[requestIDHeader] = requestID
        var (response, route) = router.respond(to: request)
        response.headers[requestIDHeader] = requestID
        telemetry.record(method: request.method, route: route?.pattern ?? "unmatched", status: response.status,
                         seconds: Date().timeIntervalSince(start))
        return response
    }

    /// Answers a request as the server would, without a socket (tests).
    func handle(_ request: HTTPRequest) -> HTTPResponse {
        HTTPApp.handle(request, router: router, telemetry: telemetry)
    }

    static func render(_ result: APIResult) -> HTTPResponse {
        var response: HTTPResponse
        if let bytes = result.bytes {
            response = HTTPResponse(status: result.status, headers: ["Content-Type": bytes.contentType], body: bytes.body)
        } else if let text = result.text {
            response = HTTPResponse(status: result.status, body: Array(text.body.utf8))
            if !text.contentType.isEmpty { response.headers["Content-Type"] = text.contentType }
        } else {
            response = HTTPResponse.json(bytes: Array(result.body.serialized().utf8), status: result.status)
        }
        for (k, v) in result.headers { response.headers[k] = v }
        return response
    }

    /// Registers a JSON route; `mutating` routes need the bearer token when one is configured.
    /// `spoolBodyTo` writes request bodies to a file there as they arrive (`request.bodyFile`), for large uploads.
    func route(_ method: String, _ pattern: String, mutating: Bool = false, bodyLimit: Int? = nil,
               spoolBodyTo spoolDirectory: URL? = nil,
               _ body: @escaping @Sendable (HTTPRequest, [String: String]) throws -> APIResult) {
        let token = service.configuration.token
        let logger = self.logger
        router.add(method, pattern, bodyLimit: bodyLimit, spoolBodyTo: spoolDirectory) { request, params in
            HTTPApp.answering(request, logger: logger) {
                if mutating, let token, request.header("authorization") != "Bearer \(token)" {
                    throw ServiceError(401, "unauthorized", "this route needs the header Authorization: Bearer <token>")
                }
                return HTTPApp.render(try body(request, params))
            }
        }
    }

    private func registerRoutes() {
        let api = self.api, service = self.service, telemetry = self.telemetry
        route("GET", "/healthz") { _, _ in api.health() }
        let openAPI = OpenAPI.document(tokenRequired: service.configuration.token != nil)
        route("GET", "/openapi.json") { _, _ in APIResult(200, openAPI) }
        router.add("GET", "/metrics") { _, _ in
            let text = telemetry.render(jobs: (try? service.store.countByState()) ?? [:],
                                        queued: (try? service.store.queuedCount()) ?? 0,
                                        samplesPerSecond: service.samplesPerSecond)
            var r = HTTPResponse.text(text)
            r.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return r
        }
        route("GET", "/v1/recipes") { _, _ in try api.recipes() }
        route("POST", "/v1/jobs", mutating: true, bodyLimit: 1 << 20) { request, _ in
            // curl -d sends form encoding unless told otherwise; a body that is JSON is accepted as JSON.
            let type = (request.header("content-type") ?? "").lowercased()
            let accepted = ["", "application/json", "text/plain", "application/x-www-form-urlencoded"]
            guard accepted.contains(where: { $0.isEmpty ? type.isEmpty : type.hasPrefix($0) }) else {
                throw ServiceError(415, "unsupported_media_type", "a job spec must be sent as application/json, got \(type)")
            }
            return try api.submitJob(body: request.body)
        }
        route("GET", "/v1/jobs") { request, _ in try api.listJobs(query: request.query) }
        route("GET", "/v1/jobs/{id}") { _, p in try api.getJob(id: p["id"]!) }
        route("GET", "/v1/jobs/{id}/epochs") { request, p in try api.epochs(id: p["id"]!, query: request.query) }
        route("DELETE", "/v1/jobs/{id}", mutating: true) { _, p in try api.deleteJob(id: p["id"]!) }
        route("PATCH", "/v1/jobs/{id}", mutating: true, bodyLimit: 64 << 10) { request, p in
            try api.patchJob(id: p["id"]!, body: request.body)
        }
        route("GET", "/v1/jobs/{id}/metrics") { request, p in try api.metrics(id: p["id"]!, query: request.query) }
        route("POST", "/v1/jobs/{id}/cancel", mutating: true) { _, p in try api.cancel(id: p["id"]!) }
        route("GET", "/v1/models") { request, _ in try api.listModels(query: request.query) }
        route("GET", "/v1/models/{id}") { _, p in try api.getModel(id: p["id"]!) }
        let cache = predict.cache
        route("DELETE", "/v1/models/{id}", mutating: true) { _, p in
            let result = try api.deleteModel(id: p["id"]!)
            cache.remove(id: p["id"]!)
            return result
        }
        router.add("GET", "/v1/jobs/{id}/events") { _, p in HTTPApp.events(service: service, jobID: p["id"]!) }
    }

    /// `text/event-stream` of a job's `state`, `progress` and `epoch` events; ends when the job finishes (after a
    /// final `state` event), when the client goes away, or at shutdown. The stream is a registered writer fed by
    /// the event hub, so an open dashboard costs no thread; a comment line after 15 s of silence keeps proxies
    /// from timing it out.
    static func events(service: TrainingService, jobID: String) -> HTTPResponse {
        guard let job = try? service.store.job(id: jobID) else {
            return render(APIResult.error(ServiceError.notFound("job", jobID)))
        }
        return ServerSentEvents.response(headers: ["Cache-Control": "no-cache"]) { writer in
            writer.keepAlive(every: 15, ServerSentEvents.heartbeat)
            // Subscribe before reading the state, so no event between the two is missed.
            let subscription = service.events.subscribe(jobID: jobID, deliver: { e in
                writer.write(ServerSentEvents.event(e.name, data: e.data, id: String(e.sequence)))
            }, closed: { writer.close() })
            writer.onClose { service.events.unsubscribe(subscription) }
            let current = (try? service.store.job(id: jobID)) ?? job
            writer.write(ServerSentEvents.event("state", data: JobView.json(current, service: service).serialized()))
            if current.state.isFinished { writer.close() }
        }
    }
}
