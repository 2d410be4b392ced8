/// A PostgreSQL failure: the server's SQLSTATE and message, or a client-side failure (no connection, lost
/// connection) that libpq reports without a SQLSTATE.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What a caller can act on; everything else is `.other` with the SQLSTATE to inspect.
    public enum Kind: Sendable, Equatable {
        /// The server could not be reached (connect or reconnect failed).
        case connectionFailed
        /// The connection broke while a statement was in flight or a transaction was open; whether the statement
        /// (or the transaction's COMMIT) took effect is unknown.
        case connectionLost
        /// SQLSTATE 40001: a REPEATABLE READ / SERIALIZABLE transaction lost a race; retry the whole transaction.
        case serializationFailure
        /// SQLSTATE 40P01: chosen as a deadlock victim; retry the whole transaction.
        case deadlock
        /// SQLSTATE 23505: a UNIQUE or PRIMARY KEY constraint (e.g. a job id submitted twice).
        case uniqueViolation
        /// The artifact's bytes do not hash to the SHA-256 recorded when it was stored, or its chunks are missing.
        case corruptArtifact
        /// The API was used in a way it does not support (e.g. nested transactions, a newline in an event name).
        case misuse
        case other
    }

    public let kind: Kind
    /// The five-character SQLSTATE when the server sent one ("23505").
    public let sqlState: String?
    public let message: String

    public init(kind: Kind, sqlState: String? = nil, message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    /// Classifies a server error by its SQLSTATE.
    init(sqlState: String?, message: String, connectionBad: Bool) {
        let kind: Kind
        if connectionBad || sqlState?.hasPrefix("08") == true {
            kind = .connectionLost
        } else {
            switch sqlState {
            case "40001": kind = .serializationFailure
            case "40P01": kind = .deadlock
            case "23505": kind = .uniqueViolation
            // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away or not yet back.
            case "57P01", "57P02", "57P03": kind = .connectionLost
            default: kind = .other
            }
        }
        self.init(kind: kind, sqlState: sqlState, message: message)
    }

    public var description: String {
        "PostgreSQL error\(sqlState.map { " \($0)" } ?? "") (\(kind)): \(message)"
    }
}
