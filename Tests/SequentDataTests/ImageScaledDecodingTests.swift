import Testing
@testable import SequentData

// DCT-scaled JPEG decoding for a known target size (ImageDecoder.decode(_:maxPixels:target:)): the scale chosen,
// closeness to a full decode, orientation, and that limits and errors are unchanged.

/// A photo-like RGB image: smooth gradients, a few hard edges and per-pixel noise (what makes a real photo's
/// blocks differ from their mean).
func photoPixels(width: Int, height: Int, seed: UInt64 = 3) -> [UInt8] {
    var random = SeededBytes(state: seed)
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let inside = abs(x - width / 2) < width / 4 && abs(y - height / 2) < height / 3
            for c in 0..<3 {
                let base = inside ? 40 + 30 * c : 190 + (50 * x) / width - (30 * y) / height - 10 * c
                let noise = random.below(25) - 12
                pixels[(y * width + x) * 3 + c] = UInt8(max(0, min(255, base + noise)))
            }
        }
    }
    return pixels
}

@Suite struct ImageScaledDecodingTests {
    static let photo: [UInt8] = try! ImageDecoder.encodeJPEG(photoPixels(width: 1600, height: 1200), width: 1600,
                                                             height: 1200, channels: 3, quality: 90)

    @Test func scaleIsTheLargestReductionThatKeepsTwiceTheTarget() throws {
        let cases: [(target: (Int, Int), expected: (Int, Int))] = [
            ((28, 28), (200, 150)),     // 1/8: 150 ≥ 56
            ((150, 150), (400, 300)),   // 2/8: 300 ≥ 300 (1/8 would leave 150)
            ((224, 224), (600, 450)),   // 3/8: 450 ≥ 448
            ((350, 200), (800, 600)),   // 4/8: 800 ≥ 700 (3/8 would leave 600)
            ((401, 28), (1600, 1200)),  // 4/8 would leave 800 < 802: full size
            ((2000, 2000), (1600, 1200)),
        ]
        for (target, expected) in cases {
            let image = try ImageDecoder.decode(Self.photo, target: (width: target.0, height: target.1))
            #expect((image.width, image.height) == expected, "target \(target)")
            #expect(image.channels == 3 && image.pixels.count == image.width * image.height * 3)
        }
        #expect(try ImageDecoder.decode(Self.photo).width == 1600)
        #expect(try ImageDecoder.decode(Self.photo, target: (width: 0, height: 28)).width == 1600, "no target")
    }

    @Test func scaledInputIsCloseToFullDecodeAndResize() throws {
        for (w, h, c) in [(28, 28, 1), (150, 150, 3), (64, 48, 3)] {
            let pre = Preprocessing(height: h, width: w, channels: c)
            let full = try ImageDecoder.decode(Self.photo)
            let exact = pre.tensor(pixels: full.pixels, width: full.width, height: full.height, sourceChannels: 3).values
            let fast = try pre.tensor(decoding: Self.photo).values
            #expect(exact.count == fast.count)
            let differences = zip(exact, fast).map { abs($0 - $1) }
            let worst = differences.max()!, mean = differences.reduce(0, +) / Float(differences.count)
            // In [0, 1] units, where one 8-bit step is 0.0039. 12 MP photos measured 0.0006...0.027 worst and at
            // most 0.0008 mean; a shifted or wrongly scaled decode is off by whole edges and breaks the mean.
            #expect(worst < 0.05, "\(w)×\(h)×\(c): worst difference \(worst)")
            #expect(mean < 0.004, "\(w)×\(h)×\(c): mean difference \(mean)")
        }
    }

    @Test(arguments: 1...8) func orientationIsAppliedAndTheTargetIsAsDisplayed(orientation: Int) throws {
        // 1600×800 as displayed, 4×2 flat blocks of 400 px; a target of 40×100 (as displayed) needs 80×200, so
        // 1/4 (400×200) is the answer. Comparing the target with the stored, transposed size would pick 1/8.
        let blocks: [[[UInt8]]] = [[[230, 20, 20], [20, 220, 30], [30, 30, 230], [240, 240, 30]],
                                   [[20, 20, 20], [250, 250, 250], [200, 30, 200], [30, 200, 200]]]
        let raw = ImageOrientationTests.stored(blockImage(blocks, size: 400), orientation: orientation)
        let jpeg = try ImageDecoder.encodeJPEG(raw.pixels, width: raw.width, height: raw.height, channels: 3,
                                               quality: 95, exifOrientation: orientation)
        let image = try ImageDecoder.decode(jpeg, target: (width: 40, height: 100))
        expectBlocks(image, blocks, size: 100, tolerance: 8)
    }

