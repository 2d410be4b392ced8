import Foundation
import Testing
@testable import SequentNN

/// ReLU (with max_value, negative_slope, threshold): the shared layer checks, Keras's numbers, exact values.
@Suite struct ReLUTests {
    @Test func harnessAndKerasFixtures() throws {
        // Random inputs in [-1, 1) (and [-3, 3)) stay clear of the kinks at 0, the threshold and the maximum.
        let r = try LayerHarness.check({ try ReLU() }, inputShape: [2, 5], outputShape: [2, 5], name: "re_lu",
                                       fixture: "ReLU")
        #expect(r.fixtureCases == 5)
        try LayerHarness.check({ try ReLU(maxValue: 2.5, negativeSlope: 0.1, threshold: 0.5) }, inputShape: [10],
                               outputShape: [10], name: "re_lu", input: randomArray(20, seed: 17, scale: 3))
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
        let layers: [Layer] = [try ReLU(), try ReLU(maxValue: 2.5, negativeSlope: 0.1, threshold: 0.5), try ReLU(maxValue: 1)]
        for layer in layers {
            let err = try worstInputGradientError(layer, inputShape: [2, 5], x: randomArray(20, seed: 17, scale: 3), n: 2)
            #expect(err < 0.01, "\(layer.typeName) \(layer.config): worst relative error \(err)")
        }
    }
}
