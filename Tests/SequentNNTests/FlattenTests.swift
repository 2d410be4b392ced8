import Foundation
import Testing
@testable import SequentNN

/// Flatten: the shared layer checks; a reshape the model aliases.
@Suite struct FlattenTests {
    @Test func harness() throws {
        try LayerHarness.check({ Flatten() }, inputShape: [3, 2, 2], outputShape: [12], name: "flatten")
        try LayerHarness.check({ Flatten() }, inputShape: [5], outputShape: [5], name: "flatten")
    }

    /// The model aliases a reshape's buffers, so the layer's own passes must be plain copies.
    @Test func isAReshapeThatCopiesBothWays() throws {
        let layer = Flatten()
        #expect(layer.isReshape)
        let x = randomArray(24, seed: 2), dy = randomArray(24, seed: 3)
        let r = try runLayer(layer, inputShape: [2, 3, 2], x: x, n: 2, dy: dy)
        #expect(layer.outputShape == [12])
        #expect(r.y == x && r.dx == dy)
    }
}
