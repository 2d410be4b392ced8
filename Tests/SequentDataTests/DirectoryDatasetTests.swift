import Foundation
import Testing
@testable import SequentData
@testable import SequentNN

@Suite struct DirectoryDatasetTests {
    /// Writes `files` (relative path → bytes) under a new temporary folder.
    func folder(_ files: [String: [UInt8]]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-dir-\(UUID().uuidString)")
        for (path, bytes) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        return root
    }

    /// Every sample of `data`, gathered in order.
    func all(_ data: any TrainingData) throws -> (x: [Float], y: [Float]) {
        var x = [Float](repeating: 0, count: data.count * data.inputWidth)
        var y = [Float](repeating: 0, count: data.count * data.targetWidth)
        try data.gather(Array(0..<data.count)[...], x: &x, y: &y)
        return (x, y)
    }

    func open(_ root: URL, _ options: DirectoryDataset.Options, oneHot: Int? = nil, cache: Int = 1 << 20) throws -> ImageFolderData {
        try ImageFolderData(root: root, options: options, oneHotClasses: oneHot, cacheBytes: cache)
    }

    func gray(_ v: UInt8, _ size: Int = 4) throws -> [UInt8] {
        try ImageDecoder.encodePNG([UInt8](repeating: v, count: size * size), width: size, height: size, colorType: .gray)
    }

    @Test func classesSortAsStringsLikeKeras() throws {
        let root = try folder(["7/a.png": try gray(10), "10/b.PNG": try gray(20), "2/c.jpeg": try ImageDecoder.encodeJPEG(
            [UInt8](repeating: 30, count: 16), width: 4, height: 4, channels: 1, quality: 95), "2/notes.txt": Array("x".utf8)])
        defer { try? FileManager.default.removeItem(at: root) }
        let (classes, files) = try DirectoryDataset.scan(root)
        #expect(classes == ["10", "2", "7"])
        #expect(files.map(\.path) == ["10/b.PNG", "2/c.jpeg", "7/a.png"])
        #expect(files.map(\.label) == [0, 1, 2])
        #expect(try DirectoryDataset.scan(root, classes: ["7", "10"]).files.map(\.label) == [0, 1])
        #expect(throws: TrainingError.self) { try DirectoryDataset.scan(root, classes: ["8"]) }
    }

    @Test func colourModesAndSizesAreUnified() throws {
        // Gray, RGBA (alpha on white), palette and CMYK images of different sizes end up as 8×8 RGB.
        let rgba = try ImageDecoder.encodePNG([255, 0, 0, 0, 255, 0, 0, 255], width: 2, height: 1, colorType: .rgba)
        let palette = try ImageDecoder.encodePNG([0, 1, 1, 0], width: 2, height: 2, colorType: .palette,
                                                 palette: [0, 0, 255, 0, 255, 0])
        // Adobe CMYK JPEG (255 = no ink): cyan ink only on a 8×8 block → (0, 255, 255) after conversion.
        let cmyk = try ImageDecoder.encodeJPEG([UInt8]((0..<64).flatMap { _ in [0, 255, 255, 255] as [UInt8] }), width: 8,
                                               height: 8, channels: 4, quality: 95)
        let root = try folder(["a/gray.png": try gray(128, 16), "a/rgba.png": rgba, "b/palette.png": palette,
                               "b/z-cmyk.jpg": cmyk])
        defer { try? FileManager.default.removeItem(at: root) }
        let loaded = try open(root, .init(height: 8, width: 8, channels: 3, rescale: 1))
        #expect(loaded.count == 4 && loaded.inputWidth == 8 * 8 * 3)
        #expect(loaded.skipped.isEmpty)
        let x = try all(loaded).x
        #expect(x[0..<3].allSatisfy { abs($0 - 128) < 1 })                    // gray → equal RGB
        let rgbaPixel = Array(x[192..<195])                                    // image 2, top-left
        #expect(rgbaPixel[0] > 250 && rgbaPixel[1] > 250 && rgbaPixel[2] > 250)   // alpha 0 → white
        let cmykPixel = Array(x[(3 * 192 + 27 * 3)..<(3 * 192 + 27 * 3 + 3)])  // image 4, middle
        #expect(cmykPixel[0] < 8 && cmykPixel[1] > 247 && cmykPixel[2] > 247)   // cyan
        let grayLoad = try open(root, .init(height: 4, width: 4, channels: 1, rescale: 1.0 / 255))
        #expect(grayLoad.inputWidth == 16)
        #expect(try all(grayLoad).x.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func unreadableImagesAreSkippedAndNamed() throws {
        let good = try gray(50)
        let root = try folder(["cats/ok.png": good, "cats/broken.jpg": Array(good.prefix(10)), "dogs/ok.png": good,
                               "dogs/gif.png": Array("GIF89a........".utf8)])
        defer { try? FileManager.default.removeItem(at: root) }
        let loaded = try open(root, .init(height: 4, width: 4, channels: 1))
        #expect(loaded.count == 2)
        #expect(try all(loaded).y == [0, 1])
        #expect(try all(open(root, .init(height: 4, width: 4, channels: 1), oneHot: 2)).y == [1, 0, 0, 1])
        #expect(loaded.skipped.map(\.path).sorted() == ["cats/broken.jpg", "dogs/gif.png"])
        #expect(loaded.skipped.first { $0.path == "dogs/gif.png" }?.reason.contains("gif") == true)
    }

