import Foundation
import Testing
import SequentData
@testable import SequentNN
@testable import SequentService

/// A Keras model that begins with `Rescaling(1./255)` expects raw 0–255 pixels, as Keras users feed it; the
/// service must not scale them a second time, and the job's stored spec says which scaling applied.
@Suite struct InputScalingTests {
    static func spec(rescaling: Bool, rescale: Double? = nil) -> JSONValue {
        var layers: [JSONValue] = [["type": "Flatten"], ["type": "Dense", "units": 10, "activation": "softmax"]]
        if rescaling { layers.insert(["type": "Rescaling", "scale": .number(1.0 / 255)], at: 0) }
        var dataset: [String: JSONValue] = ["name": "fashion_mnist", "train_limit": 64, "test_limit": 32]
        if let rescale { dataset["rescale"] = .number(rescale) }
        return ["name": "scaling", "dataset": .object(dataset),
                "model": ["input_shape": [28, 28, 1], "layers": .array(layers)], "fit": ["epochs": 1]]
    }

    @Test func aLeadingRescalingLayerMeansRawPixels() throws {
        let raw = try JobSpec.parse(Self.spec(rescaling: true))
        #expect(raw.dataset.rescale == 1)
        #expect(raw.normalized["dataset"]?["rescale"]?.doubleValue == 1)
        // The stored spec reads back to the same scaling.
        #expect(try JobSpec.parse(JSONValue.parse(Data(raw.normalized.serialized().utf8))).dataset.rescale == 1)
        let plain = try JobSpec.parse(Self.spec(rescaling: false))
        #expect(abs(plain.dataset.rescale - 1.0 / 255) < 1e-12)
        // A rescale the spec sets itself is kept, Rescaling or not.
        #expect(try JobSpec.parse(Self.spec(rescaling: true, rescale: 0.5)).dataset.rescale == 0.5)
        #expect(throws: ConfigError.self) { try JobSpec.parse(Self.spec(rescaling: false, rescale: 0)) }
        // Augmentation before it (identity at inference) does not hide it, as the tutorials write the model.
        var augmented = Self.spec(rescaling: true)
        if case .object(var top) = augmented, case .object(var model) = top["model"]!, case .array(var layers) = model["layers"]! {
            layers.insert(["type": "RandomFlip", "mode": "horizontal"], at: 0)
            model["layers"] = .array(layers)
            top["model"] = .object(model)
            augmented = .object(top)
        }
        #expect(try JobSpec.parse(augmented).dataset.rescale == 1)
    }

    @Test func theModelSeesRawPixelsAndPredictIsToldSo() throws {
        try #require(FileManager.default.fileExists(atPath: JobSpecTests.fashionDirectory))
        let sources = DataSources(fashionMNISTDirectory: JobSpecTests.fashionDirectory)
        let raw = try TrainingRun(spec: JobSpec.parse(Self.spec(rescaling: true)), sources: sources)
        let plain = try TrainingRun(spec: JobSpec.parse(Self.spec(rescaling: false)), sources: sources)
        func largest(_ run: TrainingRun) throws -> Float {
            let d = run.trainData
            var x = [Float](repeating: 0, count: d.count * d.inputWidth), y = [Float](repeating: 0, count: d.count * d.targetWidth)
            try d.gather(Array(0..<d.count)[...], x: &x, y: &y)
            return x.max() ?? 0
        }
        #expect(try largest(raw) == 255)
        #expect(try largest(plain) == 1)
        #expect(raw.modelMetadata["preprocessing"]?["rescale"]?.doubleValue == 1)
        #expect(abs((plain.modelMetadata["preprocessing"]?["rescale"]?.doubleValue ?? 0) - 1.0 / 255) < 1e-12)
    }
}
