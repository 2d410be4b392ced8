import ArgumentParser
import Foundation
import SequentData
import SequentNN

struct ExportImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-images",
        abstract: "Write Fashion-MNIST as a folder per class of PNG or JPEG files (to try folder datasets and uploads).")

    @Argument(help: "Output directory; gets one sub-folder per class.")
    var output: String

    @Option(help: "Class indices to export, e.g. 0,9 (default: all ten).")
    var classes: String?

    @Option(help: "png or jpeg.")
    var format: String = "png"

    @Option(help: "train or test.")
    var split: String = "test"

    @Option(help: "Images per class at most.")
    var limit: Int = 100

    @Option(help: "Side length in pixels (28 keeps the originals; larger sizes are upscaled bilinearly).")
    var size: Int = 28

    @Flag(help: "Dark garment on a light background, like a photo (the dataset itself is light on black).")
    var invert = false

    @Option(help: "Directory with the Fashion-MNIST IDX files.")
    var fashionMnist: String = FashionMNIST.defaultDirectory

    func run() throws {
        guard ["png", "jpeg", "jpg"].contains(format) else { throw ValidationError("--format must be png or jpeg, got \(format)") }
        guard ["train", "test"].contains(split) else { throw ValidationError("--split must be train or test, got \(split)") }
        guard (1...4096).contains(size) else { throw ValidationError("--size must be in 1...4096, got \(size)") }
        let wanted = try classes.map { text in
            try text.split(separator: ",").map { s -> Int in
                guard let i = Int(s.trimmingCharacters(in: .whitespaces)), (0..<10).contains(i) else {
                    throw ValidationError("--classes takes indices 0-9 separated by commas, got \(text)")
                }
                return i
            }
        } ?? Array(0..<10)
        let data = try FashionMNIST.load(directory: fashionMnist)
        let set = split == "train" ? data.train : data.test
        var written = [Int: Int]()
        let root = URL(fileURLWithPath: output)
        for i in 0..<set.count {
            let label = Int(set.y.scalars[i])
            guard wanted.contains(label), written[label, default: 0] < limit else { continue }
            var pixels = set.x.scalars[(i * 784)..<((i + 1) * 784)].map { $0 * 255 }
            if size != 28 { pixels = Preprocessing.resize(Array(pixels), width: 28, height: 28, channels: 1, toWidth: size, toHeight: size) }
            let bytes = pixels.map { UInt8(max(0, min(255, (invert ? 255 - $0 : $0).rounded()))) }
            // Folder names are the class names with '/' made safe ("T-shirt/top" → "T-shirt_top").
            let dir = root.appendingPathComponent(FashionMNIST.classNames[label].replacingOccurrences(of: "/", with: "_"))
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let ext = format == "png" ? "png" : "jpg"
            let encoded = format == "png"
                ? try ImageDecoder.encodePNG(bytes, width: size, height: size, colorType: .gray)
                : try ImageDecoder.encodeJPEG(bytes, width: size, height: size, channels: 1, quality: 92)
            try Data(encoded).write(to: dir.appendingPathComponent(String(format: "%05d.%@", i, ext)))
            written[label, default: 0] += 1
            if wanted.allSatisfy({ written[$0, default: 0] >= limit }) { break }
        }
        print("wrote \(written.values.reduce(0, +)) images in \(wanted.count) class folders under \(output)")
    }
}
