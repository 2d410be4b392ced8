import Foundation
import SequentNN

/// A folder of images with one sub-folder per class — what Keras's `flow_from_directory` and
/// `image_dataset_from_directory` read: `root/horses/*.jpg`, `root/humans/*.png`.
///
/// Classes are the sub-folder names sorted as strings (so "10" comes before "7", as in Keras), unless an
/// explicit list is given. `ImageFolderData` reads the images: decoded by their bytes (JPEG/PNG; EXIF
/// orientation applied, alpha on white), converted to the colour mode, resized to the target size and rescaled.
/// An image that cannot be read is skipped and reported by path and reason; training goes on with the rest.
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
        public var interpolation: Preprocessing.Interpolation = .bilinear

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
}
