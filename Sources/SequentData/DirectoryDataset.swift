import Foundation
import SequentNN

/// A folder of images with one sub-folder per class — what Keras's `flow_from_directory` and
/// `image_dataset_from_directory` read: `root/horses/*.jpg`, `root/humans/*.png`.
///
/// Classes are the sub-folder names sorted as strings (so "10" comes before "7", as in Keras), unless an
/// explicit list is given. Images are decoded by their bytes (JPEG/PNG; EXIF orientation applied, alpha on
/// white), converted to the colour mode, resized to the target size and rescaled. An image that cannot be
/// read is skipped and reported by path and reason; training goes on with the rest.
public enum DirectoryDataset {
    /// How labels are produced: `sparse` class indices, `categorical` one-hot rows, `binary` 0/1 (two classes).
    public enum ClassMode: String, Sendable, CaseIterable { case sparse, categorical, binary }

    public struct Options: Sendable {
        public var height: Int
        public var width: Int
        /// 1 = grayscale, 3 = RGB.
        public var channels: Int
        public var rescale: Float
        /// Explicit class order (sub-folder names); nil means sorted sub-folders.
        public var classes: [String]?
        public var maxPixels: Int

        public init(height: Int, width: Int, channels: Int, rescale: Float = 1, classes: [String]? = nil,
                    maxPixels: Int = ImageDecoder.defaultMaxPixels) {
            self.height = height
            self.width = width
            self.channels = channels
            self.rescale = rescale
            self.classes = classes
            self.maxPixels = maxPixels
        }
    }

    /// File extensions read (compared case-insensitively).
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// A loaded folder: images as `[N, H, W, C]`, class indices as `[N]`, and what was skipped.
    public struct Loaded: Sendable {
        public var data: LabeledData
        public var classNames: [String]
        /// (relative path, reason) of every file that could not be used.
        public var skipped: [(path: String, reason: String)]
    }

    /// The class names and image files (relative paths, label) under `root`, in class then name order.
    public static func scan(_ root: URL, classes: [String]? = nil) throws -> (classNames: [String], files: [(path: String, label: Int)]) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw TrainingError("dataset directory \(root.lastPathComponent) does not exist")
        }
        let folders = try fm.contentsOfDirectory(atPath: root.path).filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }.sorted()
        let classNames = classes ?? folders
        if let classes, let missing = classes.first(where: { !folders.contains($0) }) {
            throw TrainingError("class folder \"\(missing)\" is not in \(root.lastPathComponent) (found \(folders.joined(separator: ", ")))")
        }
        guard !classNames.isEmpty else {
            throw TrainingError("\(root.lastPathComponent) has no class sub-folders (expected one folder per class)")
        }
        var files: [(String, Int)] = []
        for (label, name) in classNames.enumerated() {
            let dir = root.appendingPathComponent(name)
            let names = try fm.contentsOfDirectory(atPath: dir.path).filter {
                extensions.contains(($0 as NSString).pathExtension.lowercased()) && !$0.hasPrefix(".")
            }.sorted()
            files += names.map { ("\(name)/\($0)", label) }
        }
        guard !files.isEmpty else { throw TrainingError("\(root.lastPathComponent) has no .jpg, .jpeg or .png images") }
        return (classNames, files)
    }

    /// Decodes and prepares every image under `root`.
    public static func load(_ root: URL, options: Options) throws -> Loaded {
        let (classNames, files) = try scan(root, classes: options.classes)
        let pre = Preprocessing(height: options.height, width: options.width, channels: options.channels,
                                rescale: options.rescale)
        let per = options.height * options.width * options.channels
        var x = [Float]()
        x.reserveCapacity(files.count * per)
        var y = [Float]()
        var skipped: [(String, String)] = []
        for (path, label) in files {
            guard let bytes = FileManager.default.contents(atPath: root.appendingPathComponent(path).path) else {
                skipped.append((path, "cannot be read"))
                continue
            }
            do {
                let image = try ImageDecoder.decode([UInt8](bytes), maxPixels: options.maxPixels)
                x += pre.tensor(pixels: image.pixels, width: image.width, height: image.height,
                                sourceChannels: image.channels, invert: .no).values
                y.append(Float(label))
            } catch {
                skipped.append((path, "\(error)"))
            }
        }
        guard !y.isEmpty else { throw TrainingError("no image in \(root.lastPathComponent) could be decoded") }
        let data = LabeledData(x: Tensor(shape: [y.count, options.height, options.width, options.channels], scalars: x),
                               y: Tensor(shape: [y.count], scalars: y))
        return Loaded(data: data, classNames: classNames, skipped: skipped)
    }

    /// Splits off a validation set: a seeded shuffle, then the last `fraction` (as `image_dataset_from_directory`
    /// does), so the same seed always gives the same split.
    public static func split(_ data: LabeledData, fraction: Double, seed: UInt64) -> (train: LabeledData, validation: LabeledData) {
        var order = Array(0..<data.count)
        var rng = SeededGenerator(seed: seed)
        order.shuffle(using: &rng)
        let cut = data.count - Int((Double(data.count) * fraction).rounded(.down))
        return (LabeledData(x: data.x.gather(Array(order[..<cut])), y: data.y.gather(Array(order[..<cut]))),
                LabeledData(x: data.x.gather(Array(order[cut...])), y: data.y.gather(Array(order[cut...]))))
    }
}
