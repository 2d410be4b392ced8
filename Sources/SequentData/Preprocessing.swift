import SequentNN

/// How an image becomes a model input: colour mode, size, pixel scale and polarity — what the model was
/// trained with, stored beside its weights so uploads are prepared the same way.
public struct Preprocessing: Sendable, Equatable {
    /// Height, width, channels of the model input (channels 1 = grayscale, 3 = RGB).
    public var height: Int
    public var width: Int
    public var channels: Int
    /// Multiplier applied to 0…255 pixel values (Keras's `rescale`, typically 1/255).
    public var rescale: Float
    /// The training images' background: `dark` (Fashion-MNIST: light garments on black) or `light`.
    /// Uploads whose background is the other way round are inverted, so a photo of a shoe on a white table
    /// looks like the training data.
    public var background: Background

    public enum Background: String, Sendable { case dark, light }

    /// How images are resized to the input size. `bilinear` (half-pixel centres, as `tf.image.resize`) switches
    /// to area averaging when shrinking more than 2×, where bilinear would alias; `nearest` is what Keras's
    /// `flow_from_directory` uses by default; `area` always averages.
    public enum Interpolation: String, Sendable, CaseIterable { case bilinear, nearest, area }
    public var interpolation: Interpolation = .bilinear

    /// Whether to invert an upload: `auto` compares its background with the training data's.
    public enum Invert: String, Sendable { case auto, yes = "true", no = "false" }

    public init(height: Int, width: Int, channels: Int, rescale: Float = 1.0 / 255.0, background: Background = .dark,
                interpolation: Interpolation = .bilinear) {
        self.interpolation = interpolation
        self.height = height
        self.width = width
        self.channels = channels
        self.rescale = rescale
        self.background = background
    }

    /// The size to tell `ImageDecoder.decode` an upload will be resized to, so that a large JPEG can be decoded
    /// DCT-scaled (to at least twice this size) instead of at full size. Nil for `nearest`: it picks single source
    /// pixels, which a scaled decode has already averaged, so its result would change entirely rather than by
    /// rounding; bilinear (area when shrinking ≥ 2×) and area average, and barely notice.
    public var decodeTarget: (width: Int, height: Int)? {
        interpolation == .nearest ? nil : (width, height)
    }

    /// Decodes an image's bytes (`ImageDecoder.decode`, DCT-scaled when `decodeTarget` allows, straight to luma
    /// for a gray model) and converts it to the model's input (`tensor`).
    ///
    /// - Throws: `ImageDecodingError` only.
    public func tensor(decoding bytes: [UInt8], maxPixels: Int = ImageDecoder.defaultMaxPixels,
                       invert: Invert = .auto) throws -> (values: [Float], inverted: Bool) {
        let image = try ImageDecoder.decode(bytes, maxPixels: maxPixels, target: decodeTarget, grayscale: channels == 1)
        return tensor(pixels: image.pixels, width: image.width, height: image.height, sourceChannels: image.channels,
                      invert: invert)
    }

    /// Converts interleaved 8-bit pixels (`sourceChannels` 1 = gray or 3 = RGB) to the model's input:
    /// colour conversion (ITU-R 601 luma for RGB → gray), resizing (bilinear with half-pixel centres, as
    /// `tf.image.resize`; area averaging when shrinking more than 2×, which bilinear would alias), optional
    /// inversion, then rescaling. Returns `height × width × channels` floats, and whether it inverted.
    public func tensor(pixels: [UInt8], width sw: Int, height sh: Int, sourceChannels sc: Int,
                       invert: Invert = .auto) -> (values: [Float], inverted: Bool) {
        precondition(pixels.count == sw * sh * sc && sw > 0 && sh > 0)
        // 1. Colour mode, in float.
        var src = [Float](repeating: 0, count: sw * sh * channels)
        for i in 0..<(sw * sh) {
            if channels == 1 {
                src[i] = sc == 1 ? Float(pixels[i])
                    : 0.299 * Float(pixels[i * sc]) + 0.587 * Float(pixels[i * sc + 1]) + 0.114 * Float(pixels[i * sc + 2])
            } else {
                for c in 0..<channels { src[i * channels + c] = Float(pixels[i * sc + (sc == 1 ? 0 : min(c, sc - 1))]) }
            }
        }
        // 2. Size.
        var out = Self.resize(src, width: sw, height: sh, channels: channels, toWidth: width, toHeight: height,
                              interpolation: interpolation)
        // 3. Polarity: the mean of the border decides what the background is.
        let inverted: Bool
        switch invert {
        case .yes: inverted = true
        case .no: inverted = false
        case .auto:
            let uploadLight = Self.borderMean(out, width: width, height: height, channels: channels) > 127.5
            inverted = uploadLight != (background == .light)
        }
        for i in 0..<out.count {
            let v = inverted ? 255 - out[i] : out[i]
            out[i] = v * rescale
        }
        return (out, inverted)
    }

