import Foundation
import Testing
@testable import SequentNN

/// AveragePooling2D: the shared layer checks, Keras's numbers, exact small cases, finite differences.
@Suite struct AveragePooling2DTests {
    /// 1…9 as a 3×3 single-channel image.
    static let nine: [Float] = (1...9).map(Float.init)

    @Test func harnessAndKerasFixtures() throws {
        let r = try LayerHarness.check({ try AveragePooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same) },
                                       inputShape: [5, 6, 3], outputShape: [3, 3, 3], name: "average_pooling2d",
                                       fixture: "AveragePooling2D")
        #expect(r.fixtureCases == 4)
        try LayerHarness.check({ try AveragePooling2D() }, inputShape: [5, 5, 2], outputShape: [2, 2, 2],
                               name: "average_pooling2d")
    }

    @Test func averagePoolingValidAndSameByHand() throws {
        let valid = try AveragePooling2D(poolSize: [2, 2])
        #expect(try runLayer(valid, inputShape: [3, 3, 1], x: Self.nine, n: 1).y == [3])
        #expect(valid.outputShape == [1, 1, 1] && valid.strides == [2, 2])
        // 'same' pads at the bottom/right; the edge windows divide by the values they cover (2 and 1), not 4.
        let same = try AveragePooling2D(poolSize: [2, 2], padding: .same)
        #expect(try runLayer(same, inputShape: [3, 3, 1], x: Self.nine, n: 1).y == [3, 4.5, 7.5, 9])
        // Overlapping windows (stride 1): each input's gradient is the sum of its windows' shares.
        let overlap = try AveragePooling2D(poolSize: [2, 2], strides: [1, 1])
        let r = try runLayer(overlap, inputShape: [3, 3, 1], x: Self.nine, n: 1, dy: [1, 1, 1, 1])
        #expect(r.y == [3, 4, 6, 7])
        #expect(r.dx == [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25])
    }
    @Test(arguments: [([2, 2], nil, Padding.valid), ([3, 3], [2, 2], .same), ([2, 3], [1, 1], .same),
                      ([3, 2], [1, 2], .valid)] as [([Int], [Int]?, Padding)])
    func averagePoolingGradient(pool: [Int], strides: [Int]?, padding: Padding) throws {
        let layer = try AveragePooling2D(poolSize: pool, strides: strides, padding: padding)
        let err = try worstInputGradientError(layer, inputShape: [5, 6, 3], x: randomArray(2 * 90, seed: 3), n: 2)
        #expect(err < 0.01, "\(pool) \(padding): worst relative error \(err)")
    }
}
