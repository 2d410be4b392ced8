import CImageCodecs

/// Why an image could not be encoded: the arguments do not describe a valid image of the requested kind.
public struct ImageEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) { self.message = message }
}

/// PNG colour types (the IHDR values).
public enum PNGColorType: Int32, Sendable, CaseIterable {
    case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6

    /// Samples per pixel (a palette pixel is one index).
    public var channels: Int {
        switch self {
        case .gray, .palette: 1
        case .grayAlpha: 2
        case .rgb: 3
        case .rgba: 4
        }
    }
}

extension ImageDecoder {
    /// Encodes interleaved 8-bit pixels as a JPEG file.
    ///
    /// - Parameters:
    ///   - channels: 1 = gray, 3 = RGB, 4 = CMYK in Adobe's inverted convention (255 = no ink), which is what
    ///     Photoshop writes; the file gets the Adobe APP14 marker.
    ///   - quality: 1...100.
    ///   - progressive: write a progressive (multi-scan) file instead of a baseline one.
    ///   - exifOrientation: 1...8 adds an APP1 EXIF segment carrying that orientation (0 = none), in little-endian
    ///     ("II") TIFF byte order if `exifLittleEndian`, else big-endian ("MM").
    ///   - ycck: with 4 channels, store YCCK (Adobe transform 2) rather than plain CMYK.
    /// - Throws: `ImageEncodingError` when the arguments are invalid.
    public static func encodeJPEG(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 90,
                                  progressive: Bool = false, exifOrientation: Int = 0, exifLittleEndian: Bool = false,
                                  ycck: Bool = false) throws(ImageEncodingError) -> [UInt8] {
        try checkCount(pixels.count, width: width, height: height, channels: channels)
        guard let w = Int32(exactly: width), let h = Int32(exactly: height), let c = Int32(exactly: channels),
              let o = Int32(exactly: exifOrientation) else { throw ImageEncodingError("arguments out of range") }
        let q = Int32(min(max(quality, 1), 100))
        return try encoded { length, text, capacity in
            pixels.withUnsafeBufferPointer {
                sequent_encode_jpeg($0.baseAddress, w, h, c, q, progressive ? 1 : 0, o, exifLittleEndian ? 1 : 0,
                                    ycck ? 1 : 0, length, text, capacity)
            }
        }
    }

    /// Encodes a decoded image (gray or RGB) as a JPEG file.
    public static func encodeJPEG(_ image: DecodedImage, quality: Int = 90) throws(ImageEncodingError) -> [UInt8] {
        try encodeJPEG(image.pixels, width: image.width, height: image.height, channels: image.channels,
                       quality: quality)
    }

    /// Encodes a PNG file from samples of any bit depth.
    ///
    /// - Parameters:
    ///   - samples: `width * height * colorType.channels` values, one per sample, each fitting in `bitDepth` bits;
    ///     palette indices for `.palette`.
    ///   - bitDepth: gray 1, 2, 4, 8 or 16; palette 1, 2, 4 or 8; the other types 8 or 16.
    ///   - interlaced: Adam7 interlacing.
    ///   - palette: RGB triples (`.palette` only).
    ///   - paletteAlpha: tRNS alphas of the first palette entries (the rest are opaque).
    ///   - transparentColor: for `.gray` (one value) or `.rgb` (three), the colour a tRNS chunk makes transparent.
    ///   - exifOrientation: 1...8 adds an eXIf chunk (0 = none).
    /// - Throws: `ImageEncodingError` when the arguments are invalid.
    public static func encodePNG(samples: [UInt16], width: Int, height: Int, colorType: PNGColorType,
                                 bitDepth: Int = 8, interlaced: Bool = false, palette: [UInt8] = [],
                                 paletteAlpha: [UInt8] = [], transparentColor: [UInt16]? = nil,
                                 exifOrientation: Int = 0) throws(ImageEncodingError) -> [UInt8] {
        try checkCount(samples.count, width: width, height: height, channels: colorType.channels)
        guard palette.count % 3 == 0 else { throw ImageEncodingError("the palette must be RGB triples") }
        if let transparentColor, transparentColor.count != (colorType == .rgb ? 3 : 1) {
            throw ImageEncodingError("the transparent colour needs \(colorType == .rgb ? 3 : 1) value(s)")
        }
        guard let w = Int32(exactly: width), let h = Int32(exactly: height), let depth = Int32(exactly: bitDepth),
              let o = Int32(exactly: exifOrientation) else { throw ImageEncodingError("arguments out of range") }
        return try encoded { length, text, capacity in
            samples.withUnsafeBufferPointer { s in
                palette.withUnsafeBufferPointer { p in
                    paletteAlpha.withUnsafeBufferPointer { a in
                        func call(_ key: UnsafePointer<UInt16>?) -> UnsafeMutablePointer<UInt8>? {
                            sequent_encode_png(s.baseAddress, w, h, colorType.rawValue, depth, interlaced ? 1 : 0,
                                               p.baseAddress, Int32(p.count / 3), a.baseAddress, Int32(a.count), key,
                                               o, length, text, capacity)
                        }
                        guard let transparentColor else { return call(nil) }
                        return transparentColor.withUnsafeBufferPointer { call($0.baseAddress) }
                    }
                }
            }
        }
    }

    /// Encodes 8-bit samples as a PNG file (see `encodePNG(samples:…)` for the parameters).
    public static func encodePNG(_ pixels: [UInt8], width: Int, height: Int, colorType: PNGColorType,
                                 bitDepth: Int = 8, interlaced: Bool = false, palette: [UInt8] = [],
                                 paletteAlpha: [UInt8] = [], transparentColor: [UInt16]? = nil,
                                 exifOrientation: Int = 0) throws(ImageEncodingError) -> [UInt8] {
        try encodePNG(samples: pixels.map(UInt16.init), width: width, height: height, colorType: colorType,
                      bitDepth: bitDepth, interlaced: interlaced, palette: palette, paletteAlpha: paletteAlpha,
                      transparentColor: transparentColor, exifOrientation: exifOrientation)
    }

    /// Encodes a decoded image (gray or RGB) as an 8-bit PNG file, losslessly.
    public static func encodePNG(_ image: DecodedImage) throws(ImageEncodingError) -> [UInt8] {
        try encodePNG(image.pixels, width: image.width, height: image.height,
                      colorType: image.channels == 1 ? .gray : .rgb)
    }

    private static func checkCount(_ count: Int, width: Int, height: Int, channels: Int) throws(ImageEncodingError) {
        let (area, overflow1) = width.multipliedReportingOverflow(by: height)
        let (expected, overflow2) = area.multipliedReportingOverflow(by: channels)
        guard width > 0, height > 0, channels > 0, !overflow1, !overflow2, count == expected else {
            throw ImageEncodingError("\(count) samples do not make a \(width)×\(height) image with \(channels) channel(s)")
        }
    }

    /// Runs a C encoder (given the length out-parameter and an error buffer) and copies its malloc'd result.
    private static func encoded(
        _ encoder: (UnsafeMutablePointer<Int>, UnsafeMutablePointer<CChar>, Int) -> UnsafeMutablePointer<UInt8>?
    ) throws(ImageEncodingError) -> [UInt8] {
        var length = 0
        var message = [CChar](repeating: 0, count: 320)
        let result = message.withUnsafeMutableBufferPointer { text in encoder(&length, text.baseAddress!, text.count) }
        guard let result else {
            throw ImageEncodingError(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        }
        defer { sequent_image_free(result) }
        return Array(UnsafeBufferPointer(start: result, count: length))
    }
}
