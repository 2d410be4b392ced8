// libFuzzer target for ImageDecoder (libjpeg and libpng behind the CImageCodecs shim, EXIF parsing, orientation,
// alpha compositing). Build and run with scripts/fuzz-images.sh.
//
// Invariants checked on every input, besides "does not crash" (and, under ASan, "touches no memory it should not"):
//   - a decoded image is gray or RGB, within the pixel limit, with exactly width × height × channels samples;
//   - the header-only read agrees with the decode about the oriented dimensions;
//   - a DCT-scaled decode (a target size) stays between the target and the full size;
//   - a refusal has a message, and says `.empty` only for empty input and `.tooLarge` only above the limit.
#if FUZZING
import Foundation
import SequentData

/// Small, so that crafted headers reach the limit check and decodes stay fast.
private let maxPixels = 1_000_000

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    do {
        let image = try ImageDecoder.decode(bytes, maxPixels: maxPixels)
        precondition(image.channels == 1 || image.channels == 3, "channels \(image.channels)")
        precondition(image.width > 0 && image.height > 0 && image.width * image.height <= maxPixels, "size")
        precondition(image.pixels.count == image.width * image.height * image.channels, "sample count")
        let info = try ImageDecoder.info(bytes)
        precondition(info.orientedWidth == image.width && info.orientedHeight == image.height,
                     "info \(info) disagrees with the decode \(image.width)×\(image.height)")
        // The DCT-scaled decode predict uses: never larger than the full one, never below the target (or the
        // image, when smaller), same colour mode, consistent samples.
        let scaled = try ImageDecoder.decode(bytes, maxPixels: maxPixels, target: (width: 28, height: 28))
        precondition(scaled.width <= image.width && scaled.height <= image.height, "scaled larger than full")
        precondition(scaled.width >= min(28, image.width) && scaled.height >= min(28, image.height), "scaled below target")
        precondition(scaled.channels == image.channels, "scaled channels")
        precondition(scaled.pixels.count == scaled.width * scaled.height * scaled.channels, "scaled sample count")
    } catch let error as ImageDecodingError {
        precondition(!error.message.isEmpty, "refusal without a message")
        switch error.kind {
        case .empty: precondition(bytes.isEmpty, ".empty for \(bytes.count) bytes")
        case .tooLarge(let pixels, let limit): precondition(limit == maxPixels && pixels > limit, "\(error)")
        case .corrupt, .unsupportedFormat: break
        }
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}

/// Writes the seed corpus: one small file per decoder path (baseline, progressive, gray, CMYK, YCCK and EXIF JPEGs;
/// every PNG colour type, 16-bit, low bit depths, interlaced, tRNS, eXIf), generated rather than committed.
private func writeSeeds(to directory: String) throws {
    let w = 8, h = 8
    let rgb = (0..<w * h * 3).map { UInt8(truncatingIfNeeded: $0 * 37) }
    let gray = (0..<w * h).map { UInt8(truncatingIfNeeded: $0 * 11) }
    let cmyk = (0..<w * h * 4).map { UInt8(truncatingIfNeeded: $0 * 53) }
    let rgba = (0..<w * h * 4).map { UInt8(truncatingIfNeeded: $0 * 29) }
    let indices = (0..<w * h).map { UInt8($0 % 4) }
    let seeds: [(String, [UInt8])] = [
        ("baseline.jpg", try ImageDecoder.encodeJPEG(rgb, width: w, height: h, channels: 3, quality: 75)),
        ("progressive.jpg", try ImageDecoder.encodeJPEG(rgb, width: w, height: h, channels: 3, progressive: true)),
        ("gray.jpg", try ImageDecoder.encodeJPEG(gray, width: w, height: h, channels: 1)),
        ("cmyk.jpg", try ImageDecoder.encodeJPEG(cmyk, width: w, height: h, channels: 4)),
        ("ycck.jpg", try ImageDecoder.encodeJPEG(cmyk, width: w, height: h, channels: 4, ycck: true)),
        ("exif-mm.jpg", try ImageDecoder.encodeJPEG(rgb, width: w, height: h, channels: 3, exifOrientation: 6)),
        ("exif-ii.jpg", try ImageDecoder.encodeJPEG(gray, width: w, height: h, channels: 1, exifOrientation: 5,
                                                    exifLittleEndian: true)),
        ("rgb.png", try ImageDecoder.encodePNG(rgb, width: w, height: h, colorType: .rgb)),
        ("rgba.png", try ImageDecoder.encodePNG(rgba, width: w, height: h, colorType: .rgba)),
        ("gray-alpha.png", try ImageDecoder.encodePNG(Array(rgba.prefix(w * h * 2)), width: w, height: h,
                                                      colorType: .grayAlpha)),
        ("gray1.png", try ImageDecoder.encodePNG(gray.map { $0 & 1 }, width: w, height: h, colorType: .gray,
                                                 bitDepth: 1, transparentColor: [1])),
        ("palette.png", try ImageDecoder.encodePNG(indices, width: w, height: h, colorType: .palette, bitDepth: 2,
                                                   palette: [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9],
                                                   paletteAlpha: [0, 128])),
        ("rgb16-interlaced.png", try ImageDecoder.encodePNG(samples: rgb.map { UInt16($0) * 257 }, width: w,
                                                            height: h, colorType: .rgb, bitDepth: 16,
                                                            interlaced: true, transparentColor: [0, 0, 0])),
        ("exif.png", try ImageDecoder.encodePNG(gray, width: w, height: h, colorType: .gray, exifOrientation: 8)),
    ]
    for (name, bytes) in seeds {
        try Data(bytes).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }
}

// SwiftPM links Linux executables with `--defsym main=<target>_main` (the target name with `-` turned into `_`);
// with -parse-as-library nothing defines that symbol, so provide it and hand over to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt
) -> CInt

@_cdecl("fuzz_images_main")
public func fuzzImagesMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    // `SEQUENT_FUZZ_WRITE_SEEDS=<dir> fuzz-images` writes the seed corpus and exits, so no binary fixtures are
    // committed (libFuzzer would reject an unknown command-line flag, hence the environment variable).
    if let directory = ProcessInfo.processInfo.environment["SEQUENT_FUZZ_WRITE_SEEDS"] {
        do { try writeSeeds(to: directory) } catch {
            print("fuzz-images: cannot write seeds: \(error)")
            return 1
        }
        return 0
    }
    var c = argc, v = argv
    return LLVMFuzzerRunDriver(&c, &v, fuzzOne)
}
#else
// Plain `swift build` / `swift test`: no libFuzzer is linked and the compiler-generated (empty) main is used.
#endif
