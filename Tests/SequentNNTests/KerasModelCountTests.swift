import Foundation
import Testing
@testable import SequentNN

/// 27 tutorial-style Keras 3 Sequential models (Tests/Fixtures/keras-models.json, from
/// scripts/keras-fixtures.py): each `model.to_json()` either builds here with Keras's total and trainable
/// parameter counts, or is refused with a ConfigError that names a key or layer type really present in it.
/// A layer Sequent gains later (BatchNormalization, the Random* layers) then moves from the second branch to
/// the first, where its counts must match Keras's (moving_mean/moving_variance count as non-trainable).
@Suite struct KerasModelCountTests {
    static let fixture = KerasFixture.load("keras-models.json")

    /// Every object key and string value in `v`: the names an error may point at.
    static func names(in v: JSONValue) -> Set<String> {
        switch v {
        case .string(let s): return [s]
        case .array(let a): return a.reduce(into: []) { $0.formUnion(names(in: $1)) }
        case .object(let o): return o.reduce(into: Set(o.keys)) { $0.formUnion(names(in: $1.value)) }
        default: return []
        }
    }

    /// What an error names: the quoted values in its detail and the last key of its field path.
    static func named(by e: ConfigError) -> [String] {
        let quoted = e.detail.split(separator: "\"", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
        let key = e.field.split(separator: ".").last.map { String($0.prefix { $0 != "[" }) }
        return quoted + (key.map { [$0] } ?? [])
    }

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect((Self.fixture["cases"]?.arrayValue?.count ?? 0) == 27)
    }

    /// The layer classes of a `to_json()` model, in order, without its InputLayer.
    static func layerClasses(_ json: JSONValue) -> [String] {
        (json["config"]?["layers"]?.arrayValue ?? []).compactMap { $0["class_name"]?.stringValue }
            .filter { $0 != "InputLayer" }
    }

    @Test func everyModelBuildsWithKerasCountsOrIsRefusedByName() throws {
        var built: [String] = []
        for c in Self.fixture["cases"]?.arrayValue ?? [] {
            let name = c["name"]?.stringValue ?? "?"
            let json = c["model"] ?? .null
            let unsupported = Self.layerClasses(json).filter { !ModelConfig.layerTypes.contains($0) }
            do {
                let model = try ModelConfig.makeModel(json, path: "model")
                built.append(name)
                #expect(unsupported.isEmpty, "\(name) built although Sequent lacks \(unsupported)")
                #expect(model.inputShape == KerasFixture.ints(c["input_shape"]), "\(name): input shape")
                #expect(model.parameterCount == c["count_params"]?.intValue, "\(name): \(model.parameterCount) parameters")
                #expect(model.trainableParameterCount == c["trainable"]?.intValue,
                        "\(name): \(model.trainableParameterCount) trainable")
            } catch let e as ConfigError {
                // A model of layers Sequent has must build; a refusal must point at something in this JSON
                // (the first layer type Sequent lacks, when there is one), not at a key Sequent misread.
                #expect(!unsupported.isEmpty, "\(name) has only supported layers but was refused: \(e.message)")
                let present = Self.names(in: json)
                let named = Self.named(by: e).filter { !$0.isEmpty && present.contains($0) }
                #expect(!named.isEmpty, "\(name): \(e.message) names nothing in the model JSON")
                if let first = unsupported.first { #expect(named.contains(first), "\(name): \(e.message)") }
                #expect(e.field.hasPrefix("model.config.layers["), "\(name): \(e.field)")
            }
        }
        // 15 of the 27 use only layers Sequent has today; more build as layers are added.
        #expect(built.count >= 15, "only \(built.count) models built: \(built)")
    }

    /// The counts are worth checking: frozen layers make trainable differ from the total.
    @Test func frozenLayersAreCountedApart() throws {
        let cases = Self.fixture["cases"]?.arrayValue ?? []
        let frozen = try #require(cases.first { $0["name"]?.stringValue == "mlp frozen layer" })
        let model = try ModelConfig.makeModel(frozen["model"] ?? .null)
        #expect(model.parameterCount == 517 && model.trainableParameterCount == 165)
    }

    /// Keras 3.15 writes `input_axes`/`output_axes` into every variance-scaling initializer: null is its
    /// default fan computation and accepted; any other value would change the fans and is refused.
    @Test func initializerAxesOnlyAtTheirDefault() throws {
        let glorot: JSONValue = ["module": "keras.initializers", "class_name": "GlorotUniform",
                                 "config": ["seed": .null, "input_axes": .null, "output_axes": .null]]
        #expect(try Initializer(json: glorot, field: "k") == .glorotUniform)
        let axes: JSONValue = ["class_name": "HeNormal", "config": ["input_axes": [0, 1]]]
        #expect(throws: ConfigError(field: "k.config.input_axes", detail: "must be null (the default fans), got [0,1]")) {
            try Initializer(json: axes, field: "k")
        }
    }
}
