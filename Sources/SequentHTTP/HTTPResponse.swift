/// A response: a status, headers and either a complete body or a producer that streams one.
///
/// The server adds `Content-Length` (or `Transfer-Encoding: chunked` for streams), `Date`, `Server` and
/// `Connection` itself; values a handler sets for those framing headers are replaced.
public struct HTTPResponse: Sendable {
    /// Starts the body of a streamed response: called once, on the connection's queue, with the stream's writer. It
    /// must not block — what it writes goes out once it returns — and keeps the writer to write from any thread
    /// later (see `ResponseStreamWriter`); the stream ends with `writer.close()`.
    public typealias Producer = @Sendable (ResponseStreamWriter) -> Void

    public var status: Int
    public var headers: HTTPHeaders
    /// The complete body; ignored when `producer` is set.
    public var body: [UInt8]
    /// Set for streamed responses (Server-Sent Events): the server sends the headers, then calls this.
    public var producer: Producer?

    public init(status: Int = 200, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Whether the body is streamed by `producer`.
    public var isStream: Bool { producer != nil }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// An `application/json` response with an already encoded body.
    public static func json(bytes: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: bytes)
    }

    /// A response without a body (`204 No Content` unless told otherwise).
    public static func empty(status: Int = 204) -> HTTPResponse {
        HTTPResponse(status: status)
    }

    /// A streamed response sent with `Transfer-Encoding: chunked` (to HTTP/1.0 clients: unframed, then closed).
    /// `producer` is called on the connection's queue once the headers are queued; each `writer.write` becomes one chunk.
    /// The stream lasts until `writer.close()` (then the connection is kept alive or closed as for any other
    /// response), the client leaves, or the server shuts down; `writer.onClose` hears of each.
    public static func stream(status: Int = 200, headers: HTTPHeaders = [:],
                              producer: @escaping Producer) -> HTTPResponse {
        var response = HTTPResponse(status: status, headers: headers)
        response.producer = producer
        return response
    }

    /// The default error rendering: the message as plain text. Services pass their own (JSON) renderer to
    /// `Router` and `HTTPServer.Configuration`.
    @Sendable public static func plainError(status: Int, message: String) -> HTTPResponse {
        .text(message + "\n", status: status)
    }

    /// The reason phrase for `status` (`"Not Found"`), or a generic one for the status class.
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Content"
        case 423: "Locked"
        case 424: "Failed Dependency"
        case 425: "Too Early"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 451: "Unavailable For Legal Reasons"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 507: "Insufficient Storage"
        case 511: "Network Authentication Required"
        case 100..<200: "Informational"
        case 200..<300: "Success"
        case 300..<400: "Redirection"
        case 400..<500: "Client Error"
        default: "Server Error"
        }
    }
}
