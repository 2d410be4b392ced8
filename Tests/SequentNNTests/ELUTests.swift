import Foundation
import Testing
@testable import SequentNN

/// ELU: the shared layer checks, Keras's numbers, exact values.
@Suite struct ELUTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ ELU() }, inputShape: [2, 5], outputShape: [2, 5], name: "elu", fixture: "ELU")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ ELU(alpha: 0.5) }, inputShape: [7], outputShape: [7], name: "elu")
    }

    @Test func eluLayerByHand() throws {
        let x: [Float] = [-1, 0.2, 1, 3]
        let elu = try runLayer(ELU(alpha: 0.5), inputShape: [4], x: x, n: 1, dy: [1, 1, 1, 1])
        #expect(abs(elu.y[0] - 0.5 * (exp(-1) - 1)) < 1e-7 && elu.y[1...] == [0.2, 1, 3])
        #expect(abs(elu.dx[0] - 0.5 * exp(-1)) < 1e-7 && elu.dx[1...] == [1, 1, 1])
        for layer in [ELU(), ELU(alpha: 0.5)] {
            let err = try worstInputGradientError(layer, inputShape: [2, 5], x: randomArray(20, seed: 17, scale: 3), n: 2)
            #expect(err < 0.01, "\(layer.config): worst relative error \(err)")
        }
    }
}
