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
        predict = PredictService(store: service.store, cache: ModelCache(budgetBytes: config.modelCacheBytes),
                                 maxPixels: config.maxImagePixels)
        let router = Router(defaultBodyLimit: 64 << 10, errorResponder: HTTPApp.errorResponse)
        self.router = router
        var serverConfig = HTTPServer.Configuration(host: config.host, port: config.port,
                                                    maxConnections: config.maxConnections,
                                                    bodyPolicy: { router.bodyPolicy(method: $0, path: $1) },
                                                    errorResponder: HTTPApp.errorResponse)
        serverConfig.limits.maxBodyBytes = max(config.maxBodyBytes, config.maxUploadBytes, config.maxDatasetBytes, 64 << 10)
        let telemetry = self.telemetry
        server = HTTPServer(configuration: serverConfig, logger: logger) { request in
            let start = Date()
            let response = router.handle(request)
            let route: String
            if case .found(let r, _) = router.match(method: request.method, path: request.path) { route = r.pattern } else { route = "unmatched" }
            telemetry.record(method: request.method, route: route, status: response.status, seconds: Date().timeIntervalSince(start))
            return response
        }
        registerRoutes()
        registerPredictRoutes(predict: predict, uploadLimit: config.maxUploadBytes)
        registerDashboardRoutes()
        registerDatasetRoutes()
    }

    public func start() throws { try server.start() }

    /// Renders errors from the router and the server (404, 405, 413, …) in the API's JSON format.
    @Sendable static func errorResponse(status: Int, message: String) -> HTTPResponse {
        let code: String
        switch status {
        case 400: code = "bad_request"
        case 401: code = "unauthorized"
        case 404: code = "not_found"
        case 405: code = "method_not_allowed"
        case 408: code = "request_timeout"
        case 411: code = "length_required"
        case 413: code = "payload_too_large"
        case 414: code = "uri_too_long"
        case 415: code = "unsupported_media_type"
        case 431: code = "headers_too_large"
        case 503: code = "unavailable"
        case 505: code = "http_version_not_supported"
        default: code = "error"
        }
        return render(APIResult.error(ServiceError(status, code, message)))
    }

    static func render(_ result: APIResult) -> HTTPResponse {
        var response = HTTPResponse.json(bytes: Array(result.body.serialized().utf8), status: result.status)
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
            if mutating, let token, request.header("authorization") != "Bearer \(token)" {
                var r = HTTPApp.render(APIResult.error(ServiceError(401, "unauthorized", "this route needs the header Authorization: Bearer <token>")))
                r.headers["WWW-Authenticate"] = "Bearer"
                return r
            }
            do {
                return HTTPApp.render(try body(request, params))
            } catch let e as ServiceError {
                return HTTPApp.render(APIResult.error(e))
            } catch let e as ConfigError {
                return HTTPApp.render(APIResult.error(ServiceError(400, "invalid_request", e.message, field: e.field)))
            } catch {
                logger.error("\(method) \(request.path) failed: \(error)")
                return HTTPApp.render(APIResult.error(ServiceError(500, "internal", "the server failed: \(error)")))
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
        route("GET", "/v1/jobs/{id}/epochs") { _, p in try api.epochs(id: p["id"]!) }
        route("GET", "/v1/jobs/{id}/metrics") { request, p in try api.metrics(id: p["id"]!, query: request.query) }
        route("POST", "/v1/jobs/{id}/cancel", mutating: true) { _, p in try api.cancel(id: p["id"]!) }
        route("GET", "/v1/models") { request, _ in try api.listModels(query: request.query) }
        route("GET", "/v1/models/{id}") { _, p in try api.getModel(id: p["id"]!) }
        router.add("GET", "/v1/jobs/{id}/events") { _, p in HTTPApp.events(service: service, jobID: p["id"]!) }
    }

    /// `text/event-stream` of a job's `state`, `progress` and `epoch` events; ends when the job finishes (after a
    /// final `state` event), when the client goes away, or at shutdown. A comment line every 15 s keeps proxies
    /// from timing the stream out.
    static func events(service: TrainingService, jobID: String) -> HTTPResponse {
        guard let job = try? service.store.job(id: jobID) else {
            return render(APIResult.error(ServiceError.notFound("job", jobID)))
        }
        let subscription = service.events.subscribe(jobID: jobID)
        return ServerSentEvents.response(headers: ["Cache-Control": "no-cache"]) { writer in
            defer { service.events.unsubscribe(subscription) }
            let current = (try? service.store.job(id: jobID)) ?? job
            guard writer.write(ServerSentEvents.event("state", data: JobView.json(current, service: service).serialized())) else { return }
            if current.state.isFinished { return }
            while !writer.isShuttingDown {
                guard let batch = subscription.next(timeout: 15) else { return }
                if batch.isEmpty {
                    guard writer.write(ServerSentEvents.heartbeat) else { return }
                    continue
                }
                for e in batch {
                    guard writer.write(ServerSentEvents.event(e.name, data: e.data, id: String(e.sequence))) else { return }
                }
            }
        }
    }
}
