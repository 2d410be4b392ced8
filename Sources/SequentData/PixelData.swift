import SequentNN

/// Samples kept as their 8-bit pixels and turned into floats only as batches are gathered.
///
/// Fashion-MNIST's 60,000 training images are 47 MB as bytes and 188 MB as floats; holding the bytes keeps a
/// training process's peak memory at what the model and its batches need. Each byte goes through a table made
/// once from the same arithmetic the float path used (`Float(b) / 255`, then `* scale` when the model wants
/// other units), so a gathered batch is bit-identical to reading the float tensor.
public struct PixelData: TrainingData {
    /// Every sample's bytes, `count × inputWidth` of them, shared by subsets without copying.
    public let pixels: [UInt8]
    /// Targets `[N]` (class indices) or `[N, width]` (one-hot rows), for the whole of `pixels`.
    public let targets: Tensor
    /// The samples of `pixels` this value covers.
    public private(set) var samples: Range<Int>
    public let inputWidth: Int
    public let targetWidth: Int
    /// The float each byte value becomes.
    public let table: [Float]

    /// `pixels` holds `targets.shape[0]` samples of `inputWidth` bytes; a byte `b` becomes `Float(b) / 255`,
    /// times `scale` when `scale` is not 1 (Rescaling in the model asks for raw 0–255 pixels: `scale` 255).
    public init(pixels: [UInt8], inputWidth: Int, targets: Tensor, scale: Float = 1) {
        precondition(inputWidth > 0 && pixels.count == (targets.shape.first ?? 0) * inputWidth,
                     "PixelData: \(pixels.count) bytes are not \(targets.shape.first ?? 0) samples of \(inputWidth)")
        self.pixels = pixels
        self.targets = targets
        self.inputWidth = inputWidth
        targetWidth = targets.itemCount
        samples = 0..<(targets.shape.first ?? 0)
        table = (0..<256).map { b in
            let unit = Float(b) / 255
            return scale == 1 ? unit : unit * scale
        }
    }

    public var count: Int { samples.count }

    public func gather(_ indices: ArraySlice<Int>, x: UnsafeMutablePointer<Float>,
                       y: UnsafeMutablePointer<Float>) throws {
        let (iw, tw, first) = (inputWidth, targetWidth, samples.lowerBound)
        pixels.withUnsafeBufferPointer { px in
            table.withUnsafeBufferPointer { t in
                targets.scalars.withUnsafeBufferPointer { ys in
                    for (r, index) in indices.enumerated() {
                        let src = px.baseAddress! + (first + index) * iw, dst = x + r * iw
                        for i in 0..<iw { dst[i] = t[Int(src[i])] }
                        (y + r * tw).update(from: ys.baseAddress! + (first + index) * tw, count: tw)
                    }
                }
            }
        }
    }

    public func subset(_ range: Range<Int>) -> any TrainingData {
        var part = self
        part.samples = (samples.lowerBound + range.lowerBound)..<(samples.lowerBound + range.upperBound)
        return part
    }
}
