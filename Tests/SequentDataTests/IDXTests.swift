import Foundation
import Testing
@testable import SequentData

@Suite struct IDXTests {
    static let fashionDirectory = ProcessInfo.processInfo.environment["SEQUENT_FASHION_MNIST"] ?? FashionMNIST.defaultDirectory

    @Test func parsesAHandWrittenFile() throws {
        // magic 0x00000803 (unsigned bytes, 3 dims), dims 2×2×3, then 12 bytes.
        var bytes: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]
        bytes += Array(0..<12)
        let a = try IDX.parse(Data(bytes))
        #expect(a.shape == [2, 2, 3])
        #expect(a.bytes == Array(0..<12))
    }

    @Test func rejectsBadFilesWithAReason() {
        func message(_ bytes: [UInt8]) -> String? {
            do { _ = try IDX.parse(Data(bytes)); return nil } catch { return "\(error)" }
        }
        #expect(message([1, 2, 3]) == "not an IDX file (bad magic number)")
        #expect(message([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]) == "IDX element type 0xd is not supported (only unsigned bytes)")
        #expect(message([0, 0, 8, 2, 0, 0, 0, 2]) == "IDX header is truncated")
        #expect(message([0, 0, 8, 1, 0, 0, 0, 4, 1, 2]) == "IDX data has 2 bytes, the header [4] says 4")
    }

    @Test func gunzipsAndDetectsCorruption() throws {
        // A gzip stream produced by the gzip tool for "hello\n".
        let gz: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
                           0xe7, 0x02, 0x00, 0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00]
        #expect(Gzip.isGzip(Data(gz)))
        #expect(String(decoding: try Gzip.decompress(Data(gz)), as: UTF8.self) == "hello\n")
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Data(gz.prefix(14))) }
        var bad = gz
        bad[12] ^= 0xFF
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Data(bad)) }
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Data(gz), limit: 3) }
    }

    @Test func loadsFashionMNIST() throws {
        let data = try FashionMNIST.load(directory: Self.fashionDirectory, trainLimit: 100, testLimit: 50)
        #expect(data.train.x.shape == [100, 28, 28, 1])
        #expect(data.test.x.shape == [50, 28, 28, 1])
        #expect(data.classNames.count == 10 && data.classNames[9] == "Ankle boot")
        #expect(data.train.x.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(data.train.x.scalars.contains { $0 == 1 } || data.train.x.scalars.max()! > 0.9)
        // The first training image of Fashion-MNIST is an ankle boot, the second a T-shirt/top.
        #expect(Array(data.train.y.scalars.prefix(2)) == [9, 0])
        #expect(Set(data.train.y.scalars).count == 10)
    }

    /// Training holds Fashion-MNIST as bytes; what it gathers must be bit for bit what the float tensors hold,
    /// also scaled for a model that starts with Rescaling, and through a subset (validation_split's tail).
    @Test func pixelDataGathersWhatTheFloatTensorsHold() throws {
        let floats = try FashionMNIST.load(directory: Self.fashionDirectory, trainLimit: 300, testLimit: 1).train
        let bytes = try FashionMNIST.loadPixels(directory: Self.fashionDirectory, trainLimit: 300, testLimit: 1).train
        #expect(bytes.count == 300 && bytes.pixels.count == 300 * 784)
        let oneHot = PixelData(pixels: bytes.pixels, inputWidth: 784, targets: bytes.targets(oneHotClasses: 10))
        #expect(oneHot.count == 300 && oneHot.targetWidth == 10)
        let picks = [299, 0, 17, 17, 150]
        var x = [Float](repeating: -1, count: picks.count * 784), y = [Float](repeating: -1, count: picks.count * 10)
        try oneHot.gather(picks[...], x: &x, y: &y)
        for (r, i) in picks.enumerated() {
            #expect(Array(x[(r * 784)..<((r + 1) * 784)]) == Array(floats.x.scalars[(i * 784)..<((i + 1) * 784)]))
            #expect(y[r * 10 + Int(floats.y.scalars[i])] == 1 && y[(r * 10)..<((r + 1) * 10)].reduce(0, +) == 1)
        }
        // Raw pixels for a model that rescales itself: the same float arithmetic as scaling the tensor.
        let raw = PixelData(pixels: bytes.pixels, inputWidth: 784, targets: bytes.targets(oneHotClasses: nil), scale: 255)
        let tail = raw.subset(200..<300)
        #expect(tail.count == 100 && tail.targetWidth == 1)
        var tx = [Float](repeating: -1, count: 2 * 784), ty: [Float] = [-1, -1]
        try tail.gather([0, 99], x: &tx, y: &ty)
        #expect(Array(tx[0..<784]) == floats.x.scalars[(200 * 784)..<(201 * 784)].map { $0 * 255 })
        #expect(Array(tx[784...]) == floats.x.scalars[(299 * 784)..<(300 * 784)].map { $0 * 255 })
        #expect(ty == [floats.y.scalars[200], floats.y.scalars[299]])
        var all = [Float](repeating: 0, count: 300 * 784), labels = [Float](repeating: 0, count: 300)
        try raw.gather(Array(0..<300)[...], x: &all, y: &labels)
        #expect(all.max() == 255)
    }

    @Test func missingDatasetNamesThePackage() {
        do {
            _ = try FashionMNIST.load(directory: "/nonexistent")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("dataset-fashion-mnist"))
        }
    }

    @Test func oneHotTargets() {
        let d = LabeledData(x: .init(zeros: [3, 1]), y: .init(shape: [3], scalars: [2, 0, 1]))
        #expect(d.targets(oneHotClasses: 3).scalars == [0, 0, 1, 1, 0, 0, 0, 1, 0])
        #expect(d.targets(oneHotClasses: nil).scalars == [2, 0, 1])
    }
}
