import Testing
@testable import SequentData

@Suite struct PreprocessingTests {
    @Test func identitySizeOnlyRescales() {
        let p = Preprocessing(height: 2, width: 2, channels: 1, rescale: 1.0 / 255.0, background: .dark)
        let r = p.tensor(pixels: [0, 255, 51, 102], width: 2, height: 2, sourceChannels: 1, invert: .no)
        for (a, b) in zip(r.values, [0, 1, 0.2, 0.4] as [Float]) { #expect(abs(a - b) < 1e-6) }
        #expect(!r.inverted)
    }

    @Test func rgbToGrayUsesLuma() {
        let p = Preprocessing(height: 1, width: 1, channels: 1, rescale: 1, background: .dark)
        let r = p.tensor(pixels: [255, 0, 0], width: 1, height: 1, sourceChannels: 3, invert: .no)
        #expect(abs(r.values[0] - 0.299 * 255) < 1e-3)
        let rgb = Preprocessing(height: 1, width: 1, channels: 3, rescale: 1, background: .dark)
        #expect(rgb.tensor(pixels: [7], width: 1, height: 1, sourceChannels: 1, invert: .no).values == [7, 7, 7])
    }

    @Test func nearestUsesPixelCentresLikePIL() {
        // 4 → 2 picks source pixels 1 and 3; 2 → 4 repeats each twice.
        #expect(Preprocessing.resize([0, 10, 20, 30], width: 4, height: 1, channels: 1, toWidth: 2, toHeight: 1,
                                     interpolation: .nearest) == [10, 30])
        #expect(Preprocessing.resize([5, 7], width: 2, height: 1, channels: 1, toWidth: 4, toHeight: 1,
                                     interpolation: .nearest) == [5, 5, 7, 7])
        // Area averaging on request even when shrinking less than 2×; bilinear otherwise.
        #expect(Preprocessing.resize([0, 30, 60], width: 3, height: 1, channels: 1, toWidth: 2, toHeight: 1,
                                     interpolation: .area) == [10, 50])
    }

    @Test func bilinearUpscaleUsesHalfPixelCentres() {
        // 2 → 4 pixels: tf.image.resize(bilinear) gives [0, 25, 75, 100] for [0, 100].
        let out = Preprocessing.resize([0, 100], width: 2, height: 1, channels: 1, toWidth: 4, toHeight: 1)
        #expect(out == [0, 25, 75, 100])
    }

    @Test func areaDownscaleAveragesBlocks() {
        // 4×4 → 2×2: each output is the mean of a 2×2 block; 4×4 → 3×3 weights partial pixels.
        let src: [Float] = [0, 0, 8, 8,
                            0, 0, 8, 8,
                            4, 4, 2, 2,
                            4, 4, 2, 2]
        #expect(Preprocessing.resize(src, width: 4, height: 4, channels: 1, toWidth: 2, toHeight: 2) == [0, 8, 4, 2])
        let big = [Float](repeating: 10, count: 100 * 100)
        let small = Preprocessing.resize(big, width: 100, height: 100, channels: 1, toWidth: 28, toHeight: 28)
        #expect(small.allSatisfy { abs($0 - 10) < 1e-4 })
    }

    @Test func autoInvertFollowsTheBackground() {
        let p = Preprocessing(height: 3, width: 3, channels: 1, rescale: 1.0 / 255.0, background: .dark)
        // A dark shoe on a white table: light border → inverted to light-on-dark like Fashion-MNIST.
        let photo: [UInt8] = [250, 250, 250, 250, 20, 250, 250, 250, 250]
        let r = p.tensor(pixels: photo, width: 3, height: 3, sourceChannels: 1)
        #expect(r.inverted)
        #expect(abs(r.values[4] - 235.0 / 255.0) < 1e-6)
        // A Fashion-MNIST-like image (dark border) is left alone; ?invert=true forces it.
        let fashion: [UInt8] = [0, 0, 0, 0, 200, 0, 0, 0, 0]
        #expect(!p.tensor(pixels: fashion, width: 3, height: 3, sourceChannels: 1).inverted)
        #expect(p.tensor(pixels: fashion, width: 3, height: 3, sourceChannels: 1, invert: .yes).inverted)
    }
}
