import Foundation
import Testing
@testable import SequentNN

/// The activation functions (as `activation=` and as the Activation layer): the shared layer checks, exact
/// values, Keras's numbers for every activation, finite differences; and the configs of all the activation layers.
@Suite struct ActivationTests {
    static let added: [Activation] = [.leakyRelu, .elu, .selu, .gelu, .silu, .softplus, .relu6, .hardSigmoid]

    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ ActivationLayer(.tanh) }, inputShape: [3, 4], outputShape: [3, 4],
                                       name: "activation", fixture: "Activation")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ ActivationLayer(.softmax) }, inputShape: [4], outputShape: [4], name: "activation")
        try LayerHarness.check({ ActivationLayer(.gelu) }, inputShape: [2, 3], outputShape: [2, 3], name: "activation")
    }

    @Test func activationsMatchKeras() throws {
        for c in KerasFixtureTests.cases("activations") {
            let activation = try Activation(name: c.name)
            let layer = ActivationLayer(activation)
            let r = try runLayer(layer, inputShape: Array(c.inputShape.dropFirst()), x: c.input, n: c.inputShape[0],
                                 dy: c.weighting)
            #expect(KerasFixtureTests.close(r.y, c.output), "\(c.name): \(r.y) vs Keras \(c.output)")
            #expect(KerasFixtureTests.close(r.dx, c.gradient), "\(c.name) gradient: \(r.dx) vs Keras \(c.gradient)")
        }
    }

    /// Values worked out from Keras 3's definitions.
    @Test func activationValuesByHand() throws {
        func f(_ a: Activation, _ x: Float) -> Float { a.value(x) }
        #expect(f(.leakyRelu, -1) == -0.2 && f(.leakyRelu, 2) == 2)
        #expect(abs(f(.elu, -1) - (exp(-1) - 1)) < 1e-7)
        #expect(abs(f(.selu, -1) - 1.0507009873554805 * 1.6732632423543772 * (exp(-1) - 1)) < 1e-6)
        #expect(abs(f(.selu, 2) - 2 * 1.0507009873554805) < 1e-6)
        #expect(abs(f(.gelu, 1) - 0.8413447460685429) < 1e-6)    // x·Φ(x), the erf form (not tanh's 0.8411920)
        #expect(abs(f(.gelu, -2) - -0.04550026389635842) < 1e-6)
        #expect(abs(f(.silu, 1) - 0.7310585786300049) < 1e-6)
        #expect(abs(f(.softplus, 0) - Float(log(2.0))) < 1e-7)
        #expect(f(.softplus, 100) == 100 && abs(f(.softplus, -20) - 2.0611537e-9) < 1e-15)
        #expect(f(.relu6, 7) == 6 && f(.relu6, -1) == 0 && f(.relu6, 2.5) == 2.5)
        #expect(f(.hardSigmoid, 1) == Float(4) / 6 && f(.hardSigmoid, -3.5) == 0 && f(.hardSigmoid, 3) == 1)
        #expect(try Activation(name: "swish") == .silu)
        #expect(try Activation(name: "Leaky_ReLU") == .leakyRelu)
        #expect(throws: ConfigError.self) { try Activation(name: "mish") }
    }
    /// Each added activation on Dense and on Conv2D (direct kernels, im2col in one chunk and per sample), checked by finite
    /// differences of the loss; gelu and silu take the path that keeps the pre-activation.
    @Test(arguments: added)
    func activationGradients(activation: Activation) throws {
        for (kernels, budget) in [(Conv2D.KernelChoice.direct, 1 << 20), (.im2col, 1 << 20), (.im2col, 1)] {
            let conv = try Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: activation)
            conv.kernels = kernels
            conv.colBudget = budget
            let n = 2
            let model = try Sequential(inputShape: [5, 5, 2], layers: [
                conv, Flatten(), Dense(units: 6, activation: activation), Dense(units: 3),
            ], seed: 6)
            try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy(fromLogits: true))
            let r = worstGradientError(model: model, x: randomArray(n * 50, seed: 21, scale: 2),
                                       y: labels(n, classes: 3, seed: 4), n: n, epsilon: 1e-3)
            #expect(r.error < GradientCheckTests.tolerance, "\(activation) \(kernels) budget \(budget): worst relative error \(r.error)")
        }
    }
    @Test func activationLayerMatchesTheDenseActivation() throws {
        for activation in Self.added + [.sigmoid, .tanh, .softmax, .relu] {
            let x = randomArray(2 * 12, seed: 5, scale: 4)
            let y = try runLayer(ActivationLayer(activation), inputShape: [3, 4], x: x, n: 2).y
            var expected = x
            expected.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, rows: 6, width: 4) }
            #expect(y == expected, "\(activation)")
            let err = try worstInputGradientError(ActivationLayer(activation), inputShape: [3, 4], x: x, n: 2)
            #expect(err < 0.01, "\(activation): worst relative error \(err)")
        }
    }
    @Test func configsRoundTripInBothSpellings() throws {
        let model = try Sequential(inputShape: [3, 4], layers: [
            ActivationLayer(.gelu), ReLU(maxValue: 6, negativeSlope: 0.1, threshold: 0.2), LeakyReLU(), ELU(alpha: 0.7),
            Dense(units: 4, activation: .silu), Softmax(),
        ])
        #expect(model.layers.map(\.name) == ["activation", "re_lu", "leaky_re_lu", "elu", "dense", "softmax"])
        #expect(model.parameterCount == 20)
        #expect(model.summary().contains("│ leaky_re_lu (LeakyReLU)         │ (None, 3, 4)           │             0 │"))
        let back = try roundTrip(model)
        #expect(back.architecture == model.architecture)
        let relu = try #require(back.layers[1] as? ReLU)
        #expect(relu.maxValue == 6 && relu.negativeSlope == 0.1 && relu.threshold == 0.2)

        let keras = try ModelConfig.makeModel(kerasModelJSON(input: [5], [
            ("Activation", ["name": "act", "trainable": true, "activation": "swish"]),
            ("ReLU", ["name": "r", "max_value": .null, "negative_slope": 0.0, "threshold": 0.0]),
            ("LeakyReLU", ["name": "l", "alpha": 0.1]),   // Keras 2's spelling
            ("ELU", ["name": "e", "alpha": 1.0]),
            ("Softmax", ["name": "s", "axis": -1]),
        ]))
        #expect(keras.layers.map(\.typeName) == ["Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"])
        #expect((keras.layers[0] as? ActivationLayer)?.activation == .silu)
        #expect((keras.layers[2] as? LeakyReLU)?.negativeSlope == 0.1)
        #expect((keras.layers[1] as? ReLU)?.maxValue == nil)

        func error(_ layer: JSONValue) -> String? {
            do { _ = try ModelConfig.makeModel(["input_shape": [4], "layers": [layer]]); return nil }
            catch { return "\(error)" }
        }
        #expect(error(["type": "Softmax", "axis": 0]) == "model.layers[0].axis must be -1 (softmax over the last axis), got 0")
        #expect(error(["type": "ReLU", "max_value": -1]) == "model.layers[0].max_value must be ≥ 0, got -1.0")
        #expect(error(["type": "ReLU", "threshold": -1]) == "model.layers[0].threshold must be ≥ 0, got -1.0")
        #expect(error(["type": "LeakyReLU", "negative_slope": -0.1]) == "model.layers[0].negative_slope must be ≥ 0, got -0.1")
        #expect(error(["type": "Activation"]) == "model.layers[0].activation is required")
        #expect(error(["type": "Activation", "activation": "mish"])?.hasPrefix("model.layers[0].activation must be one of") == true)
        #expect(error(["type": "Dense", "units": 2, "activation": "hard_sigmoid"]) == nil)
    }
}
