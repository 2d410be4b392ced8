import Foundation
import Testing
@testable import SequentNN
@testable import SequentService

@Suite struct JobSpecTests {
    static let fashionDirectory = ProcessInfo.processInfo.environment["SEQUENT_FASHION_MNIST"] ?? "/usr/share/datasets/fashion-mnist"

    static func recipe(_ name: String) throws -> JSONValue {
        // Tests run from the package root (swift test) — find config/jobs relative to this file otherwise.
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try JSONValue.parse(Data(contentsOf: here.appendingPathComponent("config/jobs/\(name).json")))
    }

    /// The message of the error `parse` throws for `spec`.
    func error(_ spec: JSONValue) -> String? {
        do { _ = try JobSpec.parse(spec); return nil } catch let e as ConfigError { return e.message } catch { return "\(error)" }
    }

    func dense(_ edit: (inout [String: JSONValue]) -> Void) throws -> JSONValue {
        guard case .object(var o) = try Self.recipe("fashion-dense") else { fatalError() }
        edit(&o)
        return .object(o)
    }

    @Test(arguments: ["fashion-dense", "fashion-callback", "fashion-cnn", "fashion-cnn-small"])
    func seedRecipesAreValid(name: String) throws {
        let spec = try JobSpec.parse(Self.recipe(name))
        #expect(spec.name == name)
        let model = try spec.makeModel()
        #expect(model.outputWidth == 10)
        if name == "fashion-cnn" { #expect(model.parameterCount == 243_786) }
        if name == "fashion-cnn-small" { #expect(model.loss?.fromLogits == true) }
    }

    @Test func invalidFieldsAreNamed() throws {
        #expect(error(try dense { $0["model"] = ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 0]]] })
            == "model.layers[1].units must be > 0, got 0")
        #expect(error(try dense { $0["model"] = ["input_shape": [28, 28, 1], "layers": [["type": "Conv3D", "filters": 3]]] })?
            .hasPrefix("model.layers[0].type must be one of Dense, Conv2D") == true)
        #expect(error(try dense { $0["fit"] = ["epochs": 0] }) == "fit.epochs must be in 1...100000, got 0")
        #expect(error(try dense { $0["fit"] = ["batch_size": "32"] }) == "fit.batch_size must be an integer, got \"32\"")
        #expect(error(try dense { $0["fit"] = ["validation_split": 1.5] }) == "fit.validation_split must be in (0, 1), got 1.5")
        #expect(error(try dense { $0["compile"] = ["optimizer": "lamb"] }) == "compile.optimizer must be one of adagrad, adam, adamw, nadam, rmsprop, sgd, got \"lamb\"")
        #expect(error(try dense { $0["compile"] = ["loss": "hinge"] })?.hasPrefix("compile.loss must be one of") == true)
        #expect(error(try dense { $0["compile"] = ["metrics": ["auc"]] })?.hasPrefix("compile.metrics[0] must be \"accuracy\"") == true)
        #expect(error(try dense { $0["callbacks"] = [["type": "early_stopping", "patience": -1]] })
            == "callbacks[0].patience must be ≥ 0, got -1")
        #expect(error(try dense { $0["callbacks"] = [["type": "model_checkpoint", "filepath": "../../etc/x"]] })
            == "callbacks[0].filepath must be a relative name without '..', got \"../../etc/x\"")
        #expect(error(try dense { $0["dataset"] = ["name": "cifar10"] }) == "dataset.name must be \"fashion_mnist\", got \"cifar10\"")
        #expect(error(try dense { $0["epochs"] = 3 }) == "epochs is not a known field")
        #expect(error(try dense { $0["model"] = ["input_shape": [32, 32, 3], "layers": [["type": "Flatten"], ["type": "Dense", "units": 10]]] })
            == "model.input_shape must be [28, 28, 1] (or 784 values) for fashion_mnist, got [32, 32, 3]")
        #expect(error(try dense { $0.removeValue(forKey: "model") }) == "model is required")
        #expect(error(try dense { $0["compile"] = ["loss": "sparse_categorical_crossentropy"]; $0["model"] = ["input_shape": [784], "layers": [["type": "Dense", "units": 1]]] })?
            .contains("needs at least 2 output units") == true)
    }

    @Test func metricObjectsLogUnderKerasNames() throws {
        let spec = try JobSpec.parse(try dense {
            $0["compile"] = ["loss": "sparse_categorical_crossentropy",
                             "metrics": ["accuracy", ["type": "sparse_top_k_categorical_accuracy", "k": 3],
                                         ["class_name": "SparseTopKCategoricalAccuracy", "config": ["k": 2, "name": "top2"]]]]
            $0["dataset"] = ["name": "fashion_mnist", "validation": "test"]
            $0["callbacks"] = [["type": "early_stopping", "monitor": "val_top2", "patience": 1]]
        })
        #expect(spec.loggedKeys(validation: true) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy", "top2",
                                                      "val_loss", "val_accuracy", "val_sparse_top_k_categorical_accuracy", "val_top2"])
        let model = try spec.makeModel()
        #expect(model.metrics.map(\.k) == [5, 3, 2])
        #expect(try JobSpec.parse(spec.normalized).metrics == spec.metrics)
        #expect(error(try dense { $0["compile"] = ["metrics": [["type": "sparse_top_k_categorical_accuracy", "k": -1]]] })
            == "compile.metrics[0].k must be ≥ 1, got -1")
        #expect(error(try dense { $0["compile"] = ["metrics": [["type": "binary_accuracy", "threshold": "high"]]] })
            == "compile.metrics[0].threshold must be a number, got \"high\"")
    }

    @Test func classWeightIsParsedAndChecked() throws {
        let spec = try JobSpec.parse(try dense { $0["fit"] = ["epochs": 1, "class_weight": ["0": 1.0, "3": 3.5, "9": 0]] })
        #expect(spec.fit.classWeight == [0: 1.0, 3: 3.5, 9: 0])
        #expect(try JobSpec.parse(spec.normalized).fit.classWeight == spec.fit.classWeight)
        #expect(try JobSpec.parse(try dense { $0["fit"] = ["class_weight": ["1": -2]] }).fit.classWeight == [1: -2])  // Keras allows it
        #expect(error(try dense { $0["fit"] = ["class_weight": ["cat": 2]] })
            == "fit.class_weight.cat is not a class index (keys are class indices 0, 1, … as strings), got \"cat\"")
        #expect(error(try dense { $0["fit"] = ["class_weight": ["01": 2]] })?.hasPrefix("fit.class_weight.01 is not a class index") == true)
        #expect(error(try dense { $0["fit"] = ["class_weight": ["1": "x"]] }) == "fit.class_weight.1 must be a number, got \"x\"")
        #expect(error(try dense { $0["fit"] = ["class_weight": [1, 2]] })?.hasPrefix("fit.class_weight must be an object") == true)
        #expect(error(try dense { $0["fit"] = ["class_weight": ["10": 2]] })
            == "fit.class_weight.10 is not a class of the model's 10-unit output (classes 0…9), got \"10\"")
    }

    @Test func validationFreqIsParsedAndChecked() throws {
        let spec = try JobSpec.parse(try dense { $0["fit"] = ["epochs": 6, "validation_freq": 2] })
        #expect(spec.fit.validationFreq == .every(2))
        #expect(try JobSpec.parse(spec.normalized).fit.validationFreq == .every(2))
        let list = try JobSpec.parse(try dense { $0["fit"] = ["epochs": 6, "validation_freq": [1, 6]] })
        #expect(list.fit.validationFreq == .epochs([1, 6]))
        #expect(try JobSpec.parse(list.normalized).fit.validationFreq == .epochs([1, 6]))
        #expect(error(try dense { $0["fit"] = ["validation_freq": 0] }) == "fit.validation_freq must be ≥ 1 (validate every N epochs), got 0")
        #expect(error(try dense { $0["fit"] = ["epochs": 3, "validation_freq": [2, 5]] })?
            .hasPrefix("fit.validation_freq lists 1-based epochs in 1...3 (fit.epochs), got 5 in") == true)
        #expect(error(try dense { $0["fit"] = ["validation_freq": "2"] })?.hasPrefix("fit.validation_freq must be an integer ≥ 1 or a non-empty list") == true)
        #expect(error(try dense {
            $0["fit"] = ["validation_freq": 2]
            $0["callbacks"] = [["type": "model_checkpoint", "filepath": "m-{val_loss:.2f}"]]
        })?.hasPrefix("callbacks[0].filepath names a val_ value") == true)
    }

    @Test func normalizedSpecFillsDefaults() throws {
        let spec = try JobSpec.parse(["model": ["input_shape": [784], "layers": [["type": "Dense", "units": 10, "activation": "softmax"]]]])
        let n = spec.normalized
        #expect(n["fit"]?["epochs"] == 5)
        #expect(n["fit"]?["batch_size"] == 32)
        #expect(n["compile"]?["optimizer"] == "adam")
        #expect(n["dataset"]?["name"] == "fashion_mnist")
        #expect(try JobSpec.parse(n).normalized == n)
    }

    /// A short real run on a Fashion-MNIST subset: learns well above chance in seconds even in a debug build.
    @Test func convergesOnAFashionMNISTSubset() throws {
        let spec = try JobSpec.parse(try dense {
            $0["dataset"] = ["name": "fashion_mnist", "validation": "test", "train_limit": 3000, "test_limit": 1000]
            $0["fit"] = ["epochs": 3, "batch_size": 32, "seed": 7]
        })
        let run = try TrainingRun(spec: spec, sources: DataSources(fashionMNISTDirectory: Self.fashionDirectory))
        let outcome = try run.run(callbacks: [])
        let losses = outcome.history.series["loss"]!
        #expect(losses.count == 3)
        #expect(losses[2] < losses[0])
        #expect(outcome.history.epochs[2].logs["val_accuracy"]! > 0.72)
        #expect(outcome.test["accuracy"]! > 0.72)
        #expect(abs(outcome.test["accuracy"]! - outcome.history.epochs[2].logs["val_accuracy"]!) < 1e-9)
    }

    @Test func categoricalCrossentropyGetsOneHotTargets() throws {
        let spec = try JobSpec.parse(try dense {
            $0["dataset"] = ["name": "fashion_mnist", "train_limit": 256, "test_limit": 64]
            $0["compile"] = ["optimizer": ["type": "sgd", "learning_rate": 0.1, "momentum": 0.9], "loss": "categorical_crossentropy"]
            $0["fit"] = ["epochs": 1, "batch_size": 64]
        })
        let run = try TrainingRun(spec: spec, sources: DataSources(fashionMNISTDirectory: Self.fashionDirectory))
        #expect(run.oneHot == 10)
        #expect(run.model.metrics.first?.kind == .categoricalAccuracy)
        let outcome = try run.run(callbacks: [])
        #expect(outcome.test["loss"]!.isFinite)
    }
}
