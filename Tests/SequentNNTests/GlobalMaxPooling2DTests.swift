import Foundation
import Testing
@testable import SequentNN

/// GlobalMaxPooling2D: the shared layer checks, Keras's numbers, an exact small case with a tie.
@Suite struct GlobalMaxPooling2DTests {
    /// Smallest gap between the two largest values of any sample's channel: the maximum has no derivative
    /// where two values tie, so finite differences need a gap well above their step.
    static func smallestGap(_ x: [Float], pixels: Int, channels: Int) -> Float {
        var smallest = Float.infinity
        for s in 0..<(x.count / (pixels * channels)) {
            for c in 0..<channels {
                let values = (0..<pixels).map { x[(s * pixels + $0) * channels + c] }.sorted(by: >)
                smallest = min(smallest, values[0] - values[1])
            }
        }
        return smallest
    }

    @Test func harnessAndKerasFixtures() throws {
        let x = try #require((UInt64(7)..<UInt64(500)).lazy.map { randomArray(2 * 60, seed: $0) }
            .first { Self.smallestGap($0, pixels: 12, channels: 5) > 0.01 })
        let r = try LayerHarness.check({ GlobalMaxPooling2D() }, inputShape: [4, 3, 5], outputShape: [5],
                                       name: "global_max_pooling2d", input: x, fixture: "GlobalMaxPooling2D")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ GlobalMaxPooling2D(keepdims: true) }, inputShape: [4, 3, 5], outputShape: [1, 1, 5],
                               name: "global_max_pooling2d", input: x)
    }

    @Test func globalMaxPoolingByHand() throws {
        // 2×2 pixels, 2 channels: channel 0 = 1, 2, 3, 4; channel 1 = 5, 5, 1, 0 (a tie for the maximum).
        let x: [Float] = [1, 5, 2, 5, 3, 1, 4, 0]
        let mx = GlobalMaxPooling2D(keepdims: true)
        let m = try runLayer(mx, inputShape: [2, 2, 2], x: x, n: 1, dy: [4, 8])
        #expect(m.y == [4, 5] && mx.outputShape == [1, 1, 2])
        // The tied maximum shares its gradient, as reduce_max's gradient does in TensorFlow and JAX.
        #expect(m.dx == [0, 4, 0, 4, 0, 0, 4, 0])
    }

    @Test func globalMaxPoolingGradients() throws {
        for layer in [GlobalMaxPooling2D(), GlobalMaxPooling2D(keepdims: true)] {
            let err = try worstInputGradientError(layer, inputShape: [4, 3, 5], x: randomArray(2 * 60, seed: 8), n: 2)
            #expect(err < 0.01, "\(layer.config): worst relative error \(err)")
        }
    }
}
