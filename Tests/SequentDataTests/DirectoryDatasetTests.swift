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
        // Gray, RGBA (alpha on white) and palette images of different sizes end up as 8×8 RGB.
        let rgba = try ImageDecoder.encodePNG([255, 0, 0, 0, 255, 0, 0, 255], width: 2, height: 1, colorType: .rgba)
        let palette = try ImageDecoder.encodePNG([0, 1, 1, 0], width: 2, height: 2, colorType: .palette,
                                                 palette: [0, 0, 255, 0, 255, 0])
        let root = try folder(["a/gray.png": try gray(128, 16), "a/rgba.png": rgba, "b/palette.png": palette])
        defer { try? FileManager.default.removeItem(at: root) }
        let loaded = try DirectoryDataset.load(root, options: .init(height: 8, width: 8, channels: 3, rescale: 1))
        #expect(loaded.data.x.shape == [3, 8, 8, 3])
        #expect(loaded.skipped.isEmpty)
        let first = Array(loaded.data.x.scalars[0..<3])
        #expect(first.allSatisfy { abs($0 - 128) < 1 })                      // gray → equal RGB
        let rgbaPixel = Array(loaded.data.x.scalars[(192)..<(195)])           // image 2, top-left
        #expect(rgbaPixel[0] > 250 && rgbaPixel[1] > 250 && rgbaPixel[2] > 250)   // alpha 0 → white
        let grayLoad = try DirectoryDataset.load(root, options: .init(height: 4, width: 4, channels: 1, rescale: 1.0 / 255))
        #expect(grayLoad.data.x.shape == [3, 4, 4, 1])
        #expect(grayLoad.data.x.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func unreadableImagesAreSkippedAndNamed() throws {
        let good = try gray(50)
        let root = try folder(["cats/ok.png": good, "cats/broken.jpg": Array(good.prefix(10)), "dogs/ok.png": good,
                               "dogs/gif.png": Array("GIF89a........".utf8)])
        defer { try? FileManager.default.removeItem(at: root) }
        let loaded = try DirectoryDataset.load(root, options: .init(height: 4, width: 4, channels: 1))
        #expect(loaded.data.count == 2)
        #expect(loaded.data.y.scalars == [0, 1])
        #expect(loaded.skipped.map(\.path).sorted() == ["cats/broken.jpg", "dogs/gif.png"])
        #expect(loaded.skipped.first { $0.path == "dogs/gif.png" }?.reason.contains("gif") == true)
    }

    @Test func validationSplitIsDeterministicUnderASeed() throws {
        let data = LabeledData(x: Tensor(shape: [10, 1], scalars: (0..<10).map(Float.init)),
                               y: Tensor(shape: [10], scalars: (0..<10).map { Float($0 % 2) }))
        let a = DirectoryDataset.split(data, fraction: 0.3, seed: 7)
        let b = DirectoryDataset.split(data, fraction: 0.3, seed: 7)
        let c = DirectoryDataset.split(data, fraction: 0.3, seed: 8)
        #expect(a.train.count == 7 && a.validation.count == 3)
        #expect(a.validation.x.scalars == b.validation.x.scalars)
        #expect(a.validation.x.scalars != c.validation.x.scalars || a.train.x.scalars != c.train.x.scalars)
        #expect(Set(a.train.x.scalars + a.validation.x.scalars) == Set((0..<10).map(Float.init)))
    }

    @Test func emptyOrMissingFoldersSayWhatIsWrong() throws {
        let root = try folder(["only/readme.txt": Array("x".utf8)])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: TrainingError.self) { try DirectoryDataset.scan(root) }
        #expect(throws: TrainingError.self) { try DirectoryDataset.scan(root.appendingPathComponent("nope")) }
    }
}
