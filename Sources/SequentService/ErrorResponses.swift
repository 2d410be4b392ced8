import Foundation
import Logging
import SequentHTTP
import SequentNN

/// Request ids and the rendering of errors: every error response of the service, whether a handler threw or the
/// server refused a request, is built here from `ServiceError(from:)`.
extension HTTPApp {
    /// The header that carries a request's id, both ways.
    static let requestIDHeader = "X-Request-Id"

    /// A client's own `X-Request-Id` when it is well formed (1–128 letters, digits, `-`, `_`, `.`, `:`), so its
    /// logs and ours line up; otherwise a fresh one. Anything else is replaced: the id goes into logs and headers.
    static func requestID(accepting incoming: String?) -> String {
        if let incoming, (1...128).contains(incoming.utf8.count), incoming.utf8.allSatisfy(requestIDBytes.contains) {
            return incoming
        }
        // 64 random bits from the system generator (getrandom): unique enough to find a log line, and unlike
        // `UUID()` on Linux it opens no file per request.
        var generator = SystemRandomNumberGenerator()
        let bits = generator.next() as UInt64
        let hex = String(bits, radix: 16)
        return String(repeating: "0", count: 16 - hex.utf8.count) + hex
    }

    private static let requestIDBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:".utf8)

    /// Runs a handler; an error it throws becomes the response through `errorResponse`.
    static func answering(_ request: HTTPRequest, logger: Logger, _ body: () throws -> HTTPResponse) -> HTTPResponse {
        do { return try body() } catch {
            return errorResponse(error, requestID: request.requestID, logger: logger,
                                 context: "\(request.method) \(request.path)")
        }
    }

    /// The error body of Sequent's own routes for any error. An internal one (see `ServiceError.isInternal`) says
    /// only "internal error" and the request id, and its detail goes to the log under the same id.
    static func errorResponse(_ error: any Error, requestID: String, logger: Logger, context: String) -> HTTPResponse {
        let mapped = ServiceError(from: error)
        log(error, mapped: mapped, requestID: requestID, logger: logger, context: context)
        var response = render(APIResult.error(mapped.exposed, requestID: mapped.status >= 500 ? requestID : nil))
        response.headers[requestIDHeader] = requestID
        if mapped.status == 401 { response.headers["WWW-Authenticate"] = "Bearer" }
        return response
    }

    /// The TF Serving routes' error body, `{"error": "message"}` as that protocol has it; an internal error's
    /// message carries the request id, the only place that shape has for it.
    static func tfServingErrorResponse(_ error: any Error, requestID: String, logger: Logger, context: String)
        -> HTTPResponse
    {
        let mapped = ServiceError(from: error)
        log(error, mapped: mapped, requestID: requestID, logger: logger, context: context)
        let message = mapped.isInternal ? "\(ServiceError.internalMessage) (request id \(requestID))" : mapped.message
        var response = HTTPResponse.json(bytes: Array(JSONValue.object(["error": .string(message)]).serialized().utf8),
                                         status: mapped.status)
        response.headers[requestIDHeader] = requestID
        return response
    }

    /// Renders the errors the router (404, 405) and the server (400, 413, 503, a spool file's 500 or 507, …)
    /// produce with only a status and a message. They have no request id yet, so one is made here; the router's,
    /// answered inside a request, get the request's id from `handle` instead.
    static func errorResponse(status: Int, message: String, logger: Logger) -> HTTPResponse {
        errorResponse(ServiceError(status, ServiceError.code(forStatus: status), message),
                      requestID: requestID(accepting: nil), logger: logger, context: "the server")
    }

    /// 5xx are logged with their detail (the only place it is kept); client errors are the client's to read.
    private static func log(_ error: any Error, mapped: ServiceError, requestID: String, logger: Logger,
                            context: String) {
        guard mapped.status >= 500 else { return }
        logger.error("request \(requestID): \(context) failed with \(mapped.status): \(String(describing: error))",
                     metadata: ["request_id": "\(requestID)"])
    }
}

extension HTTPRequest {
    /// The id `HTTPApp.handle` gave this request (in its `X-Request-Id` header); a fresh one for a request that
    /// did not come through it.
    var requestID: String {
        header(HTTPApp.requestIDHeader) ?? HTTPApp.requestID(accepting: nil)
    }
}
