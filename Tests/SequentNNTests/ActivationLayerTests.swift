import Foundation
import Testing
@testable import SequentNN

/// The activation functions (as `activation=` and as the Activation layer) and the ReLU, LeakyReLU, ELU and
/// Softmax layers: exact values, finite-difference gradients, configs. Keras's own numbers are in
/// KerasFixtureTests.
@Suite struct ActivationLayerTests {
    static let added: [Activation] = [.leakyRelu, .elu, .selu, .gelu, .silu, .softplus, .relu6, .hardSigmoid]

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

    @Test func onlyReLUConvolutionsTakeThePoolFusion() throws {
        for activation in [Activation.relu] + Self.added {
            let model = try Sequential(inputShape: [8, 8, 1], layers: [
                Conv2D(filters: 16, kernelSize: [3, 3], padding: .same, activation: activation), MaxPooling2D(),
            ])
            let conv = model.layers[0] as! Conv2D
            #expect(model.plan.fusion[0].contains(.reluGradientLeftToNext) == (activation == .relu), "\(activation)")
            #expect(model.plan.pooled[0] == (activation == .relu && conv.canFuse(model.layers[1] as! MaxPooling2D)))
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

    @Test func reluLayerByHand() throws {
        let x: [Float] = [-1, 0.2, 1, 3]
        #expect(try runLayer(try ReLU(), inputShape: [4], x: x, n: 1).y == [0, 0.2, 1, 3])
        let clipped = try ReLU(maxValue: 2.5, negativeSlope: 0.1, threshold: 0.5)
        let r = try runLayer(clipped, inputShape: [4], x: x, n: 1, dy: [1, 1, 1, 1])
        // Below the threshold: −0.1·(0.5 − x); above: x, clipped at 2.5.
        #expect(zip(r.y, [-0.15, -0.03, 1, 2.5] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(r.dx == [0.1, 0.1, 1, 0])
        #expect(try runLayer(ReLU(threshold: 1.5), inputShape: [4], x: x, n: 1).y == [0, 0, 0, 3])
        #expect(try runLayer(try LeakyReLU(), inputShape: [4], x: x, n: 1).y == [-0.3, 0.2, 1, 3])
        let elu = try runLayer(ELU(alpha: 0.5), inputShape: [4], x: x, n: 1, dy: [1, 1, 1, 1])
        #expect(abs(elu.y[0] - 0.5 * (exp(-1) - 1)) < 1e-7 && elu.y[1...] == [0.2, 1, 3])
        #expect(abs(elu.dx[0] - 0.5 * exp(-1)) < 1e-7 && elu.dx[1...] == [1, 1, 1])
        let layers: [Layer] = [try ReLU(), try ReLU(maxValue: 2.5, negativeSlope: 0.1, threshold: 0.5),
                               try ReLU(maxValue: 1), try LeakyReLU(negativeSlope: 0.05), ELU(), ELU(alpha: 0.5)]
        for layer in layers {
            let err = try worstInputGradientError(layer, inputShape: [2, 5], x: randomArray(20, seed: 17, scale: 3), n: 2)
            #expect(err < 0.01, "\(layer.typeName) \(layer.config): worst relative error \(err)")
        }
    }

    @Test func softmaxLayerByHandAndFusedWithCrossentropy() throws {
        let y = try runLayer(Softmax(), inputShape: [3], x: [1, 2, 3], n: 1).y
        #expect(zip(y, [0.09003057, 0.24472847, 0.66524096] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(throws: ConfigError.self) { try Softmax(axis: 1) }
        let err = try worstInputGradientError(Softmax(), inputShape: [2, 4], x: randomArray(16, seed: 2, scale: 2), n: 2)
        #expect(err < 0.01, "worst relative error \(err)")
        // As the last layer the softmax folds into the loss, like Dense(activation="softmax"), and predict still
        // returns probabilities.
        for last in [try Softmax() as Layer, ActivationLayer(.softmax)] {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3), last], seed: 3)
            try model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
            #expect(model.plan.fusion[1].contains(.defersActivation))
            let r = worstGradientError(model: model, x: randomArray(8, seed: 1), y: labels(2, classes: 3, seed: 1), n: 2)
            #expect(r.error < GradientCheckTests.tolerance)
            let p = try model.predict(Tensor(shape: [1, 4], scalars: [0.1, -0.2, 0.3, 0.5])).scalars
            #expect(abs(p.reduce(0, +) - 1) < 1e-6 && p.allSatisfy { $0 > 0 })
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
