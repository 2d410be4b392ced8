import CImageCodecs

/// An image file format, told apart by its leading bytes ("magic numbers"), never by a file name or content type.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, gif, bmp, webp, tiff, svg, unknown

    /// The format `bytes` start with, or `.unknown`. Only JPEG and PNG can be decoded; the others are recognised so
    /// that an upload can be refused with a message naming what was sent.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            bytes.count >= offset + prefix.count && bytes[offset..<offset + prefix.count].elementsEqual(prefix)
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .webp }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if starts(Array("BM".utf8)) { return .bmp }
        // SVG is text: skip a UTF-8 byte-order mark and leading whitespace, then look for the root element or an
        // XML declaration (an SVG file is the only XML an image upload plausibly is).
        var i = starts([0xEF, 0xBB, 0xBF]) ? 3 : 0
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D, 0x0C].contains(bytes[i]) { i += 1 }
        for prefix in ["<svg", "<?xml", "<!DOCTYPE svg"] where starts(Array(prefix.utf8), at: i) { return .svg }
        return .unknown
    }
}

/// A decoded image ready for preprocessing: 8-bit samples, row-major, interleaved, no row padding.
///
/// EXIF orientation has already been applied (so `width`/`height` are as displayed) and any alpha has been
/// composited on white, which is how viewers show a transparent PNG and what a person who uploads a logo expects.
public struct DecodedImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 = grayscale, 3 = RGB.
    public var channels: Int
    /// `width * height * channels` samples.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && (channels == 1 || channels == 3)
                     && pixels.count == width * height * channels, "pixels do not match \(width)×\(height)×\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The samples of the pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> ArraySlice<UInt8> {
        let start = (y * width + x) * channels
        return pixels[start..<start + channels]
    }
}

/// Why an image could not be decoded. `message` is written for the person who uploaded it.
public struct ImageDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not JPEG or PNG (the detected format, possibly `.unknown`).
        case unsupportedFormat(ImageFormat)
        /// Malformed, truncated or damaged data.
        case corrupt
        /// The header claims more pixels than allowed; refused before any pixel memory was allocated.
        case tooLarge(pixels: Int, limit: Int)
        /// Zero bytes.
        case empty
    }

    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// What an image's header says, without decoding it.
public struct ImageInfo: Sendable, Equatable {
    public var format: ImageFormat
    /// As stored, before the EXIF orientation is applied.
    public var width: Int
    public var height: Int
    /// EXIF orientation 1...8 (1 = as stored; 5...8 swap width and height).
    public var orientation: Int

    /// Width and height once the orientation is applied, as `decode` returns them.
    public var orientedWidth: Int { orientation >= 5 ? height : width }
    public var orientedHeight: Int { orientation >= 5 ? width : height }
}

/// Decodes uploaded JPEG and PNG images (libjpeg, libpng) and encodes them (test fixtures, exports).
public enum ImageDecoder {
    /// Refused uploads name the limit, so the default is a round number: 40 megapixels is more than any phone
    /// camera produces today, and at 3 bytes per pixel bounds one decode to 120 MB.
    public static let defaultMaxPixels = 40_000_000

