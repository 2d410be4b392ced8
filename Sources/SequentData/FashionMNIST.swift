import Foundation
import SequentNN

/// Fashion-MNIST (Zalando): 60,000 training and 10,000 test grayscale images of 28×28 clothing items in ten
/// classes, read from the IDX files Debian's `dataset-fashion-mnist` package installs.
public enum FashionMNIST {
    /// Where Debian puts the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// The class names, by label index (as in Keras's tutorial).
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// Loads both splits with pixels scaled to [0, 1] as `[N, 28, 28, 1]`. `trainLimit`/`testLimit` keep only
    /// the first samples (for quick runs).
    public static func load(directory: String = defaultDirectory, trainLimit: Int? = nil,
                            testLimit: Int? = nil) throws -> ClassificationDataset {
        let dir = URL(fileURLWithPath: directory)
        func split(_ prefix: String, limit: Int?) throws -> LabeledData {
            let images = try IDX.read(contentsOf: file(dir, "\(prefix)-images-idx3-ubyte"))
            let labels = try IDX.read(contentsOf: file(dir, "\(prefix)-labels-idx1-ubyte"))
            guard images.shape.count == 3, labels.shape.count == 1, images.shape[0] == labels.shape[0] else {
                throw IDX.Error(description: "\(prefix): images \(images.shape) and labels \(labels.shape) do not match")
            }
            let n = min(images.shape[0], limit ?? Int.max)
            let (h, w) = (images.shape[1], images.shape[2])
            var pixels = [Float](repeating: 0, count: n * h * w)
            for i in 0..<(n * h * w) { pixels[i] = Float(images.bytes[i]) / 255 }
            let y = labels.bytes.prefix(n).map { Float($0) }
            return LabeledData(x: Tensor(shape: [n, h, w, 1], scalars: pixels), y: Tensor(shape: [n], scalars: y))
        }
        return ClassificationDataset(name: "fashion_mnist", train: try split("train", limit: trainLimit),
                                     test: try split("t10k", limit: testLimit), classNames: classNames)
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
