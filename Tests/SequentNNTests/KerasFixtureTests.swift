import Foundation
import Testing
@testable import SequentNN

/// Outputs and input gradients of Keras 3 itself (Tests/Fixtures/keras-layers.json, written by
/// scripts/keras-fixtures.py with keras 3.15.1 on the JAX backend): each layer is rebuilt here from the config
/// Keras serialised, run on the same input and compared value by value.
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

    @Test func activationsMatchKeras() throws {
        for c in Self.cases("activations") {
            let activation = try Activation(name: c.name)
            let layer = ActivationLayer(activation)
            let r = try runLayer(layer, inputShape: Array(c.inputShape.dropFirst()), x: c.input, n: c.inputShape[0],
                                 dy: c.weighting)
            #expect(Self.close(r.y, c.output), "\(c.name): \(r.y) vs Keras \(c.output)")
            #expect(Self.close(r.dx, c.gradient), "\(c.name) gradient: \(r.dx) vs Keras \(c.gradient)")
        }
    }

    @Test func layersMatchKeras() throws {
        for c in Self.cases("layers") {
            guard let cls = c.className, case .object(var config)? = c.config else {
                Issue.record("\(c.name): no config")
                continue
            }
            config["type"] = .string(cls)
            let layer = try ModelConfig.makeLayer(.object(config), path: c.name, kerasKeys: true)
            let r = try runLayer(layer, inputShape: Array(c.inputShape.dropFirst()), x: c.input, n: c.inputShape[0],
                                 dy: c.weighting)
            #expect(Self.close(r.y, c.output), "\(c.name): \(r.y) vs Keras \(c.output)")
            #expect(Self.close(r.dx, c.gradient), "\(c.name) gradient: \(r.dx) vs Keras \(c.gradient)")
        }
    }
}
