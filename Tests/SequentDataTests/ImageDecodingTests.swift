import Testing
@testable import SequentData

// Every fixture is generated with the module's own encoders (libjpeg / libpng), so no binary files are committed
// and each variant (progressive, CMYK, YCCK, EXIF byte order, palette + tRNS, 16-bit, Adam7, …) is made on demand.

/// A deterministic generator for scribbles and garbage (SplitMix64).
struct SeededBytes {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in byte() } }
}

/// The decoding error for `bytes`, or nil when they decode.
func decodingError(_ bytes: [UInt8], maxPixels: Int = ImageDecoder.defaultMaxPixels) -> ImageDecodingError? {
    do {
        _ = try ImageDecoder.decode(bytes, maxPixels: maxPixels)
        return nil
    } catch let error as ImageDecodingError {
        return error
    } catch {
        Issue.record("unexpected error type \(error)")
        return nil
    }
}

/// The samples of a flat-coloured image: `blocks` is a grid (rows of colours, any channel count), each block
/// `size`×`size` pixels.
func blockPixels(_ blocks: [[[UInt8]]], size: Int) -> [UInt8] {
    var pixels: [UInt8] = []
    for y in 0..<blocks.count * size {
        for x in 0..<blocks[0].count * size { pixels += blocks[y / size][x / size] }
    }
    return pixels
}

/// `blockPixels` as a gray or RGB image.
func blockImage(_ blocks: [[[UInt8]]], size: Int) -> DecodedImage {
    DecodedImage(width: blocks[0].count * size, height: blocks.count * size, channels: blocks[0][0].count,
                 pixels: blockPixels(blocks, size: size))
}

/// Checks every pixel at least `margin` pixels inside its block against the block's expected colour, within
/// `tolerance` per sample (JPEG is lossy, and chroma upsampling blends colours across block edges).
func expectBlocks(_ image: DecodedImage, _ expected: [[[UInt8]]], size: Int, tolerance: Int, margin: Int = 3,
                  sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(image.width == expected[0].count * size && image.height == expected.count * size,
            "size \(image.width)×\(image.height)", sourceLocation: sourceLocation)
    #expect(image.channels == expected[0][0].count, sourceLocation: sourceLocation)
    guard image.width == expected[0].count * size, image.height == expected.count * size,
          image.channels == expected[0][0].count else { return }
    var worst = 0
    for y in 0..<image.height where (margin..<size - margin).contains(y % size) {
        for x in 0..<image.width where (margin..<size - margin).contains(x % size) {
            for (got, want) in zip(image[x, y], expected[y / size][x / size]) { worst = max(worst, abs(Int(got) - Int(want))) }
        }
    }
    #expect(worst <= tolerance, "largest sample error \(worst)", sourceLocation: sourceLocation)
}

/// The JPEG marker segments before the first scan: (marker, offset of the 0xFF, total length including 0xFF xx).
func jpegSegments(_ bytes: [UInt8]) -> [(marker: UInt8, offset: Int, length: Int)] {
    var segments: [(UInt8, Int, Int)] = []
    var i = 2
    while i + 4 <= bytes.count, bytes[i] == 0xFF {
        let marker = bytes[i + 1], length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        segments.append((marker, i, 2 + length))
        if marker == 0xDA { break }
        i += 2 + length
    }
    return segments
}

/// CRC-32 as PNG chunks use it (ISO-HDLC polynomial).
func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

func bigEndian(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }

/// White-background compositing as the decoder defines it.
func onWhite(_ colour: Int, alpha: Int) -> UInt8 { UInt8((colour * alpha + 255 * (255 - alpha) + 127) / 255) }

@Suite struct ImageFormatDetectionTests {
    @Test func detectsByMagicBytes() {
        #expect(ImageFormat.detect([0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat.detect([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(ImageFormat.detect(Array("GIF89a\u{1}\0".utf8)) == .gif)
        #expect(ImageFormat.detect(Array("GIF87a".utf8)) == .gif)
        #expect(ImageFormat.detect(Array("BM\u{36}\0\0\0".utf8)) == .bmp)
        #expect(ImageFormat.detect(Array("RIFF\u{24}\0\0\0WEBPVP8 ".utf8)) == .webp)
        #expect(ImageFormat.detect(Array("RIFF\u{24}\0\0\0WAVEfmt ".utf8)) == .unknown)
        #expect(ImageFormat.detect([0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0]) == .tiff)
        #expect(ImageFormat.detect([0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]) == .tiff)
        #expect(ImageFormat.detect(Array("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".utf8)) == .svg)
        #expect(ImageFormat.detect(Array(" \n\t<?xml version=\"1.0\"?><svg/>".utf8)) == .svg)
        #expect(ImageFormat.detect([0xEF, 0xBB, 0xBF] + Array("<svg>".utf8)) == .svg)
        #expect(ImageFormat.detect([]) == .unknown)
        #expect(ImageFormat.detect([0xFF]) == .unknown)
        #expect(ImageFormat.detect([0xFF, 0xD8]) == .unknown)
        #expect(ImageFormat.detect(Array("hello, world".utf8)) == .unknown)
        #expect(ImageFormat.detect(Array("   ".utf8)) == .unknown)
    }