    @Test func smallImagesAndPNGsAreDecodedAtFullSize() throws {
        // 100×80 is not 4× a 28×28 target in height (80 < 112): untouched, identical to a plain decode.
        let small = try ImageDecoder.encodeJPEG(photoPixels(width: 100, height: 80), width: 100, height: 80,
                                                channels: 3, quality: 90)
        #expect(try ImageDecoder.decode(small, target: (width: 28, height: 28)) == ImageDecoder.decode(small))
        let tiny = try ImageDecoder.encodeJPEG(photoPixels(width: 28, height: 28), width: 28, height: 28, channels: 3)
        #expect(try ImageDecoder.decode(tiny, target: (width: 28, height: 28)) == ImageDecoder.decode(tiny))
        let png = try ImageDecoder.encodePNG(photoPixels(width: 400, height: 300), width: 400, height: 300,
                                             colorType: .rgb)
        let decoded = try ImageDecoder.decode(png, target: (width: 28, height: 28))
        #expect((decoded.width, decoded.height) == (400, 300))
    }

    @Test func grayscaleCMYKAndProgressiveJPEGsAreScaledToo() throws {
        let target = (width: 28, height: 28)
        let gray = try ImageDecoder.encodeJPEG([UInt8](repeating: 90, count: 800 * 600), width: 800, height: 600,
                                               channels: 1)
        let grayImage = try ImageDecoder.decode(gray, target: target)
        #expect((grayImage.width, grayImage.height, grayImage.channels) == (100, 75, 1))
        #expect(grayImage.pixels.allSatisfy { abs(Int($0) - 90) <= 1 })
        // Adobe CMYK stores 255 for no ink: C 255, M 0, Y 255, K 255 is magenta ink only, R 255, G 0, B 255.
        let cmyk: [UInt8] = (0..<800 * 600 * 4).map { $0 % 4 == 1 ? 0 : 255 }
        let cmykImage = try ImageDecoder.decode(try ImageDecoder.encodeJPEG(cmyk, width: 800, height: 600, channels: 4,
                                                                            quality: 100), target: target)
        #expect((cmykImage.width, cmykImage.height, cmykImage.channels) == (100, 75, 3))
        #expect(Array(cmykImage[50, 40]).elementsEqual([255, 0, 255]) { abs(Int($0) - Int($1)) <= 4 })
        let progressive = try ImageDecoder.encodeJPEG(photoPixels(width: 800, height: 600), width: 800, height: 600,
                                                      channels: 3, progressive: true)
        let progressiveImage = try ImageDecoder.decode(progressive, target: target)
        #expect((progressiveImage.width, progressiveImage.height) == (100, 75))
    }

    @Test func grayscaleDecodeOfAScaledColourJPEGIsItsLuma() throws {
        let target = (width: 28, height: 28)
        let luma = try ImageDecoder.decode(Self.photo, target: target, grayscale: true)
        let rgb = try ImageDecoder.decode(Self.photo, target: target)
        #expect((luma.width, luma.height, luma.channels) == (200, 150, 1))
        // JPEG's Y against ITU-R 601 gray of the decoded RGB: the same weights, so rounding apart they agree.
        var worst = 0, total = 0
        for i in 0..<(luma.width * luma.height) {
            let gray = 0.299 * Double(rgb.pixels[3 * i]) + 0.587 * Double(rgb.pixels[3 * i + 1])
                + 0.114 * Double(rgb.pixels[3 * i + 2])
            let d = Int(abs(Double(luma.pixels[i]) - gray).rounded())
            worst = max(worst, d)
            total += d
        }
        #expect(worst <= 2, "worst luma difference \(worst)")
        #expect(Double(total) / Double(luma.width * luma.height) < 0.5)
        // Orientation applies as to RGB: a sideways photo comes back upright and gray.
        let blocks: [[[UInt8]]] = [[[230, 20, 20], [20, 220, 30]], [[20, 20, 20], [250, 250, 250]]]
        let stored = ImageOrientationTests.stored(blockImage(blocks, size: 400), orientation: 6)
        let sideways = try ImageDecoder.encodeJPEG(stored.pixels, width: stored.width, height: stored.height,
                                                   channels: 3, quality: 95, exifOrientation: 6)
        let upright = try ImageDecoder.decode(sideways, target: target, grayscale: true)
        #expect((upright.width, upright.height, upright.channels) == (100, 100, 1))
        let red = 0.299 * 230 + 0.587 * 20 + 0.114 * 20, green = 0.299 * 20 + 0.587 * 220 + 0.114 * 30
        for (by, row) in [[red, green], [20, 250]].enumerated() {
            for (bx, value) in row.enumerated() {
                #expect(abs(Double(upright[25 + 50 * bx, 25 + 50 * by].first!) - value) <= 6, "block \(bx), \(by)")
            }
        }
    }