    /// Ten images whose single pixel value tells them apart (image i is 20·i).
    func numbered() throws -> URL {
        var files: [String: [UInt8]] = [:]
        for i in 0..<10 { files["\(i % 2 == 0 ? "even" : "odd")/\(i).png"] = try gray(UInt8(20 * i), 2) }
        return try folder(files)
    }

    @Test func validationSplitTakesTheFirstFilesOfEveryClassLikeImageDataGenerator() throws {
        // ImageDataGenerator(validation_split=f) with subset="validation" takes, per class and in file-name
        // order, the first int(f · n) files; "training" the rest. even/ holds 0,2,4,6,8 and odd/ 1,3,5,7,9.
        let root = try numbered()
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try open(root, .init(height: 2, width: 2, channels: 1, rescale: 1))
        let a = data.split(fraction: 0.4)
        #expect(try all(a.validation).x == [0, 40, 20, 60].flatMap { Array(repeating: Float($0), count: 4) })
        #expect(try all(a.validation).y == [0, 0, 1, 1])
        #expect(try all(a.train).x == [80, 120, 160, 100, 140, 180].flatMap { Array(repeating: Float($0), count: 4) })
        // int(0.3 · 5) = 1 per class: two validation images, one of each class (not the tail of a shuffle).
        let b = data.split(fraction: 0.3)
        #expect(try all(b.validation).y == [0, 1])
        #expect(b.train.count == 8)
        #expect(try all(data.split(fraction: 0.3).validation).x == all(b.validation).x)   // no seed: always the same
    }

    @Test func aSmallClassKeepsItsShareInBothSplits() throws {
        // 8 cats and 2 dogs: a tail of 20 % of a shuffled list may hold no dog; per class, each split has one.
        var files: [String: [UInt8]] = [:]
        for i in 0..<8 { files["cats/\(i).png"] = try gray(UInt8(i), 2) }
        for i in 0..<2 { files["dogs/\(i).png"] = try gray(UInt8(100 + i), 2) }
        let root = try folder(files)
        defer { try? FileManager.default.removeItem(at: root) }
        let split = try open(root, .init(height: 2, width: 2, channels: 1, rescale: 1)).split(fraction: 0.5)
        #expect(try all(split.validation).y == [0, 0, 0, 0, 1])
        #expect(try all(split.train).y == [0, 0, 0, 0, 1])
    }

    @Test func cacheIsBoundedAndMissesDecodeAgain() throws {
        // 2×2 gray images are 4 bytes each: a 10-byte cache holds two, the other eight are decoded per batch —
        // with exactly the same values.
        let root = try numbered()
        defer { try? FileManager.default.removeItem(at: root) }
        let options = DirectoryDataset.Options(height: 2, width: 2, channels: 1, rescale: 1.0 / 255)
        let full = try open(root, options), small = try open(root, options, cache: 10)
        #expect(full.cachedBytes == 40 && full.cacheMisses == 0)
        #expect(small.cachedBytes == 8)
        let order = [9, 0, 4, 4, 7][...]
        var x1 = [Float](repeating: 0, count: 20), y1 = [Float](repeating: 0, count: 5)
        var x2 = x1, y2 = y1
        try full.gather(order, x: &x1, y: &y1)
        try small.gather(order, x: &x2, y: &y2)
        #expect(x1 == x2 && y1 == y2)
        #expect(small.cacheMisses == 4)     // samples 0 and 1 are cached; 9, 4, 4 and 7 are decoded
        #expect(full.cacheMisses == 0)
    }

    /// Opening decodes in chunks of 256 files: across chunk boundaries the samples, their order, the skipped
    /// files and the cache budget come out as for one chunk.
    @Test func foldersLargerThanADecodeChunkOpenInOrder() throws {
        var files: [String: [UInt8]] = [:]
        for i in 0..<600 { files[String(format: "%@/%03d.png", i % 2 == 0 ? "a" : "b", i)] = try gray(UInt8(i % 250), 1) }
        for i in [1, 299, 555] { files[String(format: "%@/%03d.png", i % 2 == 0 ? "a" : "b", i)] = [0x89, 0x50] }
        let root = try folder(files)
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try open(root, .init(height: 1, width: 1, channels: 1, rescale: 1), cache: 500)
        #expect(data.count == 597)
        #expect(data.skipped.map(\.path).sorted() == ["b/001.png", "b/299.png", "b/555.png"])
        #expect(data.cachedBytes == 500)
        // Class "a" (even numbers) then "b" (odd ones, less the three broken), each in name order.
        let expected = (0..<600).filter { $0 % 2 == 0 } + (0..<600).filter { $0 % 2 == 1 && ![1, 299, 555].contains($0) }
        let (x, y) = try all(data)
        #expect(x == expected.map { Float($0 % 250) })
        #expect(y == expected.map { Float($0 % 2) })
    }

    @Test func aFileRemovedDuringTrainingIsNamed() throws {
        let root = try numbered()
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try open(root, .init(height: 2, width: 2, channels: 1), cache: 0)
        try FileManager.default.removeItem(at: root.appendingPathComponent("odd/3.png"))
        var x = [Float](repeating: 0, count: 40), y = [Float](repeating: 0, count: 10)
        let error = #expect(throws: TrainingError.self) { try data.gather(Array(0..<10)[...], x: &x, y: &y) }
        #expect(error?.description.contains("odd/3.png") == true)
    }

    @Test func emptyOrMissingFoldersSayWhatIsWrong() throws {
        let root = try folder(["only/readme.txt": Array("x".utf8)])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: TrainingError.self) { try DirectoryDataset.scan(root) }
        #expect(throws: TrainingError.self) { try DirectoryDataset.scan(root.appendingPathComponent("nope")) }
    }
}