    @Test func refusesOtherFormatsNamingThem() {
        let gif = decodingError(Array("GIF89a\u{1}\0\u{1}\0\0\0\0;".utf8))
        #expect(gif?.kind == .unsupportedFormat(.gif))
        #expect(gif?.message == "unsupported image format gif (send JPEG or PNG)")
        #expect(decodingError(Array("RIFF\0\0\0\0WEBPVP8L".utf8))?.kind == .unsupportedFormat(.webp))
        #expect(decodingError(Array("BM".utf8))?.kind == .unsupportedFormat(.bmp))
        #expect(decodingError([0x4D, 0x4D, 0x00, 0x2A])?.kind == .unsupportedFormat(.tiff))
        #expect(decodingError(Array("<svg></svg>".utf8))?.message == "unsupported image format svg (send JPEG or PNG)")
        let garbage = decodingError(Array("%PDF-1.7".utf8))
        #expect(garbage?.kind == .unsupportedFormat(.unknown))
        #expect(garbage?.message == "unrecognised image data (send JPEG or PNG)")
    }
}

@Suite struct ImageJPEGTests {
    static let colours: [[[UInt8]]] = [[[220, 30, 40], [30, 200, 60], [40, 50, 210]],
                                       [[240, 230, 40], [20, 20, 20], [250, 250, 250]]]

    @Test func baselineRGB() throws {
        let image = blockImage(Self.colours, size: 16)
        let jpeg = try ImageDecoder.encodeJPEG(image, quality: 95)
        #expect(jpegSegments(jpeg).contains { $0.marker == 0xC0 }, "baseline SOF0")
        let decoded = try ImageDecoder.decode(jpeg)
        expectBlocks(decoded, Self.colours, size: 16, tolerance: 6)
    }

    @Test func progressiveRGB() throws {
        let image = blockImage(Self.colours, size: 16)
        let jpeg = try ImageDecoder.encodeJPEG(image.pixels, width: image.width, height: image.height, channels: 3,
                                               quality: 95, progressive: true)
        #expect(jpegSegments(jpeg).contains { $0.marker == 0xC2 }, "progressive SOF2")
        expectBlocks(try ImageDecoder.decode(jpeg), Self.colours, size: 16, tolerance: 6)
    }

    @Test func grayscaleStaysGray() throws {
        let levels: [[[UInt8]]] = [[[0], [64], [128]], [[192], [255], [30]]]
        let image = blockImage(levels, size: 8)
        for progressive in [false, true] {
            let jpeg = try ImageDecoder.encodeJPEG(image.pixels, width: image.width, height: image.height,
                                                   channels: 1, quality: 95, progressive: progressive)
            let decoded = try ImageDecoder.decode(jpeg)
            #expect(decoded.channels == 1)
            expectBlocks(decoded, levels, size: 8, tolerance: 3, margin: 1)
        }
    }

    /// Adobe-inverted CMYK (255 = no ink) and the RGB it should become: R = C·K/255 and so on.
    static let cmyk: [[[UInt8]]] = [[[255, 0, 0, 255], [255, 255, 255, 128], [0, 255, 255, 255]],
                                    [[200, 100, 50, 200], [255, 255, 255, 255], [0, 0, 0, 255]]]
    static let cmykAsRGB: [[[UInt8]]] = cmyk.map { row in
        row.map { p in (0..<3).map { UInt8((Int(p[$0]) * Int(p[3]) + 127) / 255) } }
    }

