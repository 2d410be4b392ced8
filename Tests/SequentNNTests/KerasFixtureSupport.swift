import Foundation
@testable import SequentNN

/// Reading the fixtures scripts/keras-fixtures.py wrote with Keras 3 (Tests/Fixtures/*.json).
enum KerasFixture {
    /// The parsed fixture file `name` (e.g. "keras-optimizers.json"), or `.null` when it is missing, which
    /// each suite's presence test reports.
    static func load(_ name: String) -> JSONValue {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/" + name)
        return (try? JSONValue.parse(Data(contentsOf: url))) ?? .null
    }

    static func floats(_ v: JSONValue?) -> [Float] { (v?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
    static func ints(_ v: JSONValue?) -> [Int] { (v?.arrayValue ?? []).map { $0.intValue ?? -1 } }

    /// The worst |a − b| / max(floor, |b|) (∞ when the lengths differ), for messages and checks.
    static func worst(_ a: [Float], _ b: [Float], floor: Float = 1) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(floor, abs($1.1))) }
    }
}
