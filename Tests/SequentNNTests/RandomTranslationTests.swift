import Testing
@testable import SequentNN

@Suite struct RandomTranslationTests {
    typealias A = AugmentationChecks

    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try RandomTranslation(heightFactor: 0.3, widthFactor: 0.4, fillMode: .nearest) },
                                       inputShape: [5, 7, 2], outputShape: [5, 7, 2], name: "random_translation",
                                       fixture: "RandomTranslation")
        #expect(r.fixtureCases == 9)
        try LayerHarness.check({ try RandomTranslation(heightFactor: [-0.2, 0.2], widthFactor: 0.3, fillMode: .reflect,
                                                       interpolation: .nearest, seed: 5) },
                               inputShape: [6, 5, 1], outputShape: [6, 5, 1], name: "random_translation")
    }

    @Test func matchesKerasForEveryFillModeAndInterpolation() throws {
        #expect(try A.matchKeras("RandomTranslation") == 9)
    }

    @Test func positiveFactorsMoveTheContentDownAndRight() throws {
        // As Keras: (0.2, 0.4) of a 5×5 image moves the top-centre pixel one row down and two columns right.
        let layer = try RandomTranslation(heightFactor: [0.2, 0.2], widthFactor: [0.4, 0.4], fillMode: .constant)
        var x = [Float](repeating: 0, count: 25)
        x[2] = 1
        let y = try runLayer(layer, inputShape: [5, 5, 1], x: x, n: 1, context: A.training(step: 0)).y
        #expect(y.firstIndex { $0 > 0.5 } == 9)
    }

    @Test func isTheIdentityAtInference() throws {
        try A.inferenceIsIdentity(RandomTranslation(heightFactor: 0.2, widthFactor: 0.3))
    }

    @Test func drawsAreReproducibleAndShardIndependent() throws {
        try A.drawsAreReproducible(RandomTranslation(heightFactor: 0.2, widthFactor: [-0.1, 0.3]))
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        for interpolation in Interpolation.allCases {
            for fill in FillMode.allCases {
                let layer = try RandomTranslation(heightFactor: 0.3, widthFactor: 0.4, fillMode: fill,
                                                  interpolation: interpolation)
                let err = try worstInputGradientError(layer, inputShape: [5, 7, 2], x: randomArray(140, seed: 5), n: 2,
                                                      context: A.training(step: 9))
                #expect(err < 1e-2, "\(fill) \(interpolation): \(err)")
            }
        }
    }

    @Test func configRoundTrips() throws {
        try A.roundTrips("RandomTranslation", ["height_factor": 0.2, "width_factor": [-0.1, 0.3],
                                               "fill_mode": "nearest", "fill_value": 2, "seed": 11])
        try A.roundTrips("RandomTranslation", A.cases("RandomTranslation")[0].config ?? .null)
    }

    @Test func refusesWhatKerasRefuses() {
        func refusal(_ c: JSONValue) -> String { A.refusal("RandomTranslation", c) ?? "built" }
        #expect(refusal(["height_factor": 0.2]).contains("width_factor is required"))
        #expect(refusal(["height_factor": 1.2, "width_factor": 0.1]).contains("height_factor must be a number (or a list of two numbers) in [-1, 1]"))
        #expect(refusal(["height_factor": 0.2, "width_factor": [0.1, -1.5]]).contains("width_factor"))
        #expect(refusal(["height_factor": 0.2, "width_factor": 0.1, "fill_mode": "grid-wrap"]).contains("\"grid-wrap\""))
        #expect(refusal(["height_factor": 0.2, "width_factor": 0.1, "interpolation": "area"]).contains("\"area\""))
        #expect(A.refusal("RandomTranslation", ["height_factor": -1, "width_factor": 1]) == nil)
    }
}