    @Test func adobeCMYKAndYCCKBecomeRGB() throws {
        let pixels = blockPixels(Self.cmyk, size: 16)
        for ycck in [false, true] {
            let jpeg = try ImageDecoder.encodeJPEG(pixels, width: 48, height: 32, channels: 4, quality: 100, ycck: ycck)
            let adobe = try #require(jpegSegments(jpeg).first { $0.marker == 0xEE }, "Adobe APP14 marker")
            #expect(Array(jpeg[adobe.offset + 4..<adobe.offset + 9]) == Array("Adobe".utf8))
            #expect(jpeg[adobe.offset + 15] == (ycck ? 2 : 0), "Adobe transform flag")
            let decoded = try ImageDecoder.decode(jpeg)
            #expect(decoded.channels == 3)
            expectBlocks(decoded, Self.cmykAsRGB, size: 16, tolerance: ycck ? 8 : 4)
        }
    }

    @Test func cmykWithoutAdobeMarkerIsNotInverted() throws {
        var jpeg = try ImageDecoder.encodeJPEG(blockPixels(Self.cmyk, size: 16), width: 48, height: 32, channels: 4,
                                               quality: 100)
        let adobe = try #require(jpegSegments(jpeg).first { $0.marker == 0xEE })
        jpeg.removeSubrange(adobe.offset..<adobe.offset + adobe.length)
        // Without the marker the samples are plain ink amounts: R = (255 − C)(255 − K)/255.
        let expected = Self.cmyk.map { row in
            row.map { p in (0..<3).map { UInt8(((255 - Int(p[$0])) * (255 - Int(p[3])) + 127) / 255) } }
        }
        expectBlocks(try ImageDecoder.decode(jpeg), expected, size: 16, tolerance: 4)
    }