    @Test func grayscaleLeavesFullSizeCMYKAndPNGDecodesAlone() throws {
        let target = (width: 28, height: 28)
        // Not scaled (100×80 is not 4× 28×28): the RGB decode, exactly, as without the flag.
        let small = try ImageDecoder.encodeJPEG(photoPixels(width: 100, height: 80), width: 100, height: 80,
                                                channels: 3, quality: 90)
        #expect(try ImageDecoder.decode(small, target: target, grayscale: true) == ImageDecoder.decode(small))
        #expect(try ImageDecoder.decode(Self.photo, grayscale: true).channels == 3, "no target, no scaling")
        let cmyk: [UInt8] = (0..<800 * 600 * 4).map { $0 % 4 == 1 ? 0 : 255 }
        let cmykJPEG = try ImageDecoder.encodeJPEG(cmyk, width: 800, height: 600, channels: 4, quality: 100)
        #expect(try ImageDecoder.decode(cmykJPEG, target: target, grayscale: true)
                == ImageDecoder.decode(cmykJPEG, target: target))
        let png = try ImageDecoder.encodePNG(photoPixels(width: 400, height: 300), width: 400, height: 300,
                                             colorType: .rgb)
        #expect(try ImageDecoder.decode(png, target: target, grayscale: true).channels == 3)
        // Truncated data is refused the same way.
        let truncated = Array(Self.photo.prefix(Self.photo.count / 2))
        #expect(Self.error { try ImageDecoder.decode(truncated, target: target, grayscale: true) }
                == decodingError(truncated))
    }

    @Test func corruptLargeJPEGGivesTheSameError() throws {
        let target = (width: 28, height: 28)
        let truncated = Array(Self.photo.prefix(Self.photo.count / 2))
        let scaledError = try #require(Self.error { try ImageDecoder.decode(truncated, target: target) })
        #expect(scaledError == decodingError(truncated))
        #expect(scaledError.message == "corrupt JPEG data: Premature end of JPEG file")
        // A restart marker in the middle of the entropy-coded data.
        var scribbled = Self.photo
        let middle = Self.photo.count / 2
        scribbled.replaceSubrange(middle..<middle + 4, with: [0xFF, 0xD3, 0xFF, 0xD5])
        let scribbledError = try #require(Self.error { try ImageDecoder.decode(scribbled, target: target) })
        #expect(scribbledError.kind == .corrupt)
        #expect(scribbledError == decodingError(scribbled))
    }

    @Test func pixelLimitStillCountsTheFullSize() throws {
        let target = (width: 28, height: 28)
        #expect(try ImageDecoder.decode(Self.photo, maxPixels: 1_920_000, target: target).width == 200)
        let refused = Self.error { try ImageDecoder.decode(Self.photo, maxPixels: 1_919_999, target: target) }
        #expect(refused?.kind == .tooLarge(pixels: 1_920_000, limit: 1_919_999))
        #expect(refused?.message == "image is 1600×1200 = 1920000 pixels, the limit is 1919999")
    }

    @Test func nearestNeighbourKeepsTheFullDecode() throws {
        var pre = Preprocessing(height: 28, width: 28, channels: 3)
        #expect(pre.decodeTarget! == (28, 28))
        pre.interpolation = .area
        #expect(pre.decodeTarget! == (28, 28))
        pre.interpolation = .nearest
        #expect(pre.decodeTarget == nil)
        let full = try ImageDecoder.decode(Self.photo)
        let exact = pre.tensor(pixels: full.pixels, width: full.width, height: full.height, sourceChannels: 3)
        #expect(try pre.tensor(decoding: Self.photo) == exact)
    }

    static func error(_ body: () throws -> DecodedImage) -> ImageDecodingError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? ImageDecodingError
        }
    }
}
