import Foundation
import Testing
@testable import SequentNN

/// Outputs and input gradients of Keras 3 itself (Tests/Fixtures/keras-layers.json, written by
/// scripts/keras-fixtures.py with keras 3.15.1 on the JAX backend). Each layer's cases run in its own test file
/// through `LayerHarness.check(…, fixture:)` (the layer rebuilt from the config Keras serialised, run on the same
/// input, compared value by value); the activations' in ActivationTests. Here: the file is there, and every
/// class in it is one Sequent builds.
@Suite struct KerasFixtureTests {
    struct Case {
        let name: String, inputShape: [Int], input: [Float], output: [Float], weighting: [Float], gradient: [Float]
        let className: String?, config: JSONValue?
    }

    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/keras-layers.json")
        return (try? JSONValue.parse(Data(contentsOf: url))) ?? .null
    }()

    static func cases(_ key: String) -> [Case] {
        (fixture[key]?.arrayValue ?? []).map { c in
            func floats(_ k: String) -> [Float] { (c[k]?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
            return Case(name: c["name"]?.stringValue ?? "?", inputShape: (c["input_shape"]?.arrayValue ?? []).map { $0.intValue ?? 0 },
                        input: floats("input"), output: floats("output"), weighting: floats("weighting"),
                        gradient: floats("input_gradient"), className: c["class_name"]?.stringValue, config: c["config"])
        }
    }

    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 2e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect(Self.cases("activations").count == 14 && Self.cases("layers").count == 20)
    }

    /// A class no layer type names would never be checked by any layer's test.
    @Test func everyFixtureClassIsALayerType() {
        let classes = Set(Self.cases("layers").compactMap(\.className))
        #expect(classes.count == 8)
        #expect(classes.isSubset(of: ModelConfig.layerTypes), "\(classes.subtracting(ModelConfig.layerTypes))")
    }
}
