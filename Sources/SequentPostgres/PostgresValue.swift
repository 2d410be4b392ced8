import Foundation

/// A value bound to or read from PostgreSQL. Parameters go in text format except `.bytes` (binary, so bytea needs
/// no escaping); results come back in text format and are decoded by their column type.
public enum PostgresValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case text(String)
    case bytes(Data)

    public var int: Int? { if case .int(let v) = self { return Int(v) }; return nil }
    public var double: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var text: String? { if case .text(let v) = self { return v }; return nil }
    public var bool: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var bytes: Data? { if case .bytes(let v) = self { return v }; return nil }
    public var isNull: Bool { self == .null }

    /// `nil` is SQL NULL.
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    public init(_ value: Int?) { self = value.map { .int(Int64($0)) } ?? .null }
    /// Non-finite numbers are NULL, as in the SQLite store (a diverged loss is "no value", never invalid text).
    public init(_ value: Double?) { self = value.map { $0.isFinite ? .double($0) : .null } ?? .null }
    /// A time as seconds since 1970 (the store's SQL converts with `to_timestamp`).
    public init(_ date: Date?) { self = date.map { .double($0.timeIntervalSince1970) } ?? .null }

    /// A PostgreSQL array literal of text (`{"a","b\"c"}`), for `= ANY($1::text[])` and `unnest`.
    public static func textArray(_ values: [String]) -> PostgresValue {
        .text("{" + values.map { v in
            "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }.joined(separator: ",") + "}")
    }

    /// A PostgreSQL array literal of numbers; non-finite values are NULL elements.
    public static func doubleArray(_ values: [Double]) -> PostgresValue {
        .text("{" + values.map { $0.isFinite ? "\($0)" : "NULL" }.joined(separator: ",") + "}")
    }

    /// A PostgreSQL array literal of integers.
    public static func intArray(_ values: [Int]) -> PostgresValue {
        .text("{" + values.map(String.init).joined(separator: ",") + "}")
    }
}

/// One result row, by column name.
public struct PostgresRow: Sendable {
    public let values: [String: PostgresValue]
    public subscript(_ column: String) -> PostgresValue { values[column] ?? .null }
}

/// One NOTIFY received on a channel this connection LISTENs to.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
    /// The process id of the server backend that sent it (a connection's own NOTIFYs carry its own pid).
    public let senderPID: Int32
}
