import Testing
@testable import SequentNN

@Suite struct RandomFlipTests {
    typealias A = AugmentationChecks

    @Test func harnessAndKerasFixtures() throws {
        // RandomFlip's fixture cases give Keras's coins (matchesKerasForEveryMode): no point draws to rerun.
        try LayerHarness.check({ RandomFlip() }, inputShape: [5, 7, 2], outputShape: [5, 7, 2], name: "random_flip")
        try LayerHarness.check({ RandomFlip(mode: .vertical, seed: 3) }, inputShape: [4, 3, 1], outputShape: [4, 3, 1],
                               name: "random_flip")
    }

    /// Keras's flips for the fixture's given coins (sample 0 flipped, sample 1 not), forward and backward.
    @Test func matchesKerasForEveryMode() throws {
        let cases = A.cases("RandomFlip")
        #expect(cases.count == 3)
        for c in cases {
            let layer = try #require(try A.layer("RandomFlip", c.config ?? .null) as? RandomFlip)
            let shape = Array(c.inputShape.dropFirst()), size = shape.reduce(1, *)
            try layer.build(inputShape: shape)
            var y = [Float](repeating: .nan, count: c.input.count), dx = y
            for (s, coin) in (A.draw(c.name) ?? []).enumerated() {
                c.input.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { layer.apply(x.baseAddress! + s * size, $0.baseAddress! + s * size, flipped: coin == 1) }
                }
                c.weighting.withUnsafeBufferPointer { w in
                    dx.withUnsafeMutableBufferPointer { layer.apply(w.baseAddress! + s * size, $0.baseAddress! + s * size, flipped: coin == 1) }
                }
            }
            #expect(y == c.output, "\(c.name)")
            #expect(dx == c.gradient, "\(c.name) gradient")
        }
    }

    @Test func flipsAboutHalfTheSamples() throws {
        let n = 1000
        let x = Array((0..<n).map { _ in [Float(0), 1] }.joined())
        for step in 0..<3 {
            let y = try runLayer(RandomFlip(mode: .horizontal), inputShape: [1, 2, 1], x: x, n: n,
                                 context: A.training(step: step)).y
            let flipped = (0..<n).filter { y[2 * $0] == 1 }.count
            // Binomial(1000, ½): σ ≈ 16.
            #expect((430...570).contains(flipped), "step \(step): \(flipped) of \(n)")
        }
    }

    @Test func isTheIdentityAtInference() throws {
        for mode in RandomFlip.Mode.allCases { try A.inferenceIsIdentity(RandomFlip(mode: mode)) }
    }

    @Test func drawsAreReproducibleAndShardIndependent() throws {
        try A.drawsAreReproducible(RandomFlip())
    }

    @Test func backwardMatchesFiniteDifferences() throws {
        for mode in RandomFlip.Mode.allCases {
            let err = try worstInputGradientError(RandomFlip(mode: mode), inputShape: [3, 4, 2], x: randomArray(96, seed: 8),
                                                  n: 4, context: A.training(step: 1))
            #expect(err < 1e-2, "\(mode): \(err)")
        }
    }

    /// A seeded layer's draws follow its seed and the step, not its name nor the model's seed, as a Keras layer's
    /// own seed does; an unseeded layer's differ from layer to layer and follow the model's seed.
    @Test func seedsKeyTheDraws() throws {
        let n = 64
        let x = Array((0..<n).map { _ in [Float(0), 1] }.joined())
        func flips(_ layer: RandomFlip, modelSeed: UInt64 = 1, step: Int = 2) throws -> [Float] {
            try runLayer(layer, inputShape: [1, 2, 1], x: x, n: n, context: A.training(step: step, modelSeed: modelSeed)).y
        }
        #expect(try flips(RandomFlip(seed: 5, name: "a"), modelSeed: 1) == flips(RandomFlip(seed: 5, name: "a"), modelSeed: 9))
        #expect(try flips(RandomFlip(seed: 5, name: "a"), step: 2) != flips(RandomFlip(seed: 5, name: "a"), step: 3))
        #expect(try flips(RandomFlip(name: "a"), modelSeed: 1) != flips(RandomFlip(name: "a"), modelSeed: 9))
        #expect(try flips(RandomFlip(seed: 5, name: "a")) == flips(RandomFlip(seed: 5, name: "b")))
        #expect(try flips(RandomFlip(seed: 5, name: "a")) != flips(RandomFlip(seed: 6, name: "a")))
        #expect(try flips(RandomFlip(name: "random_flip")) != flips(RandomFlip(name: "random_flip_1")))
    }

    @Test func configRoundTrips() throws {
        for mode in RandomFlip.Mode.allCases {
            try A.roundTrips("RandomFlip", ["mode": .string(mode.rawValue), "seed": 3])
        }
        try A.roundTrips("RandomFlip", A.cases("RandomFlip")[0].config ?? .null)
        #expect(try A.layer("RandomFlip", [:]).config["mode"] == "horizontal_and_vertical")
    }

    @Test func refusesWhatKerasRefuses() {
        func refusal(_ c: JSONValue) -> String { A.refusal("RandomFlip", c) ?? "built" }
        #expect(refusal(["mode": "diagonal"]).contains("mode must be horizontal, vertical or horizontal_and_vertical, got \"diagonal\""))
        #expect(refusal(["data_format": "channels_first"]).contains("data_format"))
        #expect(refusal(["factor": 0.5]).contains("factor is not a known field"))
        #expect(refusal(["seed": "x"]).contains("seed"))
    }
}