    @Test func readsEXIFOrientationInBothByteOrders() throws {
        let pixels = [UInt8](repeating: 128, count: 16 * 8 * 3)
        for orientation in 0...8 {
            for little in [false, true] {
                let jpeg = try ImageDecoder.encodeJPEG(pixels, width: 16, height: 8, channels: 3,
                                                       exifOrientation: orientation, exifLittleEndian: little)
                let info = try ImageDecoder.info(jpeg)
                #expect(info == ImageInfo(format: .jpeg, width: 16, height: 8, orientation: max(orientation, 1)))
                let app1 = jpegSegments(jpeg).filter { $0.marker == 0xE1 }
                #expect(app1.count == (orientation == 0 ? 0 : 1))
                if let segment = app1.first {
                    // FF E1, length, "Exif\0\0", TIFF header (8), 2 entries (2 + 24), next-IFD offset (4)
                    #expect(segment.length == 2 + 2 + 6 + 8 + 2 + 24 + 4)
                    #expect(Array(jpeg[segment.offset + 4..<segment.offset + 12])
                            == Array("Exif".utf8) + [0, 0] + (little ? [0x49, 0x49] : [0x4D, 0x4D]))
                }
            }
        }
    }

    @Test func malformedEXIFMeansUpright() throws {
        let pixels = [UInt8](repeating: 90, count: 16 * 8)
        let jpeg = try ImageDecoder.encodeJPEG(pixels, width: 16, height: 8, channels: 1, exifOrientation: 6)
        let app1 = try #require(jpegSegments(jpeg).first { $0.marker == 0xE1 })
        let tiff = app1.offset + 10 // FF E1, length, "Exif\0\0"
        func patched(_ offset: Int, _ bytes: [UInt8], and other: (Int, [UInt8])? = nil) -> [UInt8] {
            var copy = jpeg
            for (at, new) in [(offset, bytes)] + (other.map { [$0] } ?? []) {
                copy.replaceSubrange(tiff + at..<tiff + at + new.count, with: new)
            }
            return copy
        }
        let broken = [
            patched(0, [0x58, 0x58]),             // neither II nor MM
            patched(2, [0, 43]),                  // not 42
            patched(4, [0xFF, 0xFF, 0xFF, 0xF0]), // IFD0 far outside the segment
            patched(4, [0, 0, 0, 27]),            // IFD0 whose entries run past the end
            patched(8, [0xFF, 0xFF], and: (22, [1, 0x13])), // 65535 entries in a 38-byte block, no Orientation
            patched(22 + 2, [0, 9]),              // Orientation type 9 (SLONG): not understood
            patched(22 + 8, [0, 9]),              // Orientation 9: out of range
            patched(22 + 8, [0, 0]),              // Orientation 0
        ]
        for (i, bytes) in broken.enumerated() {
            let info = try ImageDecoder.info(bytes)
            #expect(info.orientation == 1, "patch \(i)")
            #expect(try ImageDecoder.decode(bytes).width == 16, "patch \(i)")
        }
        #expect(try ImageDecoder.info(patched(22 + 8, [0, 3])).orientation == 3, "the patch offsets are right")
    }

    @Test func truncatedJPEGIsCorrupt() throws {
        let jpeg = try ImageDecoder.encodeJPEG(blockImage(Self.colours, size: 16), quality: 90)
        let error = decodingError(Array(jpeg.prefix(jpeg.count / 2)))
        #expect(error?.kind == .corrupt)
        #expect(error?.message == "corrupt JPEG data: Premature end of JPEG file")
        // Cut inside the headers, and just before EOI.
        for cut in [3, 4, 20, jpegSegments(jpeg).last!.offset + 3, jpeg.count - 2] {
            #expect(decodingError(Array(jpeg.prefix(cut)))?.kind == .corrupt, "cut at \(cut)")
        }
        #expect(decodingError([0xFF, 0xD8, 0xFF])?.kind == .corrupt)
    }

    @Test func scribbledJPEGIsCorrupt() throws {
        let jpeg = try ImageDecoder.encodeJPEG(blockImage(Self.colours, size: 16), quality: 90)
        // A Huffman table whose code counts add up to more codes than the segment holds.
        let dht = try #require(jpegSegments(jpeg).first { $0.marker == 0xC4 })
        var bad = jpeg
        for i in 0..<16 { bad[dht.offset + 5 + i] = 0xFF }
        let error = decodingError(bad)
        #expect(error?.kind == .corrupt)
        #expect(error?.message.hasPrefix("corrupt JPEG data: ") == true)
        // A restart marker in the middle of the entropy-coded data.
        let scan = jpegSegments(jpeg).last!
        var marker = jpeg
        let middle = (scan.offset + scan.length + jpeg.count) / 2
        marker.replaceSubrange(middle..<middle + 4, with: [0xFF, 0xD3, 0xFF, 0xD5])
        #expect(decodingError(marker)?.kind == .corrupt)
    }

    @Test func randomScribblesNeverCrash() throws {
        let jpeg = try ImageDecoder.encodeJPEG(blockImage(Self.colours, size: 16), quality: 90)
        let progressive = try ImageDecoder.encodeJPEG(blockImage(Self.colours, size: 16).pixels, width: 48,
                                                      height: 32, channels: 3, progressive: true)
        var random = SeededBytes(state: 7)
        for original in [jpeg, progressive] {
            for _ in 0..<300 {
                var bytes = original
                for _ in 0..<(1 + random.below(8)) { bytes[3 + random.below(bytes.count - 3)] = random.byte() }
                // A scribble over the SOF dimensions may also claim a huge image.
                if let error = decodingError(bytes) {
                    var tooLarge = false
                    if case .tooLarge = error.kind { tooLarge = true }
                    #expect(error.kind == .corrupt || tooLarge, "\(error)")
                    #expect(!error.message.isEmpty)
                }
            }
        }
    }

    @Test func decompressionBombIsRefusedFromTheHeader() throws {
        for progressive in [false, true] {
            var jpeg = try ImageDecoder.encodeJPEG([UInt8](repeating: 7, count: 8 * 8 * 3), width: 8, height: 8,
                                                   channels: 3, progressive: progressive)
            let sof = try #require(jpegSegments(jpeg).first { $0.marker == 0xC0 || $0.marker == 0xC2 })
            // SOF: FF Cx, length (2), precision (1), height (2), width (2)
            jpeg.replaceSubrange(sof.offset + 5..<sof.offset + 9, with: [0x75, 0x30, 0x75, 0x30])
            let error = decodingError(jpeg)
            #expect(error?.kind == .tooLarge(pixels: 900_000_000, limit: 40_000_000))
            #expect(error?.message == "image is 30000×30000 = 900000000 pixels, the limit is 40000000")
            #expect(try ImageDecoder.info(jpeg) == ImageInfo(format: .jpeg, width: 30000, height: 30000, orientation: 1))
        }
    }

    @Test func pixelLimitIsInclusive() throws {
        let jpeg = try ImageDecoder.encodeJPEG([UInt8](repeating: 50, count: 10 * 10), width: 10, height: 10,
                                               channels: 1)
        #expect(try ImageDecoder.decode(jpeg, maxPixels: 100).pixels.count == 100)
        #expect(decodingError(jpeg, maxPixels: 99)?.kind == .tooLarge(pixels: 100, limit: 99))
        #expect(decodingError(jpeg, maxPixels: -5)?.kind == .tooLarge(pixels: 100, limit: 0))
    }
}

