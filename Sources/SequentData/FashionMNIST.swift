import Foundation
import SequentNN

/// Fashion-MNIST (Zalando): 60,000 training and 10,000 test grayscale images of 28×28 clothing items in ten
/// classes, read from the IDX files Debian's `dataset-fashion-mnist` package installs.
public enum FashionMNIST {
    /// Where Debian puts the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// The dataset's name in job specs and records.
    public static let name = "fashion_mnist"

    /// The class names, by label index (as in Keras's tutorial).
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// One split as the files hold it: `count` images of `height × width` bytes, and their labels.
    public struct Pixels: Sendable {
        public var pixels: [UInt8]
        public var labels: [UInt8]
        public var height: Int
        public var width: Int
        public var count: Int { labels.count }

        /// Class indices `[N]`, or one-hot rows `[N, k]` when `oneHotClasses` is `k`.
        public func targets(oneHotClasses: Int?) -> Tensor {
            LabeledData.targets(labels: labels.map { Float($0) }, oneHotClasses: oneHotClasses)
        }

        /// Pixels scaled to [0, 1] as `[N, height, width, 1]`.
        public var labeled: LabeledData {
            LabeledData(x: Tensor(shape: [count, height, width, 1], scalars: pixels.map { Float($0) / 255 }),
                        y: Tensor(shape: [count], scalars: labels.map { Float($0) }))
        }
    }

    /// Loads both splits as bytes, which is how training holds them (`PixelData`). `trainLimit`/`testLimit`
    /// keep only the first samples (for quick runs).
    public static func loadPixels(directory: String = defaultDirectory, trainLimit: Int? = nil,
                                  testLimit: Int? = nil) throws -> (train: Pixels, test: Pixels) {
        let dir = URL(fileURLWithPath: directory)
        func split(_ prefix: String, limit: Int?) throws -> Pixels {
            var images = try IDX.read(contentsOf: file(dir, "\(prefix)-images-idx3-ubyte"))
            var labels = try IDX.read(contentsOf: file(dir, "\(prefix)-labels-idx1-ubyte"))
            guard images.shape.count == 3, labels.shape.count == 1, images.shape[0] == labels.shape[0] else {
                throw IDX.Error(description: "\(prefix): images \(images.shape) and labels \(labels.shape) do not match")
            }
            let n = min(images.shape[0], limit ?? Int.max)
            let (h, w) = (images.shape[1], images.shape[2])
            if n < images.shape[0] {
                images.bytes.removeSubrange((n * h * w)...)
                labels.bytes.removeSubrange(n...)
            }
            return Pixels(pixels: images.bytes, labels: labels.bytes, height: h, width: w)
        }
        return (try split("train", limit: trainLimit), try split("t10k", limit: testLimit))
    }

    /// Loads both splits with pixels scaled to [0, 1] as `[N, 28, 28, 1]`. `trainLimit`/`testLimit` keep only
    /// the first samples (for quick runs).
    public static func load(directory: String = defaultDirectory, trainLimit: Int? = nil,
                            testLimit: Int? = nil) throws -> ClassificationDataset {
        let splits = try loadPixels(directory: directory, trainLimit: trainLimit, testLimit: testLimit)
        return ClassificationDataset(name: name, train: splits.train.labeled, test: splits.test.labeled,
                                     classNames: classNames)
    }

    /// `name.gz` when present, else `name` (some installs ship the files unpacked).
    static func file(_ dir: URL, _ name: String) throws -> URL {
        for candidate in [name + ".gz", name] {
            let url = dir.appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw IDX.Error(description: "Fashion-MNIST file \(name).gz not found in \(dir.path) (install the Debian package dataset-fashion-mnist, or set the dataset path)")
    }
}
