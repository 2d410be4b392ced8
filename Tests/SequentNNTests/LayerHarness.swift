import Foundation
import Testing
@testable import SequentNN

/// The checks every layer must pass, behind one call (Keras's `run_layer_test`): a layer's test file calls
/// `LayerHarness.check` for a few configurations and keeps only what is particular to that layer.
///
/// For a layer made by `make`, on a per-sample `inputShape`: the output shape and parameter count after build;
/// the trainable count and the summary row of a one-layer model; the config round trip through both spellings;
/// the gradient contract of Layer.swift (through `LayerCall`, whose `grads` and `dx` start as NaN) in every
/// context; finite differences of Σ y·w for the input and the trainable weights; and, given a class name, every
/// Keras fixture case of that class.
enum LayerHarness {
    /// A training step's context, with a seed and a step so that Dropout and the Random* layers draw.
    static let training: ForwardContext = {
        var c = ForwardContext(training: true, seed: 0x5EED, sampleOffset: 0)
        c.step = 3
        return c
    }()

    /// Where finite differences apply.
    enum FiniteDifferences {
        /// In every context the layer is checked in.
        case everywhere
        /// Only in these contexts.
        case only([ForwardContext])
        /// Nowhere, and why (the reason is the documentation).
        case skipped(because: String)
    }

    /// What a check found, for a test that wants to assert more (e.g. how many fixture cases ran).
    struct Report {
        var fixtureCases = 0
        var worstInputError = 0.0, worstWeightError = 0.0
    }