@Suite struct ImagePNGTests {
    @Test func grayIsExact() throws {
        let pixels: [UInt8] = [0, 1, 2, 127, 128, 200, 254, 255, 42]
        let png = try ImageDecoder.encodePNG(pixels, width: 3, height: 3, colorType: .gray)
        #expect(try ImageDecoder.decode(png) == DecodedImage(width: 3, height: 3, channels: 1, pixels: pixels))
    }

    @Test func lowBitDepthGrayIsScaledToEightBits() throws {
        for (depth, scale) in [(1, 255), (2, 85), (4, 17)] {
            let samples = (0..<15).map { UInt16($0 % (1 << depth)) }
            for interlaced in [false, true] {
                let png = try ImageDecoder.encodePNG(samples: samples, width: 5, height: 3, colorType: .gray,
                                                     bitDepth: depth, interlaced: interlaced)
                let decoded = try ImageDecoder.decode(png)
                #expect(decoded.pixels == samples.map { UInt8(Int($0) * scale) }, "depth \(depth)")
            }
        }
    }

    @Test func grayAlphaIsCompositedOnWhite() throws {
        let pixels: [UInt8] = [0, 255, 0, 0, 0, 128, 200, 128, 100, 255, 30, 1]
        let png = try ImageDecoder.encodePNG(pixels, width: 3, height: 2, colorType: .grayAlpha)
        let decoded = try ImageDecoder.decode(png)
        #expect(decoded.channels == 1)
        #expect(decoded.pixels == [0, 255, 127, onWhite(200, alpha: 128), 100, onWhite(30, alpha: 1)])
    }

    @Test func rgbIsExact() throws {
        var random = SeededBytes(state: 1)
        let pixels = random.bytes(7 * 5 * 3)
        let png = try ImageDecoder.encodePNG(pixels, width: 7, height: 5, colorType: .rgb)
        #expect(try ImageDecoder.decode(png) == DecodedImage(width: 7, height: 5, channels: 3, pixels: pixels))
    }

