import Testing
@testable import SequentNN

@Suite struct RandomContrastTests {
    typealias A = AugmentationChecks

    /// A value range wider than the inputs, so no output sits on a clipping kink.
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try RandomContrast(factor: [0.4, 0.6], valueRange: (-10, 10)) },
                                       inputShape: [5, 7, 2], outputShape: [5, 7, 2], name: "random_contrast",
                                       fixture: "RandomContrast")
        #expect(r.fixtureCases == 3)
        try LayerHarness.check({ try RandomContrast(factor: 0.3, valueRange: (-10, 10), seed: 8) }, inputShape: [4, 3, 3],
                               outputShape: [4, 3, 3], name: "random_contrast")
    }

    @Test func matchesKerasWhereTheDrawIsAPoint() throws {
        #expect(try A.matchKeras("RandomContrast") == 3)
    }

    /// Keras cannot draw a contrast below 1 deterministically, so the fixture gives the draw (0.6 and 1.3).
    @Test func matchesKerasForAGivenDraw() throws {
        let cases = A.cases("RandomContrast").filter { A.draw($0.name) != nil }
        #expect(cases.count == 1)
        for c in cases {
            let layer = try #require(try A.layer("RandomContrast", c.config ?? .null) as? RandomContrast)
            let shape = Array(c.inputShape.dropFirst()), n = c.inputShape[0], size = shape.reduce(1, *)
            try layer.build(inputShape: shape)
            var y = [Float](repeating: .nan, count: c.input.count), dx = y, dy = c.weighting
            var mean = [Double](repeating: 0, count: shape[2]), gradientMean = mean
            for (s, f) in (A.draw(c.name) ?? []).enumerated() {
                c.input.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { layer.apply(x.baseAddress! + s * size, $0.baseAddress! + s * size, contrast: f, mean: &mean) }
                    dy.withUnsafeMutableBufferPointer { g in
                        dx.withUnsafeMutableBufferPointer {
                            layer.applyTranspose(x.baseAddress! + s * size, g.baseAddress! + s * size, $0.baseAddress! + s * size,
                                                 contrast: f, mean: &mean, gradientMean: &gradientMean)
                        }
                    }
                }
            }
            #expect(n == 2)
            #expect(A.close(y, c.output), "\(c.name): \(y) vs Keras \(c.output)")
            #expect(A.close(dx, c.gradient), "\(c.name) gradient: \(dx) vs Keras \(c.gradient)")
        }
    }

    @Test func aNumberFactorOnlyRaisesTheContrastAsKerasReadsIt() throws {
        // Keras 3.15.1 reads factor 0.5 as (0, 0.5): contrasts in [1, 1.5], never below 1.
        let layer = try RandomContrast(factor: 0.5, valueRange: (-100, 100))
        #expect(layer.factor.lower == 0 && layer.factor.upper == 0.5)
        let image: [Float] = [0, 1, 2, 3]
        let n = 64
        let y = try runLayer(layer, inputShape: [2, 2, 1], x: Array((0..<n).map { _ in image }.joined()), n: n,
                             context: A.training(step: 1)).y
        // The first pixel sits 1.5 below the mean, so its distance from the mean is 1.5 × the contrast.
        let contrasts = (0..<n).map { (1.5 - y[$0 * 4]) / 1.5 }
        #expect(contrasts.allSatisfy { $0 >= 1 - 1e-5 && $0 <= 1.5 + 1e-5 })
        #expect(contrasts.min()! < 1.1 && contrasts.max()! > 1.4)
    }

    @Test func isTheIdentityAtInference() throws {
        try A.inferenceIsIdentity(RandomContrast(factor: [0.4, 0.6]))
    }

    @Test func drawsAreReproducibleAndShardIndependent() throws {
        try A.drawsAreReproducible(RandomContrast(factor: [0.4, 0.6], valueRange: (-10, 10)))
    }

    @Test func backwardMatchesFiniteDifferencesThroughTheMeanAndTheClipping() throws {
        // Values up to ±3 against the range (-2, 2): some outputs are clipped (gradient 0).
        let layer = try RandomContrast(factor: [0.5, 0.5], valueRange: (-2, 2))
        let x = randomArray(140, seed: 21, scale: 3)
        let err = try worstInputGradientError(layer, inputShape: [5, 7, 2], x: x, n: 2, context: A.training(step: 3))
        #expect(err < 1e-2)
        let clipped = try runLayer(layer, inputShape: [5, 7, 2], x: x, n: 2, context: A.training(step: 3)).y
        #expect(clipped.contains(2) && clipped.contains(-2))
    }

    @Test func configRoundTrips() throws {
        try A.roundTrips("RandomContrast", ["factor": 0.3, "value_range": [0, 1], "seed": 5])
        try A.roundTrips("RandomContrast", A.cases("RandomContrast")[0].config ?? .null)
        #expect(try RandomContrast(factor: 0.3).config["factor"] == [0, 0.3])
    }

    @Test func refusesWhatKerasRefuses() {
        func refusal(_ c: JSONValue) -> String { A.refusal("RandomContrast", c) ?? "built" }
        #expect(refusal(["factor": 1.5]).contains("factor must be a number (or a list of two numbers) in [0.0, 1.0], got 1.5"))
        #expect(refusal(["factor": [2, 3]]).contains("factor"))
        #expect(refusal(["factor": -0.1]).contains("factor"))
        #expect(refusal(["factor": 0.2, "value_range": [1]]).contains("value_range"))
        #expect(refusal(["factor": 0.2, "value_range": [1, 0]]).contains("value_range"))
        #expect(refusal(["factor": 0.2, "data_format": "channels_first"]).contains("data_format"))
        #expect(refusal(["factor": 0.2, "fill_mode": "wrap"]).contains("fill_mode is not a known field"))
    }
}
