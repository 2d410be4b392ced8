import Foundation
import Logging
import Testing
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// Error responses and request ids: every response carries `X-Request-Id`; a 5xx says "internal error" and the
/// id, and the log has the detail under the same id.
@Suite(.serialized) struct ErrorResponseTests {
    /// Collects what a `Logger` was asked to log.
    final class LogCapture: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        var lines: [String] { lock.withLock { entries } }
        func append(_ line: String) { lock.withLock { entries.append(line) } }

        var logger: Logger {
            Logger(label: "test") { _ in Handler(capture: self) }
        }

        struct Handler: LogHandler {
            let capture: LogCapture
            var metadata: Logger.Metadata = [:]
            var metadataProvider: Logger.MetadataProvider?
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                let meta = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
                capture.append("\(event.level) \(event.message) \(meta)")
            }
        }
    }

    /// An app (not listening) over a service in a temporary directory, logging into `capture`.
    static func makeApp(_ capture: LogCapture) throws -> (HTTPApp, URL) {
        let dir = try TrainingServiceTests.tempDir()
        var c = ServiceConfiguration()
        c.dataDirectory = dir.path
        c.fashionMNISTDirectory = JobSpecTests.fashionDirectory
        let service = try TrainingService(configuration: c, logger: capture.logger)
        return (HTTPApp(service: service, logger: capture.logger), dir)
    }

    static func errorObject(_ response: HTTPResponse) throws -> JSONValue {
        try #require(try JSONValue.parse(Data(response.body))["error"])
    }

    @Test func anUnexpectedErrorIsA500WithTheRequestIDAndNoInternalText() throws {
        let capture = LogCapture()
        let (app, dir) = try Self.makeApp(capture)
        defer { try? FileManager.default.removeItem(at: dir) }
        app.route("GET", "/test/fails") { _, _ in
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: "/tmp/secret-dir/config.json"])
        }
        let response = app.handle(try HTTPRequest(method: "GET", target: "/test/fails"))
        #expect(response.status == 500)
        let id = try #require(response.headers["X-Request-Id"])
        #expect(!id.isEmpty)
        let error = try Self.errorObject(response)
        #expect(error["code"] == "internal")
        #expect(error["message"] == "internal error")
        #expect(error["request_id"]?.stringValue == id)
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(!text.contains("secret-dir") && !text.contains("Domain") && !text.contains("/tmp"), "\(text)")
        // The detail is in the log, under the same id.
        #expect(capture.lines.contains { $0.contains(id) && $0.contains("secret-dir") && $0.contains("GET /test/fails") },
                "\(capture.lines)")
    }

    @Test func overTheWireTheHeaderAndTheBodyCarryTheSameID() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        struct Unexpected: Error {}
        server.app.route("GET", "/test/fails") { _, _ in throw Unexpected() }
        let failed = try server.client.request("GET", "/test/fails")
        #expect(failed.status == 500)
        let id = try #require(failed.headers["x-request-id"])
        #expect(failed.json["error"]?["request_id"]?.stringValue == id)
        #expect(failed.json["error"]?["message"] == "internal error")
        #expect(!failed.text.contains("Unexpected"))
        #expect(try server.client.request("GET", "/healthz").headers["x-request-id"]?.isEmpty == false)
    }

    @Test func everyResponseCarriesARequestIDAndAWellFormedOneIsKept() throws {
        let capture = LogCapture()
        let (app, dir) = try Self.makeApp(capture)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fresh = app.handle(try HTTPRequest(method: "GET", target: "/healthz"))
        let other = app.handle(try HTTPRequest(method: "GET", target: "/healthz"))
        #expect(fresh.status == 200)
        let freshID = try #require(fresh.headers["X-Request-Id"])
        #expect(freshID.count >= 16 && freshID != other.headers["X-Request-Id"])

        let kept = app.handle(try HTTPRequest(method: "GET", target: "/v1/jobs/j_none",
                                              headers: ["X-Request-Id": "client-42.a:b_c"]))
        #expect(kept.status == 404)
        #expect(kept.headers["X-Request-Id"] == "client-42.a:b_c")
        // A 4xx keeps its message (it is the client's to read) and needs no id in the body.
        #expect(try Self.errorObject(kept)["message"]?.stringValue?.contains("j_none") == true)

        for bad in ["", "has space", String(repeating: "a", count: 129), "semi;colon", "ünïcode"] {
            let replaced = app.handle(try HTTPRequest(method: "GET", target: "/nowhere", headers: ["X-Request-Id": bad]))
            #expect(replaced.status == 404)
            let id = try #require(replaced.headers["X-Request-Id"])
            #expect(id != bad && !id.isEmpty, "\(bad)")
        }
    }

    @Test func serverProducedErrorsGoThroughTheSameRenderer() throws {
        let capture = LogCapture()
        let internalError = HTTPApp.errorResponse(status: 500, message: "cannot store the request body (Permission denied)",
                                                  logger: capture.logger)
        #expect(internalError.status == 500)
        let id = try #require(internalError.headers["X-Request-Id"])
        let error = try Self.errorObject(internalError)
        #expect(error["message"] == "internal error" && error["request_id"]?.stringValue == id)
        #expect(capture.lines.contains { $0.contains(id) && $0.contains("Permission denied") }, "\(capture.lines)")

        let full = HTTPApp.errorResponse(status: 507, message: "no space left to store the request body", logger: capture.logger)
        #expect(full.status == 507)
        #expect(try Self.errorObject(full)["code"] == "insufficient_storage")
        #expect(try Self.errorObject(full)["message"] == "no space left to store the request body")
        let tooLarge = HTTPApp.errorResponse(status: 413, message: "body exceeds 1024 bytes", logger: capture.logger)
        #expect(try Self.errorObject(tooLarge)["code"] == "payload_too_large")
        #expect(try Self.errorObject(tooLarge)["request_id"] == nil)
        #expect(tooLarge.headers["X-Request-Id"] != nil)
    }

    @Test func anUnauthorizedRequestGetsTheChallengeHeader() throws {
        let capture = LogCapture()
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = ServiceConfiguration()
        c.dataDirectory = dir.path
        c.token = "s3cret"
        let app = HTTPApp(service: try TrainingService(configuration: c, logger: capture.logger), logger: capture.logger)
        let response = app.handle(try HTTPRequest(method: "POST", target: "/v1/jobs", body: Array("{}".utf8)))
        #expect(response.status == 401)
        #expect(response.headers["WWW-Authenticate"] == "Bearer")
        #expect(try Self.errorObject(response)["code"] == "unauthorized")
    }

    @Test func theTFServingRouteKeepsItsShapeForInternalErrors() throws {
        let capture = LogCapture()
        let (app, dir) = try Self.makeApp(capture)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A model whose files have gone: loading it fails inside the server.
        let job = try app.service.submit(TrainingServiceTests.spec(epochs: 1))
        try app.service.store.addModel(ModelRecord(id: "m_gone", jobID: job.id, name: "gone",
                                                   path: dir.appendingPathComponent("models/m_gone").path,
                                                   sha256: String(repeating: "0", count: 64), metadataJSON: "{}"))
        let body = Array(#"{"instances": [[0.5]]}"#.utf8)
        let response = app.handle(try HTTPRequest(method: "POST", target: "/v1/models/m_gone:predict",
                                                  headers: ["Content-Type": "application/json"], body: body))
        #expect(response.status == 500)
        let id = try #require(response.headers["X-Request-Id"])
        let json = try JSONValue.parse(Data(response.body))
        #expect(json["error"]?.stringValue == "internal error (request id \(id))")
        #expect(!String(decoding: response.body, as: UTF8.self).contains(dir.path))
        #expect(capture.lines.contains { $0.contains(id) && $0.contains("m_gone") })
    }
}