    @Test func rgbaIsCompositedOnWhite() throws {
        let pixels: [UInt8] = [255, 0, 0, 255, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 128, /**/ 10, 100, 250, 128]
        let png = try ImageDecoder.encodePNG(pixels, width: 2, height: 2, colorType: .rgba)
        let decoded = try ImageDecoder.decode(png)
        #expect(decoded.channels == 3)
        #expect(decoded.pixels == [255, 0, 0, 255, 255, 255, 127, 127, 127,
                                   onWhite(10, alpha: 128), onWhite(100, alpha: 128), onWhite(250, alpha: 128)])
        #expect(onWhite(0, alpha: 128) == 127 && onWhite(10, alpha: 128) == 132)
    }

    @Test func paletteWithTransparency() throws {
        let palette: [UInt8] = [255, 0, 0, /**/ 0, 255, 0, /**/ 0, 0, 255, /**/ 10, 20, 30]
        let alpha: [UInt8] = [0, 128, 255] // the fourth entry is opaque
        let indices: [UInt8] = [0, 1, 2, 3, 3, 2, 1, 0]
        var expected: [UInt8] = []
        for i in indices {
            let a = Int(i) < alpha.count ? Int(alpha[Int(i)]) : 255
            expected += (0..<3).map { onWhite(Int(palette[Int(i) * 3 + $0]), alpha: a) }
        }
        for depth in [2, 4, 8] {
            for interlaced in [false, true] {
                let png = try ImageDecoder.encodePNG(indices, width: 4, height: 2, colorType: .palette,
                                                     bitDepth: depth, interlaced: interlaced, palette: palette,
                                                     paletteAlpha: alpha)
                #expect(try ImageDecoder.decode(png) == DecodedImage(width: 4, height: 2, channels: 3,
                                                                     pixels: expected))
            }
        }
        // Without tRNS the palette is opaque.
        let opaque = try ImageDecoder.encodePNG(indices, width: 4, height: 2, colorType: .palette, palette: palette)
        #expect(try ImageDecoder.decode(opaque).pixels == indices.flatMap { palette[Int($0) * 3..<Int($0) * 3 + 3] })
    }

    @Test func transparentColourKey() throws {
        let gray = try ImageDecoder.encodePNG([10, 77, 200, 77], width: 2, height: 2, colorType: .gray,
                                              transparentColor: [77])
        #expect(try ImageDecoder.decode(gray).pixels == [10, 255, 200, 255])
        let rgb = try ImageDecoder.encodePNG([1, 2, 3, 4, 5, 6], width: 2, height: 1, colorType: .rgb,
                                             transparentColor: [4, 5, 6])
        #expect(try ImageDecoder.decode(rgb).pixels == [1, 2, 3, 255, 255, 255])
    }

    @Test func sixteenBitIsScaledToEightBits() throws {
        var random = SeededBytes(state: 3)
        let eight = random.bytes(4 * 3 * 4)
        let samples = eight.map { UInt16($0) * 257 } // v·257 scales back to exactly v
        let rgb = try ImageDecoder.encodePNG(samples: Array(samples.prefix(4 * 3 * 3)), width: 4, height: 3,
                                             colorType: .rgb, bitDepth: 16)
        #expect(try ImageDecoder.decode(rgb).pixels == Array(eight.prefix(4 * 3 * 3)))
        let gray = try ImageDecoder.encodePNG(samples: Array(samples.prefix(12)), width: 4, height: 3,
                                              colorType: .gray, bitDepth: 16, interlaced: true)
        #expect(try ImageDecoder.decode(gray).pixels == Array(eight.prefix(12)))
        let rgba = try ImageDecoder.encodePNG(samples: [0xFFFF, 0, 0, 0x8080, 0x1234, 0x5678, 0x9ABC, 0xFFFF],
                                              width: 2, height: 1, colorType: .rgba, bitDepth: 16)
        #expect(try ImageDecoder.decode(rgba).pixels == [255, onWhite(0, alpha: 128), onWhite(0, alpha: 128),
                                                         0x12, 0x56, 0x9A])
        // Rounded, not truncated: 0x12FF is 18.99 × 257.
        let rounding = try ImageDecoder.encodePNG(samples: [0x12FF], width: 1, height: 1, colorType: .gray,
                                                  bitDepth: 16)
        #expect(try ImageDecoder.decode(rounding).pixels == [19])
    }

    @Test func interlacedIsExact() throws {
        var random = SeededBytes(state: 11)
        for (width, height) in [(1, 1), (13, 11), (33, 9), (2, 17)] {
            let rgba = random.bytes(width * height * 4).enumerated().map { $0.offset % 4 == 3 ? 255 : $0.element }
            let png = try ImageDecoder.encodePNG(rgba, width: width, height: height, colorType: .rgba, interlaced: true)
            let rgb = rgba.enumerated().filter { $0.offset % 4 != 3 }.map(\.element)
            #expect(try ImageDecoder.decode(png) == DecodedImage(width: width, height: height, channels: 3, pixels: rgb))
        }
    }

    @Test func truncatedAndScribbledPNGAreCorrupt() throws {
        var random = SeededBytes(state: 5)
        let png = try ImageDecoder.encodePNG(random.bytes(16 * 16 * 3), width: 16, height: 16, colorType: .rgb)
        let half = decodingError(Array(png.prefix(png.count / 2)))
        #expect(half?.kind == .corrupt)
        #expect(half?.message.hasPrefix("corrupt PNG data: ") == true)
        for cut in [8, 12, 20, 33, png.count - 12, png.count - 1] {
            #expect(decodingError(Array(png.prefix(cut)))?.kind == .corrupt, "cut at \(cut)")
        }
        var scribbled = png
        scribbled[png.count / 2] ^= 0x55 // inside IDAT
        let crc = decodingError(scribbled)
        #expect(crc?.kind == .corrupt)
        // (zlib's own checksum notices first; the chunk CRC is checked after the chunk is consumed)
        #expect(crc?.message.hasPrefix("corrupt PNG data: IDAT: ") == true, "\(String(describing: crc))")
        for _ in 0..<300 {
            var bytes = png
            for _ in 0..<(1 + random.below(8)) { bytes[8 + random.below(bytes.count - 8)] = random.byte() }
            if let error = decodingError(bytes) { #expect(!error.message.isEmpty) }
        }
    }

    @Test func chunkLongerThanTheFileIsRefusedBeforeAllocation() throws {
        // Found by fuzzing: libpng allocates a chunk's declared length up front, so a tiny file with an eXIf chunk
        // claiming 700 MB made it malloc 700 MB. Chunk lengths are now checked against the bytes present.
        var png = try ImageDecoder.encodePNG([1, 2, 3, 4], width: 2, height: 2, colorType: .gray, exifOrientation: 6)
        let exif = try #require((8..<png.count - 4).first { Array(png[$0..<$0 + 4]) == Array("eXIf".utf8) }) - 4
        png.replaceSubrange(exif..<exif + 4, with: bigEndian(0x2B00_0026))
        let error = decodingError(png)
        #expect(error?.kind == .corrupt)
        #expect(error?.message.hasPrefix("corrupt PNG data: unexpected end of file (eXIf chunk of 721420326 bytes") == true,
                "\(String(describing: error))")
    }

    @Test func decompressionBombIsRefusedFromTheHeader() throws {
        var png = try ImageDecoder.encodePNG([UInt8](repeating: 9, count: 4 * 4 * 4), width: 4, height: 4,
                                             colorType: .rgba)
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), …, CRC over type + data at 29.
        #expect(Array(png[12..<16]) == Array("IHDR".utf8))
        png.replaceSubrange(16..<24, with: bigEndian(30000) + bigEndian(30000))
        png.replaceSubrange(29..<33, with: bigEndian(crc32(png[12..<29])))
        let error = decodingError(png)
        #expect(error?.kind == .tooLarge(pixels: 900_000_000, limit: 40_000_000))
        #expect(error?.message == "image is 30000×30000 = 900000000 pixels, the limit is 40000000")
        #expect(try ImageDecoder.info(png) == ImageInfo(format: .png, width: 30000, height: 30000, orientation: 1))
        // Without the CRC fix the header itself is refused.
        png[29] ^= 1
        #expect(decodingError(png)?.kind == .corrupt)
    }
}