    /// Decodes a JPEG (baseline, progressive, grayscale, CMYK, YCCK) or PNG (any colour type and bit depth,
    /// palette, tRNS, interlaced) into 8-bit gray or RGB, with EXIF orientation applied and alpha composited on white.
    ///
    /// The header's pixel count is checked against `maxPixels` before anything is allocated or decompressed, so a
    /// small file claiming a huge image costs nothing. Corrupt and truncated data is an error (libjpeg would
    /// otherwise pad a truncated file with grey and report success). Any input is safe: the decoders' error paths
    /// are contained in C and surface here as an error.
    ///
    /// `target` is the size the caller is going to resize the image to (as displayed, after EXIF orientation), or
    /// nil for the image at its full size. With a target, a JPEG at least four times as large in both dimensions is
    /// decoded with libjpeg's DCT scaling (by 1/8, 2/8, 3/8 or 4/8): to the smallest size that is still twice the
    /// target or more, which for a 12-megapixel photo and a small model input skips most of the decode's work. Each
    /// scaled pixel is close to the mean of the pixels it stands for, so an area-averaging resize of the result is
    /// close to the same resize of the full decode (see docs/DESIGN.md for measured differences); the width and
    /// height returned are the scaled ones. `maxPixels` applies to the full size either way. PNGs are not scaled.
    ///
    /// `grayscale` says the caller will convert to gray: a colour JPEG that is DCT-scaled then comes back as its
    /// luma (1 channel), which skips the colour half of the decode. JPEG's luma has the ITU-R 601 weights that
    /// `Preprocessing` converts RGB with, so the result differs from converting the RGB decode by rounding only.
    /// Full-size decodes are unaffected (they stay exact).
    ///
    /// - Throws: `ImageDecodingError` only.
    public static func decode(_ bytes: [UInt8], maxPixels: Int = defaultMaxPixels,
                              target: (width: Int, height: Int)? = nil,
                              grayscale: Bool = false) throws -> DecodedImage {
        let format = try supportedFormat(of: bytes)
        var info = sequent_image_info()
        var status: Int32 = 0
        var message = [CChar](repeating: 0, count: messageCapacity)
        let limit = max(0, maxPixels)
        // A non-positive target means none; one beyond 32 bits can never be met, which also means none.
        func side(_ n: Int?) -> UInt32 { n.flatMap { $0 > 0 ? UInt32(exactly: $0) : nil } ?? 0 }
        let targetWidth = side(target?.width), targetHeight = side(target?.height)
        let decoded = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                sequent_image_decode_for(input.baseAddress, input.count, UInt64(limit), targetWidth, targetHeight,
                                         grayscale ? 1 : 0, &info, &status, text.baseAddress, text.count)
            }
        }
        guard let decoded else {
            throw failure(status: status, format: format, info: info, limit: limit, message: message)
        }
        defer { sequent_image_free(decoded) }
        let width = Int(info.width), height = Int(info.height), channels = Int(info.channels)
        let flat = flatten(UnsafeBufferPointer(start: decoded, count: width * height * channels), channels: channels)
        let image = DecodedImage(width: width, height: height, channels: flat.channels, pixels: flat.pixels)
        return oriented(image, Int(info.orientation))
    }

    /// Reads only the header of a JPEG or PNG: format, stored dimensions and EXIF orientation.
    ///
    /// - Throws: `ImageDecodingError` (`.empty`, `.unsupportedFormat` or `.corrupt`).
    public static func info(_ bytes: [UInt8]) throws -> ImageInfo {
        let format = try supportedFormat(of: bytes)
        var info = sequent_image_info()
        var message = [CChar](repeating: 0, count: messageCapacity)
        let status = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                sequent_image_read_info(input.baseAddress, input.count, &info, text.baseAddress, text.count)
            }
        }
        guard status == Int32(SEQUENT_IMAGE_OK) else {
            throw failure(status: status, format: format, info: info, limit: 0, message: message)
        }
        return ImageInfo(format: format, width: Int(info.width), height: Int(info.height),
                         orientation: Int(info.orientation))
    }

    private static let messageCapacity = 320

    private static func supportedFormat(of bytes: [UInt8]) throws(ImageDecodingError) -> ImageFormat {
        guard !bytes.isEmpty else { throw ImageDecodingError(.empty, "the image is empty (0 bytes)") }
        let format = ImageFormat.detect(bytes)
        switch format {
        case .jpeg, .png:
            return format
        case .unknown:
            throw ImageDecodingError(.unsupportedFormat(.unknown), "unrecognised image data (send JPEG or PNG)")
        default:
            throw ImageDecodingError(.unsupportedFormat(format),
                                     "unsupported image format \(format.rawValue) (send JPEG or PNG)")
        }
    }

    private static func failure(status: Int32, format: ImageFormat, info: sequent_image_info, limit: Int,
                              message: [CChar]) -> ImageDecodingError {
        let name = format == .png ? "PNG" : "JPEG"
        let detail = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch Int(status) {
        case Int(SEQUENT_IMAGE_TOO_LARGE):
            let width = Int(info.width), height = Int(info.height), pixels = width * height
            return ImageDecodingError(.tooLarge(pixels: pixels, limit: limit),
                                      "image is \(width)×\(height) = \(pixels) pixels, the limit is \(limit)")
        case Int(SEQUENT_IMAGE_UNSUPPORTED):
            return ImageDecodingError(.unsupportedFormat(format), "unrecognised image data (send JPEG or PNG)")
        case Int(SEQUENT_IMAGE_NO_MEMORY):
            // Only reachable for images within the pixel limit; still the upload's size that did it, not a fault
            // of the service worth a 5xx.
            return ImageDecodingError(.corrupt, "\(name) image could not be decoded: \(detail)")
        default:
            return ImageDecodingError(.corrupt, "corrupt \(name) data: \(detail)")
        }
    }

    /// Composites alpha on white: gray + alpha → gray, RGBA → RGB; 1 and 3 channels are copied as they are.
    static func flatten(_ source: UnsafeBufferPointer<UInt8>, channels: Int) -> (channels: Int, pixels: [UInt8]) {
        guard channels == 2 || channels == 4 else { return (channels, Array(source)) }
        let colours = channels - 1, count = source.count / channels
        let pixels = [UInt8](unsafeUninitializedCapacity: count * colours) { out, initialized in
            for i in 0..<count {
                let alpha = Int(source[i * channels + colours])
                for c in 0..<colours {
                    // c·α + 255·(1 − α), in integers, rounded
                    out[i * colours + c] = UInt8((Int(source[i * channels + c]) * alpha + 255 * (255 - alpha) + 127) / 255)
                }
            }
            initialized = count * colours
        }
        return (colours, pixels)
    }

    /// Applies EXIF orientation `orientation` (1...8; anything else is treated as 1) so the image appears as it is
    /// meant to be seen: 2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse,
    /// 8 rotate 90° counter-clockwise.
    public static func oriented(_ image: DecodedImage, _ orientation: Int) -> DecodedImage {
        guard (2...8).contains(orientation) else { return image }
        let w = image.width, h = image.height, c = image.channels
        let outWidth = orientation >= 5 ? h : w, outHeight = orientation >= 5 ? w : h
        // Output pixel (x, y) is source pixel number origin + x·stepX + y·stepY.
        let (origin, stepX, stepY): (Int, Int, Int)
        switch orientation {
        case 2: (origin, stepX, stepY) = (w - 1, -1, w)
        case 3: (origin, stepX, stepY) = ((h - 1) * w + w - 1, -1, -w)
        case 4: (origin, stepX, stepY) = ((h - 1) * w, 1, -w)
        case 5: (origin, stepX, stepY) = (0, w, 1)
        case 6: (origin, stepX, stepY) = ((h - 1) * w, -w, 1)
        case 7: (origin, stepX, stepY) = ((h - 1) * w + w - 1, -w, -1)
        default: (origin, stepX, stepY) = (w - 1, w, -1)
        }
        let pixels = image.pixels.withUnsafeBufferPointer { source in
            [UInt8](unsafeUninitializedCapacity: source.count) { out, initialized in
                var o = 0
                for y in 0..<outHeight {
                    var s = origin + y * stepY
                    for _ in 0..<outWidth {
                        for k in 0..<c { out[o + k] = source[s * c + k] }
                        o += c
                        s += stepX
                    }
                }
                initialized = source.count
            }
        }
        return DecodedImage(width: outWidth, height: outHeight, channels: c, pixels: pixels)
    }
}
