import Testing
@testable import SequentNN

/// Finite-difference checks of every loss's backward pass through small models (each layer's are in its own
/// <Layer>Tests, through LayerHarness). Float32 central differences on small smooth networks agree with the
/// analytic gradients to well under 1 %; a wrong index or a missing term shows up as an error of order 1.
@Suite struct GradientCheckTests {
    static let tolerance = 0.02

    @Test func categoricalCrossentropyWithProbabilitiesAndLogits() throws {
        let n = 4
        for (activation, loss) in [(Activation.softmax, CategoricalCrossentropy()),
                                   (.linear, CategoricalCrossentropy(fromLogits: true)),
                                   (.sigmoid, CategoricalCrossentropy())] {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: activation)], seed: 8)
            try model.compile(optimizer: SGD(), loss: loss)
            let y = oneHot(labels(n, classes: 3, seed: 6), classes: 3)
            let r = worstGradientError(model: model, x: randomArray(n * 4, seed: 9), y: y, n: n, epsilon: 5e-3)
            #expect(r.error < Self.tolerance, "\(activation) from_logits=\(loss.fromLogits): \(r.error)")
        }
    }

    @Test func binaryCrossentropyAndMeanSquaredError() throws {
        let n = 5
        let cases: [(Activation, any Loss)] = [(.sigmoid, BinaryCrossentropy()), (.linear, BinaryCrossentropy(fromLogits: true)),
                                               (.tanh, MeanSquaredError()), (.linear, MeanSquaredError())]
        for (activation, loss) in cases {
            let model = try Sequential(inputShape: [3], layers: [Dense(units: 4, activation: .tanh),
                                                                 Dense(units: 2, activation: activation)], seed: 4)
            try model.compile(optimizer: SGD(), loss: loss)
            let y = labels(n * 2, classes: 2, seed: 7)
            let r = worstGradientError(model: model, x: randomArray(n * 3, seed: 1), y: y, n: n, epsilon: 5e-3)
            #expect(r.error < Self.tolerance, "\(loss.name) \(activation): \(r.error)")
        }
    }

    @Test func sigmoidBinaryCrossentropyIsFusedAndStable() throws {
        // Huge logits: the fused path stays finite where log(sigmoid) would underflow to -inf.
        let model = try Sequential(inputShape: [1], layers: [Dense(units: 1, activation: .sigmoid)], seed: 1)
        try model.compile(optimizer: SGD(), loss: BinaryCrossentropy())
        #expect(model.fusedOutputActivation)
        try model.setWeights(ofLayer: 0, [Tensor(shape: [1, 1], scalars: [200]), Tensor(shape: [1], scalars: [0])])
        let r = model.lossAndGradients(x: [1], y: [0], n: 1, context: .inference)
        #expect(abs(r.loss - 200) < 1e-3)
        #expect(r.grads.allSatisfy { $0.isFinite })
    }
}