@Suite struct ImageOrientationTests {
    enum Side { case top, bottom, left, right }
    /// The EXIF specification's table: where the stored image's row 0 and column 0 appear when displayed.
    static let table: [Int: (row0: Side, column0: Side)] = [
        1: (.top, .left), 2: (.top, .right), 3: (.bottom, .right), 4: (.bottom, .left),
        5: (.left, .top), 6: (.right, .top), 7: (.right, .bottom), 8: (.left, .bottom),
    ]

    /// The image a camera stores for `visual` when it tags it with `orientation` (built from the table above,
    /// independently of the decoder's rotation code).
    static func stored(_ visual: DecodedImage, orientation: Int) -> DecodedImage {
        let (row0, column0) = table[orientation]!
        let w = visual.width, h = visual.height
        let sideways = row0 == .left || row0 == .right
        let sw = sideways ? h : w, sh = sideways ? w : h
        var pixels: [UInt8] = []
        for r in 0..<sh {
            for c in 0..<sw {
                let (x, y) = sideways ? (row0 == .left ? r : w - 1 - r, column0 == .top ? c : h - 1 - c)
                                      : (column0 == .left ? c : w - 1 - c, row0 == .top ? r : h - 1 - r)
                pixels += visual[x, y]
            }
        }
        return DecodedImage(width: sw, height: sh, channels: visual.channels, pixels: pixels)
    }

    @Test(arguments: 1...8) func pngWithEXIFIsShownUpright(orientation: Int) throws {
        // 3×2 with a distinct colour in every pixel, so any wrong flip or rotation changes the result.
        let visual = DecodedImage(width: 3, height: 2, channels: 3, pixels: [
            255, 0, 0, /**/ 0, 255, 0, /**/ 0, 0, 255,
            255, 255, 0, /**/ 0, 255, 255, /**/ 255, 0, 255,
        ])
        let raw = Self.stored(visual, orientation: orientation)
        #expect((raw.width, raw.height) == (orientation >= 5 ? (2, 3) : (3, 2)))
        let png = try ImageDecoder.encodePNG(raw.pixels, width: raw.width, height: raw.height, colorType: .rgb,
                                             exifOrientation: orientation)
        #expect(try ImageDecoder.info(png).orientation == orientation)
        #expect(try ImageDecoder.decode(png) == visual)
        // Gray goes through the same path with one channel.
        let grayVisual = DecodedImage(width: 3, height: 2, channels: 1, pixels: [1, 2, 3, 4, 5, 6])
        let grayRaw = Self.stored(grayVisual, orientation: orientation)
        let grayPNG = try ImageDecoder.encodePNG(grayRaw.pixels, width: grayRaw.width, height: grayRaw.height,
                                                 colorType: .gray, exifOrientation: orientation)
        #expect(try ImageDecoder.decode(grayPNG) == grayVisual)
    }

