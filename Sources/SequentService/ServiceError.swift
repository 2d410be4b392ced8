/// An error the API answers with: HTTP status, a stable code, a message and (for validation) the field.
public struct ServiceError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: Int, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status) \(code): \(message)" }

    static func notFound(_ what: String, _ id: String) -> ServiceError {
        ServiceError(404, "not_found", "no \(what) with id \"\(id)\"")
    }
}
