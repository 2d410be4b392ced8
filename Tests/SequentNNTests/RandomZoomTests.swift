import Testing
@testable import SequentNN

@Suite struct RandomZoomTests {
    typealias A = AugmentationChecks

    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try RandomZoom(heightFactor: 0.3, widthFactor: [-0.2, 0.4], fillMode: .wrap) },
                                       inputShape: [5, 7, 2], outputShape: [5, 7, 2], name: "random_zoom",
                                       fixture: "RandomZoom")
        #expect(r.fixtureCases == 9)
        try LayerHarness.check({ try RandomZoom(heightFactor: [-0.4, 0.2], interpolation: .nearest, seed: 2) },
                               inputShape: [6, 5, 1], outputShape: [6, 5, 1], name: "random_zoom")
    }

    @Test func matchesKerasForEveryFillModeAndInterpolation() throws {
        #expect(try A.matchKeras("RandomZoom") == 9)
    }

    @Test func aNullWidthFactorZoomsBothAxesAlike() throws {
        // 1.5 both ways on 5×5 ramps, about the centre: x = 1 reads 0.5, x = 4 reads 5 (the nearest edge: 4).
        let layer = try RandomZoom(heightFactor: [0.5, 0.5], fillMode: .nearest)
        let x = (0..<25).map { Float($0 % 5) }
        let y = try runLayer(layer, inputShape: [5, 5, 1], x: x, n: 1, context: A.training(step: 0)).y
        #expect(y[12] == 2)
        #expect(y[10] == 0 && y[14] == 4)
        #expect(abs(y[11] - 0.5) < 1e-6 && abs(y[13] - 3.5) < 1e-6)
        let t = try runLayer(layer, inputShape: [5, 5, 1], x: (0..<25).map { Float($0 / 5) }, n: 1,
                             context: A.training(step: 0)).y
        #expect(abs(t[7] - 0.5) < 1e-6 && abs(t[17] - 3.5) < 1e-6)
    }

    @Test func isTheIdentityAtInference() throws {
        try A.inferenceIsIdentity(RandomZoom(heightFactor: 0.3, widthFactor: [-0.2, 0.4]))
    }

    @Test func drawsAreReproducibleAndShardIndependent() throws {
        try A.drawsAreReproducible(RandomZoom(heightFactor: 0.3))
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        for interpolation in Interpolation.allCases {
            for fill in FillMode.allCases {
                let layer = try RandomZoom(heightFactor: 0.4, widthFactor: [-0.5, 0.3], fillMode: fill,
                                           interpolation: interpolation)
                let err = try worstInputGradientError(layer, inputShape: [5, 7, 2], x: randomArray(140, seed: 4), n: 2,
                                                      context: A.training(step: 5))
                #expect(err < 1e-2, "\(fill) \(interpolation): \(err)")
            }
        }
    }

    @Test func configRoundTrips() throws {
        try A.roundTrips("RandomZoom", ["height_factor": 0.2, "width_factor": .null, "fill_mode": "wrap", "seed": 3])
        try A.roundTrips("RandomZoom", ["height_factor": [-0.3, 0.1], "width_factor": 0.5])
        try A.roundTrips("RandomZoom", A.cases("RandomZoom")[0].config ?? .null)
        // Keras writes the factors back as given.
        #expect(try RandomZoom(heightFactor: 0.2).config["height_factor"] == 0.2)
    }

    @Test func refusesWhatKerasRefuses() {
        func refusal(_ c: JSONValue) -> String { A.refusal("RandomZoom", c) ?? "built" }
        #expect(refusal(["height_factor": -1]).contains("height_factor must be a number (or a list of two numbers) in (-1, 1]"))
        #expect(refusal(["height_factor": [0.1]]).contains("height_factor"))
        #expect(refusal(["height_factor": 0.1, "width_factor": 1.5]).contains("width_factor"))
        #expect(refusal(["height_factor": 0.1, "width_factor": "wide"]).contains("width_factor"))
        #expect(refusal([:]).contains("height_factor is required"))
        #expect(refusal(["height_factor": 0.1, "interpolation": "lanczos3"]).contains("\"lanczos3\""))
        #expect(refusal(["height_factor": 0.1, "data_format": "channels_first"]).contains("data_format"))
        #expect(A.refusal("RandomZoom", ["height_factor": 1]) == nil)
    }
}