    @Test(arguments: 1...8) func jpegWithEXIFIsShownUpright(orientation: Int) throws {
        // Flat 16×16 blocks (a whole 4:2:0 MCU each) at quality 100 keep JPEG's error small.
        let blocks: [[[UInt8]]] = [[[230, 20, 20], [20, 220, 30], [30, 30, 230]],
                                   [[240, 240, 30], [20, 20, 20], [250, 250, 250]]]
        let visual = blockImage(blocks, size: 16)
        let raw = Self.stored(visual, orientation: orientation)
        let jpeg = try ImageDecoder.encodeJPEG(raw.pixels, width: raw.width, height: raw.height, channels: 3,
                                               quality: 100, exifOrientation: orientation,
                                               exifLittleEndian: orientation % 2 == 0)
        expectBlocks(try ImageDecoder.decode(jpeg), blocks, size: 16, tolerance: 6)
    }

    @Test func orientationValuesOutsideOneToEightLeaveTheImageAlone() {
        let image = DecodedImage(width: 2, height: 1, channels: 1, pixels: [1, 2])
        for value in [0, 1, 9, -1] { #expect(ImageDecoder.oriented(image, value) == image) }
        #expect(ImageDecoder.oriented(image, 6) == DecodedImage(width: 1, height: 2, channels: 1, pixels: [1, 2]))
        #expect(ImageDecoder.oriented(image, 8) == DecodedImage(width: 1, height: 2, channels: 1, pixels: [2, 1]))
    }
}

@Suite struct ImageRobustnessTests {
    @Test func emptyAndTinyInputs() {
        let empty = decodingError([])
        #expect(empty?.kind == .empty)
        #expect(empty?.message == "the image is empty (0 bytes)")
        #expect(decodingError([0xFF])?.kind == .unsupportedFormat(.unknown))
        #expect(decodingError([0x89])?.kind == .unsupportedFormat(.unknown))
        #expect(decodingError([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])?.kind == .corrupt)
        #expect(throws: ImageDecodingError.self) { try ImageDecoder.info([]) }
        #expect(throws: ImageDecodingError.self) { try ImageDecoder.info([0xFF, 0xD8, 0xFF, 0xD9]) }
    }

    @Test func twoThousandGarbageDecodes() throws {
        var random = SeededBytes(state: 2024)
        let jpeg = try ImageDecoder.encodeJPEG(random.bytes(8 * 8 * 3), width: 8, height: 8, channels: 3)
        let png = try ImageDecoder.encodePNG(random.bytes(8 * 8 * 4), width: 8, height: 8, colorType: .rgba)
        var refused = 0
        for i in 0..<2000 {
            let bytes: [UInt8]
            switch i % 4 {
            case 0: bytes = [0xFF, 0xD8, 0xFF] + random.bytes(random.below(300))
            case 1: bytes = Array(png.prefix(8)) + random.bytes(random.below(300))
            case 2: bytes = Array(jpeg.prefix(random.below(jpeg.count)))
            default: bytes = Array(png.prefix(random.below(png.count)))
            }
            if decodingError(bytes, maxPixels: 1_000_000) != nil { refused += 1 }
        }
        #expect(refused == 2000)
    }

    @Test func encodersRejectInvalidArguments() {
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodeJPEG([1, 2, 3], width: 2, height: 2, channels: 1)
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodeJPEG([1, 2], width: 1, height: 1, channels: 2)
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodeJPEG([1], width: 1, height: 1, channels: 1, exifOrientation: 9)
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodePNG(samples: [2], width: 1, height: 1, colorType: .gray, bitDepth: 1)
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodePNG([0, 0, 0], width: 1, height: 1, colorType: .rgb, bitDepth: 4)
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodePNG([4], width: 1, height: 1, colorType: .palette, palette: [0, 0, 0])
        }
        #expect(throws: ImageEncodingError.self) {
            try ImageDecoder.encodePNG([0], width: 1, height: 1, colorType: .gray, paletteAlpha: [0])
        }
    }

    @Test func encodedImagesRoundTrip() throws {
        let image = DecodedImage(width: 2, height: 2, channels: 3, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(try ImageDecoder.decode(ImageDecoder.encodePNG(image)) == image)
        let gray = DecodedImage(width: 16, height: 16, channels: 1, pixels: [UInt8](repeating: 99, count: 256))
        let decoded = try ImageDecoder.decode(ImageDecoder.encodeJPEG(gray, quality: 90))
        #expect(decoded.channels == 1 && decoded.pixels.allSatisfy { abs(Int($0) - 99) <= 1 })
    }
}
