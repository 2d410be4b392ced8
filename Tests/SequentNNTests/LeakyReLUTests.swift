import Foundation
import Testing
@testable import SequentNN

/// LeakyReLU: the shared layer checks, Keras's numbers, exact values.
@Suite struct LeakyReLUTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try LeakyReLU() }, inputShape: [2, 5], outputShape: [2, 5], name: "leaky_re_lu",
                                       fixture: "LeakyReLU")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ try LeakyReLU(negativeSlope: 0.05) }, inputShape: [7], outputShape: [7],
                               name: "leaky_re_lu")
    }

    @Test func leakyReLULayerByHand() throws {
        let x: [Float] = [-1, 0.2, 1, 3]
        #expect(try runLayer(try LeakyReLU(), inputShape: [4], x: x, n: 1).y == [-0.3, 0.2, 1, 3])
        let err = try worstInputGradientError(try LeakyReLU(negativeSlope: 0.05), inputShape: [2, 5],
                                              x: randomArray(20, seed: 17, scale: 3), n: 2)
        #expect(err < 0.01, "worst relative error \(err)")
    }
}