    @discardableResult
    static func check(_ make: () throws -> Layer, inputShape: [Int], outputShape: [Int], parameters: Int = 0,
                      trainable: Int? = nil, name: String, batch n: Int = 2,
                      contexts: [ForwardContext] = [.inference, training], input: [Float]? = nil,
                      params: [Float]? = nil, finiteDifferences: FiniteDifferences = .everywhere,
                      epsilon: Float = 1e-3, tolerance: Double = 1e-2, fixture: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> Report {
        var report = Report()
        let layer = try make()
        try layer.build(inputShape: inputShape)
        let label = "\(layer.typeName) \(layer.config)"
        #expect(layer.outputShape == outputShape, "\(label): output shape", sourceLocation: sourceLocation)
        #expect(layer.parameterCount == parameters, "\(label): parameter count", sourceLocation: sourceLocation)

        // A one-layer model names the layer as Keras would and reports its counts.
        let model = try Sequential(inputShape: inputShape, layers: [try make()], seed: 1)
        let built = model.layers[0]
        #expect(built.name == name, "\(label): default name", sourceLocation: sourceLocation)
        #expect(model.trainableParameterCount == (trainable ?? parameters), "\(label): trainable count",
                sourceLocation: sourceLocation)
        checkSummary(model, sourceLocation: sourceLocation)
        try checkConfigRoundTrip(model, sourceLocation: sourceLocation)

        let x = input ?? randomArray(n * inputShape.reduce(1, *), seed: 7)
        let weights = params ?? initialWeights(model)
        let w = randomArray(n * layer.outputCount, seed: 99)
        for context in contexts {
            let r = try LayerCall(layer, inputShape: inputShape, x: x, n: n, params: weights, dy: w, context: context)
            let mode = context.training ? "training" : "inference"
            #expect(r.y.allSatisfy { $0.isFinite }, "\(label) \(mode): output", sourceLocation: sourceLocation)
            #expect(r.dx.allSatisfy { $0.isFinite }, "\(label) \(mode): every dx value written",
                    sourceLocation: sourceLocation)
            #expect(r.grads.allSatisfy { $0.isFinite }, "\(label) \(mode): every grads value written",
                    sourceLocation: sourceLocation)
        }

        let differenced: [ForwardContext]
        switch finiteDifferences {
        case .everywhere: differenced = contexts
        case .only(let some): differenced = some
        case .skipped: differenced = []
        }
        for context in differenced {
            let e = try worstFiniteDifferenceError(layer, inputShape: inputShape, x: x, n: n, params: weights,
                                                   context: context, epsilon: epsilon)
            let mode = context.training ? "training" : "inference"
            #expect(e.input < tolerance, "\(label) \(mode): input gradient, worst relative error \(e.input)",
                    sourceLocation: sourceLocation)
            #expect(e.weights < tolerance, "\(label) \(mode): weight gradients, worst relative error \(e.weights)",
                    sourceLocation: sourceLocation)
            report.worstInputError = max(report.worstInputError, e.input)
            report.worstWeightError = max(report.worstWeightError, e.weights)
        }

        if let fixture {
            report.fixtureCases = try checkKerasFixtures(fixture, sourceLocation: sourceLocation)
            #expect(report.fixtureCases > 0, "no Keras fixture case of \(fixture)", sourceLocation: sourceLocation)
        }
        return report
    }

    /// The model's initial weights (so BatchNormalization's variance starts positive), moved off their often
    /// zero or one starting values, so that a dropped bias or a swapped weight shows.
    static func initialWeights(_ model: Sequential) -> [Float] {
        let initial = Array(UnsafeBufferPointer(start: model.parameters, count: model.parameterCount))
        return zip(initial, randomArray(initial.count, seed: 31, scale: 0.2)).map { $0 + $1 }
    }

    /// Keras's summary row: "name (Type)", "(None, …)", the grouped parameter count.
    static func checkSummary(_ model: Sequential, sourceLocation: SourceLocation) {
        let layer = model.layers[0]
        let row = model.summary().split(separator: "\n").first { $0.contains("│ \(layer.name) (\(layer.typeName))") }
        let shape = "(None, " + layer.outputShape.map(String.init).joined(separator: ", ") + ")"
        #expect(row?.contains("│ \(shape) ") == true, "summary row \(row ?? "missing")", sourceLocation: sourceLocation)
        #expect(row?.hasSuffix(" \(Sequential.grouped(layer.parameterCount)) │") == true,
                "summary row \(row ?? "missing")", sourceLocation: sourceLocation)
        #expect(model.summaryRows[0]["type"]?.stringValue == layer.typeName, sourceLocation: sourceLocation)
        #expect(model.summaryRows[0]["params"]?.intValue == layer.parameterCount, sourceLocation: sourceLocation)
    }

    /// `config` + type + name builds the same layer in Sequent's spelling and in Keras's (a layer config and a
    /// whole `to_json()` model), and the model's architecture reads back to itself.
    static func checkConfigRoundTrip(_ model: Sequential, sourceLocation: SourceLocation) throws {
        let layer = model.layers[0]
        var config = layer.config
        config["name"] = .string(layer.name)
        var typed = config
        typed["type"] = .string(layer.typeName)
        for keras in [false, true] {
            let again = try ModelConfig.makeLayer(.object(typed), path: "layer", kerasKeys: keras)
            try again.build(inputShape: model.inputShape)
            #expect(again.typeName == layer.typeName && again.name == layer.name, sourceLocation: sourceLocation)
            #expect(again.config == layer.config, "kerasKeys \(keras): \(again.config) vs \(layer.config)",
                    sourceLocation: sourceLocation)
            #expect(again.outputShape == layer.outputShape && again.parameterCount == layer.parameterCount,
                    sourceLocation: sourceLocation)
        }
        let keras = try ModelConfig.makeModel(kerasModelJSON(input: model.inputShape, [(layer.typeName, .object(config))]))
        #expect(keras.layers[0].config == layer.config, "as Keras's to_json", sourceLocation: sourceLocation)
        #expect(try roundTrip(model).architecture == model.architecture, sourceLocation: sourceLocation)
    }

    /// Central finite differences of Σ y·w against the analytic input and (trainable) weight gradients, over an
    /// evenly spread subset of at most `maxChecks` values of each. Relative errors, with a floor of 1e-2.
    static func worstFiniteDifferenceError(_ layer: Layer, inputShape: [Int], x: [Float], n: Int, params: [Float],
                                           context: ForwardContext, epsilon: Float, maxChecks: Int = 150) throws
        -> (input: Double, weights: Double)
    {
        let w = randomArray(n * layer.outputCount, seed: 99)
        func loss(_ x: [Float], _ p: [Float]) throws -> Double {
            let y = try LayerCall(layer, inputShape: inputShape, x: x, n: n, params: p, dy: w, context: context).y
            return zip(y, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        let analytic = try LayerCall(layer, inputShape: inputShape, x: x, n: n, params: params, dy: w, context: context)
        func error(_ numeric: Double, _ a: Float) -> Double {
            abs(numeric - Double(a)) / max(1e-2, abs(numeric) + abs(Double(a)))
        }
        var worstInput = 0.0
        for i in stride(from: 0, to: x.count, by: max(1, x.count / maxChecks)) {
            var plus = x, minus = x
            plus[i] += epsilon
            minus[i] -= epsilon
            let numeric = (try loss(plus, params) - loss(minus, params)) / Double(2 * epsilon)
            worstInput = max(worstInput, error(numeric, analytic.dx[i]))
        }
        // Only trainable weights: the moving statistics get no gradient, by design.
        var trainable: [Int] = []
        var offset = 0
        for spec in layer.parameters {
            if spec.trainable { trainable += offset..<(offset + spec.count) }
            offset += spec.count
        }
        var worstWeight = 0.0
        for k in stride(from: 0, to: trainable.count, by: max(1, trainable.count / maxChecks)) {
            let i = trainable[k]
            var plus = params, minus = params
            plus[i] += epsilon
            minus[i] -= epsilon
            let numeric = (try loss(x, plus) - loss(x, minus)) / Double(2 * epsilon)
            worstWeight = max(worstWeight, error(numeric, analytic.grads[i]))
        }
        return (worstInput, worstWeight)
    }

    // MARK: Keras fixtures

    /// Runs every case of Keras class `className` in whichever fixture holds it; returns how many ran.
    static func checkKerasFixtures(_ className: String, sourceLocation: SourceLocation) throws -> Int {
        var ran = 0
        for c in KerasFixtureTests.cases("layers") where c.className == className {
            try checkParameterFreeCase(c, sourceLocation: sourceLocation)
            ran += 1
        }
        for c in weightedFixture["cases"]?.arrayValue ?? [] where c["class_name"]?.stringValue == className {
            try checkWeightedCase(c, sourceLocation: sourceLocation)
            ran += 1
        }
        if className == "BatchNormalization" {
            for c in BatchNormalizationTests.fixture["cases"]?.arrayValue ?? [] {
                try checkBatchNormalizationCase(c, sourceLocation: sourceLocation)
                ran += 1
            }
        }
        ran += try AugmentationChecks.matchKeras(className)
        return ran
    }

    static func layer(_ className: String, _ config: JSONValue?, name: String) throws -> Layer {
        guard case .object(var c)? = config else { throw ConfigError(field: name, detail: "no config") }
        c["type"] = .string(className)
        let layer = try ModelConfig.makeLayer(.object(c), path: name, kerasKeys: true)
        #expect(layer.typeName == className)
        return layer
    }

    /// keras-layers.json: output and input gradient of a parameter-free layer at inference.
    static func checkParameterFreeCase(_ c: KerasFixtureTests.Case, sourceLocation: SourceLocation) throws {
        let layer = try layer(c.className ?? "?", c.config, name: c.name)
        let r = try LayerCall(layer, inputShape: Array(c.inputShape.dropFirst()), x: c.input, n: c.inputShape[0],
                              params: [], dy: c.weighting, context: .inference)
        #expect(KerasFixtureTests.close(r.y, c.output), "\(c.name): \(r.y) vs Keras \(c.output)",
                sourceLocation: sourceLocation)
        #expect(KerasFixtureTests.close(r.dx, c.gradient), "\(c.name) gradient: \(r.dx) vs Keras \(c.gradient)",
                sourceLocation: sourceLocation)
    }

    static let weightedFixture = KerasFixture.load("keras-weighted-layers.json")

    /// keras-weighted-layers.json: output, input gradient and weight gradients with Keras's weights, at inference.
    static func checkWeightedCase(_ c: JSONValue, sourceLocation: SourceLocation) throws {
        // float32 sums of up to 27 products in another order: a few ulps of the largest terms.
        let tolerance: Float = 2e-5
        let name = c["name"]?.stringValue ?? "?"
        let layer = try layer(c["class_name"]?.stringValue ?? "?", c["config"], name: name)
        let shape = KerasFixture.ints(c["input_shape"])
        let weights = c["weights"]?.arrayValue ?? []
        try layer.build(inputShape: Array(shape.dropFirst()))
        let params = weights.flatMap { KerasFixture.floats($0["value"]) }
        #expect(params.count == layer.parameterCount, "\(name): \(layer.parameterCount) weights",
                sourceLocation: sourceLocation)
        guard params.count == layer.parameterCount else { return }
        let r = try LayerCall(layer, inputShape: Array(shape.dropFirst()), x: KerasFixture.floats(c["input"]),
                              n: shape[0], params: params, dy: KerasFixture.floats(c["weighting"]), context: .inference)
        #expect(layer.outputShape == Array(KerasFixture.ints(c["output_shape"]).dropFirst()), "\(name) shape",
                sourceLocation: sourceLocation)
        let e = (KerasFixture.worst(r.y, KerasFixture.floats(c["output"])),
                 KerasFixture.worst(r.dx, KerasFixture.floats(c["input_gradient"])),
                 KerasFixture.worst(r.grads, weights.flatMap { KerasFixture.floats($0["gradient"]) }))
        #expect(e.0 <= tolerance, "\(name) output: worst error \(e.0)", sourceLocation: sourceLocation)
        #expect(e.1 <= tolerance, "\(name) input gradient: worst error \(e.1)", sourceLocation: sourceLocation)
        #expect(e.2 <= tolerance, "\(name) weight gradients: worst error \(e.2)", sourceLocation: sourceLocation)
    }

    /// keras-batchnorm.json: output and input gradient in both modes (BatchNormalizationTests checks the rest).
    static func checkBatchNormalizationCase(_ c: JSONValue, sourceLocation: SourceLocation) throws {
        let name = c["name"]?.stringValue ?? "?"
        let bn = try BatchNormalizationTests.layer(c["config"])
        let shape = KerasFixture.ints(c["input_shape"])
        try bn.build(inputShape: Array(shape.dropFirst()))
        for (mode, context) in [("inference", ForwardContext.inference), ("training", training)] {
            let expected = c[mode]
            let r = try LayerCall(bn, inputShape: Array(shape.dropFirst()), x: KerasFixture.floats(c["input"]),
                                  n: shape[0], params: BatchNormalizationTests.weights(c, bn),
                                  dy: KerasFixture.floats(c["weighting"]), context: context)
            #expect(KerasFixtureTests.close(r.y, KerasFixture.floats(expected?["output"]), tolerance: 1e-5),
                    "\(name) \(mode) output", sourceLocation: sourceLocation)
            #expect(KerasFixtureTests.close(r.dx, KerasFixture.floats(expected?["input_gradient"]), tolerance: 1e-4),
                    "\(name) \(mode) input gradient", sourceLocation: sourceLocation)
        }
    }
}
