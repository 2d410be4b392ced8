import ArgumentParser
import Foundation
import SequentData
import SequentNN
import SequentService
import SequentStore

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict", abstract: "Classify JPEG/PNG images with a trained model and print the top classes.")

    @Argument(help: "A saved model directory, or a model id / job name registered in --data-dir.")
    var model: String

    @Argument(help: "Images to classify.")
    var images: [String]

    @Option(help: "Data directory of `sequent serve` (to find models by id or name).")
    var dataDir: String = "./data"

    @Option(help: "How many classes to print per image.")
    var top: Int = 3

    @Option(help: "auto (default), true or false: invert images whose background differs from the training data's.")
    var invert: String = "auto"

    func run() throws {
        guard let invertMode = Preprocessing.Invert(rawValue: invert) else { throw ValidationError("--invert must be auto, true or false") }
        let record: ModelRecord
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue {
            record = ModelRecord(id: URL(fileURLWithPath: model).lastPathComponent, jobID: "", name: model, path: model,
                                 sha256: "", metadataJSON: "{}")
        } else {
            let store = try SQLiteStore(path: dataDir + "/sequent.sqlite")
            guard let r = try store.model(id: model) ?? store.latestModel(named: model) else {
                throw ValidationError("no model directory or registered model called \(model) (looked in \(dataDir))")
            }
            record = r
        }
        let service = PredictService(store: InMemoryStore(), artifacts: InMemoryArtifactStore())
        let loaded = try service.cache.model(for: record)
        for path in images {
            guard let bytes = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                continue
            }
            do {
                let input = try service.prepare(.image(name: path, bytes: [UInt8](bytes)), for: loaded, invert: invertMode)
                let output = service.outputs([input], model: loaded)[0]
                let p = PredictService.prediction(output, name: path, model: loaded, topK: top)
                let tops = (p["top"]?.arrayValue ?? []).map {
                    String(format: "%@ %.1f%%", $0["label"]?.stringValue ?? "?", 100 * ($0["probability"]?.doubleValue ?? 0))
                }
                print("\(path): " + tops.joined(separator: ", "))
            } catch let e as ServiceError {
                print("\(path): \(e.message)")
            }
        }
    }
}
