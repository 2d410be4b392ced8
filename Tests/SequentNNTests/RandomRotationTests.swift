import Testing
@testable import SequentNN

@Suite struct RandomRotationTests {
    typealias A = AugmentationChecks

    /// For a given draw the output is linear in the input, with either interpolation: differentiable.
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try RandomRotation(factor: 0.2, fillMode: .constant, fillValue: 0.5) },
                                       inputShape: [5, 7, 2], outputShape: [5, 7, 2], name: "random_rotation",
                                       fixture: "RandomRotation")
        #expect(r.fixtureCases == 10)
        try LayerHarness.check({ try RandomRotation(factor: [-0.3, 0.1], interpolation: .nearest, seed: 4) },
                               inputShape: [6, 5, 1], outputShape: [6, 5, 1], name: "random_rotation")
    }

    @Test func matchesKerasForEveryFillModeAndInterpolation() throws {
        #expect(try A.matchKeras("RandomRotation") == 10)
    }

    @Test func positiveAnglesTurnTheContentCounterClockwise() throws {
        // A quarter turn (as Keras: the top-centre pixel of a 5×5 image lands at the left-centre).
        let layer = try RandomRotation(factor: [0.25, 0.25], fillMode: .constant)
        var x = [Float](repeating: 0, count: 25)
        x[2] = 1
        let y = try runLayer(layer, inputShape: [5, 5, 1], x: x, n: 1, context: A.training(step: 0)).y
        #expect(y.firstIndex { $0 > 0.5 } == 10)
    }

    @Test func isTheIdentityAtInference() throws {
        try A.inferenceIsIdentity(RandomRotation(factor: 0.3))
    }

    @Test func drawsAreReproducibleAndShardIndependent() throws {
        try A.drawsAreReproducible(RandomRotation(factor: 0.2))
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        for interpolation in Interpolation.allCases {
            for fill in FillMode.allCases {
                let layer = try RandomRotation(factor: 0.2, fillMode: fill, fillValue: 0.5, interpolation: interpolation)
                let err = try worstInputGradientError(layer, inputShape: [5, 7, 2], x: randomArray(140, seed: 3), n: 2,
                                                      context: A.training(step: 2))
                #expect(err < 1e-2, "\(fill) \(interpolation): \(err)")
            }
        }
    }

    @Test func configRoundTrips() throws {
        try A.roundTrips("RandomRotation", ["factor": 0.2, "fill_mode": "constant", "fill_value": 1.5,
                                            "interpolation": "nearest", "seed": 7])
        try A.roundTrips("RandomRotation", A.cases("RandomRotation")[0].config ?? .null)
        // Keras writes the factor back as the sorted pair.
        let layer = try RandomRotation(factor: 0.2)
        #expect(layer.config["factor"] == [-0.2, 0.2])
    }

    @Test func refusesWhatKerasRefusesOrSequentCannotDo() {
        func refusal(_ c: JSONValue) -> String { A.refusal("RandomRotation", c) ?? "built" }
        #expect(refusal(["factor": 1.5]).contains("factor"))
        #expect(refusal(["factor": [1.5, 2]]).contains("factor"))
        #expect(refusal(["factor": [0.1, 0.2, 0.3]]).contains("factor"))
        #expect(refusal([:]).contains("factor is required"))
        #expect(refusal(["factor": 0.1, "fill_mode": "mirror"]).contains("\"mirror\""))
        #expect(refusal(["factor": 0.1, "interpolation": "bicubic"]).contains("interpolation must be bilinear or nearest, got \"bicubic\""))
        #expect(refusal(["factor": 0.1, "data_format": "channels_first"]).contains("data_format"))
        #expect(refusal(["factor": 0.1, "bounding_box_format": "xyxy"]).contains("bounding_box_format"))
        #expect(refusal(["factor": 0.1, "shear": 2]).contains("shear is not a known field"))
        // Keras checks only that a pair reaches into [-1, 1].
        #expect(A.refusal("RandomRotation", ["factor": [-5, 0.1]]) == nil)
    }
}
