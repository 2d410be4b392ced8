/// A configuration value that cannot be used, with the path of the field that holds it.
///
/// `field` is a dotted path (`model.layers[2].units`); `detail` says what is wrong with the value
/// ("must be > 0, got 0"). Layers throw errors with paths relative to themselves; the model builder
/// prefixes them, so the user always sees the full path of what they sent.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The dotted path of the offending field, e.g. `model.layers[2].units`.
    public var field: String
    /// What is wrong with it, phrased to follow the field name.
    public var detail: String

    public init(field: String, detail: String) {
        self.field = field
        self.detail = detail
    }

    /// The full message: `model.layers[2].units must be > 0, got 0`.
    public var message: String { field.isEmpty ? detail : "\(field) \(detail)" }
    public var description: String { message }

    /// The same error seen from a containing object: `prefix` + `.` + field.
    public func prefixed(by prefix: String) -> ConfigError {
        if prefix.isEmpty { return self }
        if field.isEmpty { return ConfigError(field: prefix, detail: detail) }
        let joiner = field.hasPrefix("[") ? "" : "."
        return ConfigError(field: prefix + joiner + field, detail: detail)
    }
}

/// Reads typed fields from a JSON object and names the field in every error.
///
/// Each read marks the key as known; `finish()` rejects keys nobody read, so a typo such as
/// `"unit": 128` is reported instead of silently ignored.
public struct ConfigReader {
    public let object: [String: JSONValue]
    private var known: Set<String> = []
    private let ignorable: Set<String>

    /// `ignorable` names keys that are accepted and ignored (e.g. Keras's `trainable`, `dtype`).
    public init(_ value: JSONValue, path: String = "", ignorable: Set<String> = []) throws {
        guard case .object(let o) = value else {
            throw ConfigError(field: path, detail: "must be a JSON object, got \(value.brief)")
        }
        self.object = o
        self.ignorable = ignorable
    }

    public func has(_ key: String) -> Bool {
        if let v = object[key], !v.isNull { return true }
        return false
    }

    public mutating func value(_ key: String) -> JSONValue? {
        known.insert(key)
        if let v = object[key], !v.isNull { return v }
        return nil
    }

    public mutating func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw ConfigError(field: key, detail: "must be a string, got \(v.brief)") }
        return s
    }

    public mutating func string(_ key: String, default def: String) throws -> String { try string(key) ?? def }

    public mutating func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw ConfigError(field: key, detail: "is required") }
        return s
    }

    public mutating func int(_ key: String) throws -> Int? {
        guard let v = value(key) else { return nil }
        guard let i = v.intValue else { throw ConfigError(field: key, detail: "must be an integer, got \(v.brief)") }
        return i
    }

    public mutating func int(_ key: String, default def: Int) throws -> Int { try int(key) ?? def }

    public mutating func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw ConfigError(field: key, detail: "is required") }
        return i
    }

    public mutating func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue, d.isFinite else {
            throw ConfigError(field: key, detail: "must be a number, got \(v.brief)")
        }
        return d
    }

    public mutating func double(_ key: String, default def: Double) throws -> Double { try double(key) ?? def }

    public mutating func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let v = value(key) else { return def }
        guard let b = v.boolValue else { throw ConfigError(field: key, detail: "must be true or false, got \(v.brief)") }
        return b
    }

    /// An `[Int]` of a fixed length; a single integer is accepted and repeated (Keras's `kernel_size=3`).
    public mutating func ints(_ key: String, count: Int) throws -> [Int]? {
        guard let v = value(key) else { return nil }
        if let i = v.intValue { return Array(repeating: i, count: count) }
        guard let a = v.arrayValue, a.count == count, a.allSatisfy({ $0.intValue != nil }) else {
            throw ConfigError(field: key, detail: "must be an integer or a list of \(count) integers, got \(v.brief)")
        }
        return a.map { $0.intValue! }
    }

    /// An `[Int]` of any length.
    public mutating func intList(_ key: String) throws -> [Int]? {
        guard let v = value(key) else { return nil }
        guard let a = v.arrayValue, a.allSatisfy({ $0.intValue != nil }) else {
            throw ConfigError(field: key, detail: "must be a list of integers, got \(v.brief)")
        }
        return a.map { $0.intValue! }
    }

    /// Marks keys as read without reading them.
    public mutating func accept(_ keys: String...) { known.formUnion(keys) }

    /// Keys present in the object that no read asked for and that are not ignorable, sorted.
    public var unreadKeys: [String] {
        object.keys.filter { !known.contains($0) && !ignorable.contains($0) }.sorted()
    }

    /// Fails on the first key (in sorted order) that no read asked for.
    public func finish() throws {
        for key in object.keys.sorted() where !known.contains(key) && !ignorable.contains(key) {
            throw ConfigError(field: key, detail: "is not a known field")
        }
    }
}
