import Foundation
import Testing
@testable import SequentNN

/// Rescaling: the shared layer checks, Keras's numbers, an exact case.
@Suite struct RescalingTests {
    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ Rescaling(scale: 0.5, offset: -1) }, inputShape: [2, 3, 2], outputShape: [2, 3, 2],
                                       name: "rescaling", fixture: "Rescaling")
        #expect(r.fixtureCases == 2)
        try LayerHarness.check({ Rescaling(scale: 1.0 / 255) }, inputShape: [6], outputShape: [6], name: "rescaling")
    }

    @Test func byHand() throws {
        let r = try runLayer(Rescaling(scale: 2, offset: 0.5), inputShape: [3], x: [0, 1, -2], n: 1, dy: [1, 2, 3])
        #expect(r.y == [0.5, 2.5, -3.5])
        #expect(r.dx == [2, 4, 6])
    }
}