    static func borderMean(_ x: [Float], width: Int, height: Int, channels: Int) -> Float {
        var sum: Float = 0, n = 0
        for y in 0..<height {
            for xx in 0..<width where y == 0 || y == height - 1 || xx == 0 || xx == width - 1 {
                for c in 0..<channels { sum += x[(y * width + xx) * channels + c]; n += 1 }
            }
        }
        return n > 0 ? sum / Float(n) : 0
    }

    /// Resizes interleaved float pixels.
    public static func resize(_ src: [Float], width sw: Int, height sh: Int, channels c: Int,
                              toWidth dw: Int, toHeight dh: Int, interpolation: Interpolation = .bilinear) -> [Float] {
        if sw == dw && sh == dh { return src }
        switch interpolation {
        case .nearest: return nearest(src, sw, sh, c, dw, dh)
        case .area: return area(src, sw, sh, c, dw, dh)
        case .bilinear: if sw >= 2 * dw || sh >= 2 * dh { return area(src, sw, sh, c, dw, dh) }
        }
        var out = [Float](repeating: 0, count: dw * dh * c)
        let sx = Float(sw) / Float(dw), sy = Float(sh) / Float(dh)
        for y in 0..<dh {
            let fy = max(0, (Float(y) + 0.5) * sy - 0.5)
            let y0 = min(Int(fy), sh - 1), y1 = min(y0 + 1, sh - 1), wy = fy - Float(y0)
            for x in 0..<dw {
                let fx = max(0, (Float(x) + 0.5) * sx - 0.5)
                let x0 = min(Int(fx), sw - 1), x1 = min(x0 + 1, sw - 1), wx = fx - Float(x0)
                for ch in 0..<c {
                    let a = src[(y0 * sw + x0) * c + ch], b = src[(y0 * sw + x1) * c + ch]
                    let d = src[(y1 * sw + x0) * c + ch], e = src[(y1 * sw + x1) * c + ch]
                    out[(y * dw + x) * c + ch] = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy
                }
            }
        }
        return out
    }

    /// Nearest neighbour with pixel centres (PIL's `NEAREST`, what `flow_from_directory` resizes with).
    static func nearest(_ src: [Float], _ sw: Int, _ sh: Int, _ c: Int, _ dw: Int, _ dh: Int) -> [Float] {
        var out = [Float](repeating: 0, count: dw * dh * c)
        for y in 0..<dh {
            let iy = min(sh - 1, Int((Double(y) + 0.5) * Double(sh) / Double(dh)))
            for x in 0..<dw {
                let ix = min(sw - 1, Int((Double(x) + 0.5) * Double(sw) / Double(dw)))
                for ch in 0..<c { out[(y * dw + x) * c + ch] = src[(iy * sw + ix) * c + ch] }
            }
        }
        return out
    }

    /// Area averaging: each output pixel is the mean of the source rectangle it covers (fractional edges
    /// weighted), like `tf.image.resize(method="area")`.
    static func area(_ src: [Float], _ sw: Int, _ sh: Int, _ c: Int, _ dw: Int, _ dh: Int) -> [Float] {
        var out = [Float](repeating: 0, count: dw * dh * c)
        let sx = Double(sw) / Double(dw), sy = Double(sh) / Double(dh)
        for y in 0..<dh {
            let top = Double(y) * sy, bottom = Double(y + 1) * sy
            for x in 0..<dw {
                let left = Double(x) * sx, right = Double(x + 1) * sx
                var acc = [Double](repeating: 0, count: c)
                var total = 0.0
                for iy in Int(top)..<min(sh, Int(bottom.rounded(.up))) {
                    let wy = min(bottom, Double(iy + 1)) - max(top, Double(iy))
                    guard wy > 0 else { continue }
                    for ix in Int(left)..<min(sw, Int(right.rounded(.up))) {
                        let wx = min(right, Double(ix + 1)) - max(left, Double(ix))
                        guard wx > 0 else { continue }
                        let w = wx * wy
                        for ch in 0..<c { acc[ch] += w * Double(src[(iy * sw + ix) * c + ch]) }
                        total += w
                    }
                }
                for ch in 0..<c { out[(y * dw + x) * c + ch] = Float(acc[ch] / max(total, 1e-12)) }
            }
        }
        return out
    }
}
