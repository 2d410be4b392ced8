import Foundation
import Testing
@testable import SequentData
@testable import SequentNN
@testable import SequentService

/// The `sequent` executable's commands that work on files: export-images and predict.
@Suite struct CLITests {
    func run(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = EndToEndTests.binary
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func exportImagesThenPredictThem() throws {
        let dir = try TrainingServiceTests.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let export = try run(["export-images", dir.appendingPathComponent("imgs").path, "--classes", "0,9", "--limit", "3",
                              "--format", "jpeg", "--fashion-mnist", JobSpecTests.fashionDirectory])
        #expect(export.status == 0, "\(export.output)")
        let boots = dir.appendingPathComponent("imgs/Ankle boot")
        let files = try FileManager.default.contentsOfDirectory(atPath: boots.path).sorted()
        #expect(files.count == 3)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("imgs/T-shirt_top").path))
        let image = try ImageDecoder.decode([UInt8](Data(contentsOf: boots.appendingPathComponent(files[0]))))
        #expect(image.width == 28 && image.height == 28 && image.channels == 1)

        // A saved model (weights as initialised; the command's plumbing is what is under test).
        let spec = try JobSpec.parse(TrainingServiceTests.spec(epochs: 1))
        let model = try spec.makeModel()
        let modelDir = dir.appendingPathComponent("model")
        try ModelArchive.save(model, to: modelDir, metadata: [
            "class_names": .array(FashionMNIST.classNames.map { .string($0) }),
            "preprocessing": ["rescale": .number(1.0 / 255), "background": "dark"]])
        let predict = try run(["predict", modelDir.path, boots.appendingPathComponent(files[0]).path, "/nonexistent.png", "--top", "2"])
        #expect(predict.status == 0, "\(predict.output)")
        let lines = predict.output.split(separator: "\n")
        #expect(lines.contains { $0.hasSuffix(files[0]) == false && $0.contains(files[0]) && $0.contains("%") })
        #expect(lines.contains { $0.contains("/nonexistent.png: cannot read") })
        let bad = try run(["export-images", dir.path, "--format", "gif"])
        #expect(bad.status != 0 && bad.output.contains("--format must be png or jpeg"))
    }
}
