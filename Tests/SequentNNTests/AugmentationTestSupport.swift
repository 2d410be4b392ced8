import Foundation
import Testing
@testable import SequentNN

/// What the random augmentation layers' tests share: Keras's outputs (Tests/Fixtures/keras-augmentation.json,
/// written by scripts/keras-fixtures.py with keras 3.15.1 on JAX), training contexts, and the checks every one of
/// the five layers must pass.
enum AugmentationChecks {
    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/keras-augmentation.json")
        return (try? JSONValue.parse(Data(contentsOf: url))) ?? .null
    }()

    /// The fixture's cases of one Keras class.
    static func cases(_ className: String) -> [KerasFixtureTests.Case] {
        (fixture["layers"]?.arrayValue ?? []).compactMap { c in
            guard c["class_name"]?.stringValue == className else { return nil }
            func floats(_ k: String) -> [Float] { (c[k]?.arrayValue ?? []).map { Float($0.doubleValue ?? .nan) } }
            return KerasFixtureTests.Case(
                name: c["name"]?.stringValue ?? "?", inputShape: (c["input_shape"]?.arrayValue ?? []).map { $0.intValue ?? 0 },
                input: floats("input"), output: floats("output"), weighting: floats("weighting"),
                gradient: floats("input_gradient"), className: className, config: c["config"])
        }
    }

    /// The explicit per-sample draw of a fixture case (RandomFlip's coin, RandomContrast's factor), if any.
    static func draw(_ name: String) -> [Float]? {
        let c = fixture["layers"]?.arrayValue?.first { $0["name"]?.stringValue == name }
        return c?["draw"]?.arrayValue?.map { Float($0.doubleValue ?? .nan) }
    }

    /// Relative closeness, with an absolute floor of `tolerance` for values near zero.
    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-4) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    /// A training step's context, as `trainStep` makes it.
    static func training(step: Int, modelSeed: UInt64 = 1, offset: Int = 0) -> ForwardContext {
        var c = ForwardContext(training: true, seed: SeededGenerator.mix(modelSeed ^ UInt64(step)), sampleOffset: offset)
        c.step = step
        return c
    }

    /// Builds a layer from a Keras config (as `model.to_json()` writes it).
    static func layer(_ className: String, _ config: JSONValue) throws -> Layer {
        guard case .object(var c) = config else { throw ConfigError(field: "config", detail: "not an object") }
        c["type"] = .string(className)
        return try ModelConfig.makeLayer(.object(c), path: "layer", kerasKeys: true)
    }

    /// Every fixture case of `className` whose draw is a point: the layer rebuilt from Keras's config gives
    /// Keras's training output and input gradient, at any step. Returns how many cases ran.
    @discardableResult
    static func matchKeras(_ className: String) throws -> Int {
        var ran = 0
        for c in cases(className) where draw(c.name) == nil {
            let layer = try layer(className, c.config ?? .null)
            for step in [0, 7] {
                let r = try runLayer(layer, inputShape: Array(c.inputShape.dropFirst()), x: c.input, n: c.inputShape[0],
                                     dy: c.weighting, context: training(step: step))
                #expect(close(r.y, c.output), "\(c.name): \(r.y) vs Keras \(c.output)")
                #expect(close(r.dx, c.gradient), "\(c.name) gradient: \(r.dx) vs Keras \(c.gradient)")
            }
            ran += 1
        }
        return ran
    }

    /// At inference the layer is the identity, forward and backward.
    static func inferenceIsIdentity(_ layer: Layer, shape: [Int] = [5, 7, 2], n: Int = 3) throws {
        let x = randomArray(n * shape.reduce(1, *), seed: 4), dy = randomArray(x.count, seed: 5)
        let r = try runLayer(layer, inputShape: shape, x: x, n: n, dy: dy)
        #expect(layer.outputShape == shape)
        #expect(r.y == x)
        #expect(r.dx == dy)
    }

    /// Training output of `layer` for a batch, in one call or split at `split` (the second call with its
    /// sample offset), at `step`.
    static func trainingOutput(_ layer: Layer, x: [Float], n: Int, shape: [Int], step: Int, split: Int? = nil,
                               modelSeed: UInt64 = 1) throws -> [Float] {
        guard let split else {
            return try runLayer(layer, inputShape: shape, x: x, n: n, context: training(step: step, modelSeed: modelSeed)).y
        }
        let size = shape.reduce(1, *)
        let a = try runLayer(layer, inputShape: shape, x: Array(x[..<(split * size)]), n: split,
                             context: training(step: step, modelSeed: modelSeed)).y
        let b = try runLayer(layer, inputShape: shape, x: Array(x[(split * size)...]), n: n - split,
                             context: training(step: step, modelSeed: modelSeed, offset: split)).y
        return a + b
    }

    /// The random layer draws: different transforms at different steps and for different samples, the same for
    /// the same step, whatever the split of the batch across shards.
    static func drawsAreReproducible(_ layer: Layer, shape: [Int] = [5, 7, 2], n: Int = 8) throws {
        let size = shape.reduce(1, *)
        // The same image in every sample, so samples differ only by their draws.
        let image = randomArray(size, seed: 6)
        let x = Array((0..<n).map { _ in image }.joined())
        let step3 = try trainingOutput(layer, x: x, n: n, shape: shape, step: 3)
        #expect(try trainingOutput(layer, x: x, n: n, shape: shape, step: 3) == step3)
        #expect(try trainingOutput(layer, x: x, n: n, shape: shape, step: 3, split: 3) == step3)
        #expect(try trainingOutput(layer, x: x, n: n, shape: shape, step: 4) != step3)
        let samples = Set((0..<n).map { Array(step3[($0 * size)..<(($0 + 1) * size)]) })
        #expect(samples.count > 1, "every sample drew the same transform")
    }

    /// `config` → Keras JSON model → the model's architecture → model again: same layer config, 0 parameters,
    /// a summary row of its own.
    static func roundTrips(_ className: String, _ config: JSONValue, input: [Int] = [5, 7, 2]) throws {
        let model = try ModelConfig.makeModel(kerasModelJSON(input: input, [(className, config)]))
        let again = try roundTrip(model)
        #expect(again.layers[0].config == model.layers[0].config)
        #expect(again.architecture == model.architecture)
        #expect(model.parameterCount == 0)
        let row = model.summaryRows[0]
        #expect(row["type"]?.stringValue == className)
        #expect(row["params"]?.intValue == 0)
        #expect(row["output_shape"] == .ints(input))
        #expect(model.summary().contains("(\(className))"))
    }

    /// The error building `className` from `config` (nil if it builds).
    static func refusal(_ className: String, _ config: JSONValue) -> String? {
        do {
            _ = try ModelConfig.makeModel(kerasModelJSON(input: [5, 7, 2], [(className, config)]))
            return nil
        } catch {
            return "\(error)"
        }
    }
}
