import Foundation
import SequentNN

/// A class-folder dataset read while training runs, the way `flow_from_directory` reads it: images are decoded
/// and resized when a batch needs them (on fit's loader thread, ahead of the trainer), and kept as 8-bit pixels
/// in a cache bounded by `cacheBytes` — 67 KB per 150×150 RGB image, a quarter of their float size. A folder
/// larger than the cache still trains: the images past the budget are decoded again each time they come up.
///
/// Every file is decoded once when the dataset is opened, so unreadable images are known (skipped and reported)
/// before training starts and the sample count is exact; that pass also fills the cache.
public final class ImageFolderData: TrainingData, @unchecked Sendable {
    /// A file that is used, relative to the root, with its class index.
    public struct File: Sendable {
        public var path: String
        public var label: Int
    }

    /// Decoded images shared by a dataset and its subsets (a validation split reads the same cache).
    final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var images: [[UInt8]?]
        var bytes = 0
        let limit: Int
        /// Images decoded on a miss (not cached because the cache was full).
        var misses = 0
        init(count: Int, limit: Int) {
            images = Array(repeating: nil, count: count)
            self.limit = limit
        }
    }

    public let root: URL
    public let classNames: [String]
    /// All usable files; a subset reads some of them through `indices`.
    public let files: [File]
    /// (relative path, reason) of every file that could not be used.
    public let skipped: [(path: String, reason: String)]
    public let options: DirectoryDataset.Options
    /// One-hot width for categorical losses; nil gives class indices.
    public let oneHotClasses: Int?
    let cache: Cache
    let indices: [Int]

    /// Scans `root`, decodes every image once (in parallel), and caches as many as `cacheBytes` allows.
    public init(root: URL, options: DirectoryDataset.Options, oneHotClasses: Int?, cacheBytes: Int) throws {
        let (classNames, listed) = try DirectoryDataset.scan(root, classes: options.classes)
        let pre = Preprocessing(height: options.height, width: options.width, channels: options.channels, rescale: 1,
                                interpolation: options.interpolation)
        let maxPixels = options.maxPixels
        var files: [File] = [], skipped: [(String, String)] = []
        let cache = Cache(count: listed.count, limit: cacheBytes)
        // In chunks, so that what is held at once is the cache plus one chunk of images, not every image of the
        // folder (10,000 300×300 photos are 2.7 GB of pixels, most of which a 1 GiB cache drops).
        let chunk = 256
        for start in stride(from: 0, to: listed.count, by: chunk) {
            let part = listed[start..<min(start + chunk, listed.count)]
            nonisolated(unsafe) var results = [Result<[UInt8], ImageFolderError>?](repeating: nil, count: part.count)
            results.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out
                DispatchQueue.concurrentPerform(iterations: part.count) { i in
                    let url = root.appendingPathComponent(part[start + i].path)
                    out[i] = Result { try Self.decode(url, pre: pre, maxPixels: maxPixels) }
                        .mapError { ($0 as? ImageFolderError) ?? ImageFolderError(reason: "\($0)") }
                }
            }
            for (i, entry) in part.enumerated() {
                switch results[i]! {
                case .failure(let e): skipped.append((entry.path, e.reason))
                case .success(let pixels):
                    if cache.bytes + pixels.count <= cache.limit {
                        cache.images[files.count] = pixels
                        cache.bytes += pixels.count
                    }
                    files.append(File(path: entry.path, label: entry.label))
                }
            }
        }
        guard !files.isEmpty else { throw TrainingError("no image in \(root.lastPathComponent) could be decoded") }
        cache.images.removeLast(cache.images.count - files.count)
        self.root = root
        self.classNames = classNames
        self.files = files
        self.skipped = skipped
        self.options = options
        self.oneHotClasses = oneHotClasses
        self.cache = cache
        indices = Array(0..<files.count)
    }

    private init(parent: ImageFolderData, indices: [Int]) {
        root = parent.root
        classNames = parent.classNames
        files = parent.files
        skipped = parent.skipped
        options = parent.options
        oneHotClasses = parent.oneHotClasses
        cache = parent.cache
        self.indices = indices
    }

    struct ImageFolderError: Error {
        var reason: String
    }

    /// Reads, decodes, converts and resizes one image to 8-bit pixels (rounded, as Keras's PIL path yields).
    static func decode(_ url: URL, pre: Preprocessing, maxPixels: Int) throws -> [UInt8] {
        guard let bytes = FileManager.default.contents(atPath: url.path) else {
            throw ImageFolderError(reason: "cannot be read")
        }
        let values: [Float]
        do {
            values = try pre.tensor(decoding: [UInt8](bytes), maxPixels: maxPixels, invert: .no).values
        } catch {
            throw ImageFolderError(reason: "\(error)")
        }
        return values.map { UInt8(max(0, min(255, $0.rounded()))) }
    }

    public var count: Int { indices.count }
    public var inputWidth: Int { options.height * options.width * options.channels }
    public var targetWidth: Int { oneHotClasses ?? 1 }
    /// Bytes of decoded images held in memory.
    public var cachedBytes: Int { cache.lock.withLock { cache.bytes } }
    /// Images decoded again because they did not fit in the cache.
    public var cacheMisses: Int { cache.lock.withLock { cache.misses } }

    /// Class index of sample `i`.
    public func label(_ i: Int) -> Int { files[indices[i]].label }

    public func gather(_ batch: ArraySlice<Int>, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) throws {
        let width = inputWidth, tw = targetWidth, scale = options.rescale
        let pre = Preprocessing(height: options.height, width: options.width, channels: options.channels, rescale: 1,
                                interpolation: options.interpolation)
        for (r, i) in batch.enumerated() {
            let f = indices[i]
            var pixels = cache.lock.withLock { cache.images[f] }
            if pixels == nil {
                // Decoded fine when the dataset was opened; if the file has gone since, say which.
                do {
                    pixels = try Self.decode(root.appendingPathComponent(files[f].path), pre: pre, maxPixels: options.maxPixels)
                } catch let e as ImageFolderError {
                    throw TrainingError("image \(files[f].path) became unreadable during training: \(e.reason)")
                }
                cache.lock.withLock { cache.misses += 1 }
            }
            pixels!.withUnsafeBufferPointer { p in
                let row = x + r * width
                for k in 0..<width { row[k] = Float(p[k]) * scale }
            }
            let label = files[f].label
            if let k = oneHotClasses {
                (y + r * tw).update(repeating: 0, count: k)
                if label < k { y[r * tw + label] = 1 }
            } else {
                y[r] = Float(label)
            }
        }
    }

    public func subset(_ range: Range<Int>) -> any TrainingData {
        ImageFolderData(parent: self, indices: Array(indices[range]))
    }

    /// Holds out `fraction` of every class the way `ImageDataGenerator(validation_split=…)` with
    /// `subset="validation"` / `"training"` does: within each class, in file-name order, the first
    /// `int(fraction · n)` files are validation and the rest training. No class is left out of either split
    /// and no seed is involved: the same folder always splits the same way, as in Keras.
    public func split(fraction: Double) -> (train: ImageFolderData, validation: ImageFolderData) {
        var byClass: [Int: [Int]] = [:]
        for i in indices { byClass[files[i].label, default: []].append(i) }
        var train: [Int] = [], validation: [Int] = []
        for label in byClass.keys.sorted() {
            // `files` is in class-then-name order (DirectoryDataset.scan), so each list is in name order.
            let members = byClass[label]!
            let held = Int(Double(members.count) * fraction)
            validation += members[..<held]
            train += members[held...]
        }
        return (ImageFolderData(parent: self, indices: train), ImageFolderData(parent: self, indices: validation))
    }
}
