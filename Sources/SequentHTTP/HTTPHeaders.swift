/// An ordered list of header fields with case-insensitive lookup.
///
/// Order and duplicates are kept as received (or as added) because some fields may legitimately repeat
/// (`Set-Cookie`, `Via`) and because the parser must see every `Content-Length` to detect conflicting ones.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// One header field as it appeared on the wire (name case preserved, value trimmed of surrounding whitespace).
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    private var fields: [Field] = []

    /// An empty header list.
    public init() {}

    /// Headers in the given order; duplicate names are kept.
    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The number of fields, counting duplicates.
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    /// The first value of the field named `name` (case-insensitive), or nil. Setting replaces every field of that
    /// name with one field (or removes them all when set to nil).
    public subscript(name: String) -> String? {
        get { fields.first { $0.name.equalsIgnoringASCIICase(name) }?.value }
        set {
            if let newValue { replaceOrAdd(name: name, value: newValue) } else { remove(name: name) }
        }
    }

    /// Every value of the field named `name` (case-insensitive), in order.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name.equalsIgnoringASCIICase(name) }.map(\.value)
    }

    /// Whether a field named `name` (case-insensitive) is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { $0.name.equalsIgnoringASCIICase(name) }
    }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(_ field: Field) {
        fields.append(field)
    }

    /// Replaces every field named `name` with a single one at the position of the first, or appends it.
    public mutating func replaceOrAdd(name: String, value: String) {
        if let first = fields.firstIndex(where: { $0.name.equalsIgnoringASCIICase(name) }) {
            fields[first] = Field(name: name, value: value)
            var i = first + 1
            while i < fields.count {
                if fields[i].name.equalsIgnoringASCIICase(name) { fields.remove(at: i) } else { i += 1 }
            }
        } else {
            add(name: name, value: value)
        }
    }

    /// Removes every field named `name` (case-insensitive).
    public mutating func remove(name: String) {
        fields.removeAll { $0.name.equalsIgnoringASCIICase(name) }
    }

    /// Whether a comma-separated field such as `Connection` contains `token` (both case-insensitive).
    public func containsToken(_ token: String, in name: String) -> Bool {
        values(for: name).contains { value in
            value.split(separator: ",").contains { $0.trimmingHTTPWhitespace().equalsIgnoringASCIICase(token) }
        }
    }

    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}

extension StringProtocol {
    /// ASCII case-insensitive comparison; header names and tokens are ASCII, so no Unicode folding is needed
    /// (and Foundation's `caseInsensitiveCompare` would be slower and locale-sensitive).
    func equalsIgnoringASCIICase<Other: StringProtocol>(_ other: Other) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
        }
    }

    /// The string without leading and trailing spaces and tabs (HTTP's "optional whitespace").
    func trimmingHTTPWhitespace() -> Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
