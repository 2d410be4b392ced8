import Foundation
import Testing
@testable import SequentNN
@testable import SequentService

/// A job spec carrying a Keras model: freezing by name, and refused Keras keys answered with a 400 naming them.
@Suite struct KerasModelSpecTests {
    func spec(model: JSONValue) -> JSONValue {
        ["name": "keras-job", "dataset": ["name": "fashion_mnist"], "model": model,
         "compile": ["optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]],
         "fit": ["epochs": 1, "batch_size": 32]]
    }

    func kerasModel(dense extra: [String: JSONValue] = [:], top: [String: JSONValue] = [:]) -> JSONValue {
        var dense: [String: JSONValue] = ["name": "dense", "units": 128, "activation": "relu", "kernel_constraint": .null, "groups": 1]
        dense.merge(extra) { _, b in b }
        var o: [String: JSONValue] = [
            "module": "keras", "class_name": "Sequential",
            "config": ["name": "sequential", "layers": [
                ["class_name": "InputLayer", "config": ["batch_shape": [.null, 28, 28, 1]]],
                ["class_name": "Flatten", "config": [:]],
                ["class_name": "Dense", "config": .object(dense)],
                ["class_name": "Dense", "config": ["name": "dense_1", "units": 10, "activation": "softmax"]],
            ]],
        ]
        o.merge(top) { _, b in b }
        return .object(o)
    }

    @Test func freezeByNameInTheModel() throws {
        let spec = try JobSpec.parse(spec(model: kerasModel(top: ["freeze": ["dense"]])))
        let model = try spec.makeModel()
        #expect(model.trainableParameterCount == 1_290)
        #expect(model.summaryRows.map { $0["trainable"] } == [true, false, true])
    }

    @Test func refusedKeysAre400sNamingKeyAndValue() {
        func failure(_ model: JSONValue) -> ServiceError? {
            do { _ = try JobSpec.parse(spec(model: model)); return nil } catch { return ServiceError(from: error) }
        }
        let unknown = failure(kerasModel(top: ["freeze": ["dense_9"]]))
        #expect(unknown?.status == 400 && unknown?.field == "model.freeze[0]")
        #expect(unknown?.message.contains("\"dense_9\"") == true)
        let regularizer = failure(kerasModel(dense: ["kernel_regularizer": ["class_name": "OrthogonalRegularizer", "config": [:]]]))
        #expect(regularizer?.status == 400 && regularizer?.field == "model.config.layers[2].config.kernel_regularizer.class_name")
        #expect(regularizer?.message.contains("OrthogonalRegularizer") == true)
        let constraint = failure(kerasModel(dense: ["kernel_constraint": ["class_name": "NonNeg", "config": [:]]]))
        #expect(constraint?.status == 400 && constraint?.field == "model.config.layers[2].config.kernel_constraint")
        #expect(constraint?.message.contains("NonNeg") == true)
    }
}
