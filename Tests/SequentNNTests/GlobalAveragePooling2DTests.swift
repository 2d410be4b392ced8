import Foundation
import Testing
@testable import SequentNN

/// GlobalAveragePooling2D: the shared layer checks, Keras's numbers, an exact small case.
@Suite struct GlobalAveragePooling2DTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ GlobalAveragePooling2D() }, inputShape: [4, 3, 5], outputShape: [5],
                                       name: "global_average_pooling2d", fixture: "GlobalAveragePooling2D")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ GlobalAveragePooling2D(keepdims: true) }, inputShape: [4, 3, 5], outputShape: [1, 1, 5],
                               name: "global_average_pooling2d")
    }

    @Test func globalAveragePoolingByHand() throws {
        // 2×2 pixels, 2 channels: channel 0 = 1, 2, 3, 4; channel 1 = 5, 5, 1, 0.
        let x: [Float] = [1, 5, 2, 5, 3, 1, 4, 0]
        let avg = GlobalAveragePooling2D()
        let a = try runLayer(avg, inputShape: [2, 2, 2], x: x, n: 1, dy: [4, 8])
        #expect(a.y == [2.5, 2.75] && avg.outputShape == [2])
        #expect(a.dx == [1, 2, 1, 2, 1, 2, 1, 2])
    }

    @Test func globalAveragePoolingGradients() throws {
        for layer in [GlobalAveragePooling2D(), GlobalAveragePooling2D(keepdims: true)] {
            let err = try worstInputGradientError(layer, inputShape: [4, 3, 5], x: randomArray(2 * 60, seed: 8), n: 2)
            #expect(err < 0.01, "\(layer.config): worst relative error \(err)")
        }
    }
}
