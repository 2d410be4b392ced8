import Foundation
import Testing
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService

/// What is refused at submission because Keras 3 would compute nonsense or never log it: metrics reading the
/// targets with the wrong layout, callbacks monitoring keys the run never logs, fit.validation_split on a
/// folder dataset.
@Suite struct SubmissionChecksTests {
    /// The fashion-dense recipe (validates on the test split) with `edit` applied.
    func spec(_ edit: (inout [String: JSONValue]) -> Void) throws -> JSONValue {
        guard case .object(var o) = try JobSpecTests.recipe("fashion-dense") else { fatalError() }
        edit(&o)
        return .object(o)
    }

    func error(_ value: JSONValue) -> ConfigError? {
        do { _ = try JobSpec.parse(value); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    @Test func metricsMustReadTheLossesLabelLayout() throws {
        func compile(_ loss: JSONValue, _ metrics: [JSONValue], units: Int = 10) throws -> JSONValue {
            try spec {
                $0["compile"] = ["optimizer": "adam", "loss": loss, "metrics": .array(metrics)]
                $0["model"] = ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"],
                                                                     ["type": "Dense", "units": .number(Double(units)), "activation": units == 1 ? "sigmoid" : "softmax"]]]
            }
        }
        // The case: one-hot accuracy on class indices (Keras reports ~0.10).
        let e = try #require(error(try compile("sparse_categorical_crossentropy", ["accuracy", "categorical_accuracy"])))
        #expect(e.field == "compile.metrics[1]")
        #expect(e.message.contains("\"categorical_accuracy\" needs one-hot targets"))
        #expect(e.message.contains("sparse_categorical_crossentropy"))
        // The reverse pairing, and binary accuracy on indices.
        #expect(error(try compile("categorical_crossentropy", ["sparse_categorical_accuracy"]))?.field == "compile.metrics[0]")
        #expect(error(try compile("sparse_categorical_crossentropy", ["binary_accuracy"]))?.field == "compile.metrics[0]")
        // One sigmoid unit: neither categorical accuracy reads a single 0/1 label.
        #expect(error(try compile("binary_crossentropy", ["categorical_accuracy"], units: 1))?.field == "compile.metrics[0]")
        #expect(error(try compile("binary_crossentropy", ["sparse_categorical_accuracy"], units: 1))?.field == "compile.metrics[0]")
        // Matching pairs are accepted.
        #expect(error(try compile("sparse_categorical_crossentropy", ["sparse_categorical_accuracy", "acc"])) == nil)
        #expect(error(try compile("categorical_crossentropy", ["categorical_accuracy", "binary_accuracy"])) == nil)
        #expect(error(try compile("binary_crossentropy", ["binary_accuracy", "accuracy"], units: 1)) == nil)
    }

    @Test func metricCodeNeverReadsPastTheTargets() throws {
        // Sparse targets (one per row) read by each kind: only 2 target floats exist, and NaN or out-of-range
        // labels count as misses instead of trapping in Int(_:).
        let output: [Float] = [0.1, 0.9, 0.2, 0.8, 0.1, 0.1]
        let target: [Float] = [1, .nan]
        for kind in [Metric.Kind.sparseCategoricalAccuracy, .categoricalAccuracy, .binaryAccuracy] {
            let total = output.withUnsafeBufferPointer { o in
                target.withUnsafeBufferPointer { t in
                    Metric(name: "m", kind: kind).evaluate(output: o.baseAddress!, target: t.baseAddress!, n: 2, width: 3,
                                                           targetWidth: 1, logits: false)
                }
            }
            #expect(total.isFinite && total >= 0 && total <= 2)
            if kind == .sparseCategoricalAccuracy { #expect(total == 1) }
        }
        let wild: [Float] = [7, -1]
        let misses = output.withUnsafeBufferPointer { o in
            wild.withUnsafeBufferPointer { t in
                Metric(name: "m", kind: .sparseCategoricalAccuracy).evaluate(output: o.baseAddress!, target: t.baseAddress!,
                                                                             n: 2, width: 3, targetWidth: 1, logits: false)
            }
        }
        #expect(misses == 0)
    }

    @Test func monitorsMustBeKeysTheRunLogs() throws {
        func callbacks(_ cbs: [JSONValue], validation: Bool = true, metrics: [JSONValue] = ["accuracy"]) throws -> JSONValue {
            try spec {
                $0["callbacks"] = .array(cbs)
                $0["compile"] = ["optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": .array(metrics)]
                if !validation { $0["dataset"] = ["name": "fashion_mnist"] }
            }
        }
        // Keras 3 logs "accuracy"/"val_accuracy" for metrics ["accuracy"]; "val_acc" is never logged.
        let e = try #require(error(try callbacks([["type": "terminate_on_nan"], ["type": "early_stopping", "monitor": "val_acc"]])))
        #expect(e.field == "callbacks[1].monitor")
        #expect(e.message == "callbacks[1].monitor must be a key the run logs: \"loss\", \"accuracy\", \"val_loss\", \"val_accuracy\"; got \"val_acc\"")
        // "acc" is logged under the name written, so val_acc is right then.
        #expect(error(try callbacks([["type": "early_stopping", "monitor": "val_acc"]], metrics: ["acc"])) == nil)
        for type in ["early_stopping", "reduce_lr_on_plateau", "model_checkpoint", "threshold_stop"] {
            var cb: [String: JSONValue] = ["type": .string(type), "monitor": "val_precision"]
            if type == "threshold_stop" { cb["above"] = 0.5 }
            #expect(error(try callbacks([.object(cb)]))?.field == "callbacks[0].monitor")
        }
        // Without validation data no val_ key is logged: the default monitor (val_loss) is refused too.
        let noVal = try #require(error(try callbacks([["type": "early_stopping"]], validation: false)))
        #expect(noVal.field == "callbacks[0].monitor")
        #expect(noVal.message.contains("got \"val_loss\" (the default)"))
        #expect(noVal.message.contains("no validation data"))
        #expect(error(try callbacks([["type": "early_stopping", "monitor": "loss"]], validation: false)) == nil)
        #expect(error(try callbacks([["type": "threshold_stop", "monitor": "accuracy", "above": 0.9]], validation: false)) == nil)
        // fit.validation_split gives validation data on Fashion-MNIST.
        #expect(error(try spec {
            $0["dataset"] = ["name": "fashion_mnist"]
            $0["fit"] = ["validation_split": 0.1]
            $0["callbacks"] = [["type": "early_stopping", "monitor": "val_accuracy"]]
        }) == nil)
        // A metric that is not compiled is not logged.
        #expect(error(try callbacks([["type": "threshold_stop", "above": 0.9]], metrics: []))?.field == "callbacks[0].monitor")
    }

    @Test func aRunChecksMonitorsAgainstTheDataItOpened() throws {
        // fit.validation_split validates inside fit: val_ monitors are logged, the run accepts them.
        let split = try JobSpec.parse(try spec {
            $0["dataset"] = ["name": "fashion_mnist", "train_limit": 64, "test_limit": 16]
            $0["fit"] = ["validation_split": 0.25, "epochs": 1]
            $0["callbacks"] = [["type": "early_stopping", "monitor": "val_accuracy"]]
        })
        let sources = DataSources(fashionMNISTDirectory: JobSpecTests.fashionDirectory)
        let run = try TrainingRun(spec: split, sources: sources)
        let outcome = try run.run(callbacks: try split.makeCallbacks(checkpointDirectory: nil))
        #expect(outcome.history.epochs.first?.logs["val_accuracy"] != nil)
    }

    @Test func fitValidationSplitIsRefusedForFolders() throws {
        let value: JSONValue = [
            "dataset": ["directory": "shoes", "target_size": [28, 28], "color_mode": "grayscale"],
            "compile": ["optimizer": "rmsprop", "loss": "binary_crossentropy"],
            "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 1, "activation": "sigmoid"]]],
            "fit": ["validation_split": 0.2]]
        let e = try #require(error(value))
        #expect(e.field == "fit.validation_split")
        #expect(e.message.contains("dataset.validation_split"))
    }

    @Test func submitAnswers400NamingTheField() throws {
        let capture = ErrorResponseTests.LogCapture()
        let (app, dir) = try ErrorResponseTests.makeApp(capture)
        defer { try? FileManager.default.removeItem(at: dir) }
        func submit(_ value: JSONValue) throws -> (Int, JSONValue) {
            let response = app.handle(try HTTPRequest(method: "POST", target: "/v1/jobs", headers: ["Content-Type": "application/json"],
                                                      body: Array(value.serialized().utf8)))
            return (response.status, try JSONValue.parse(Data(response.body))["error"] ?? .null)
        }
        let (status, body) = try submit(try spec { $0["compile"] = ["metrics": ["categorical_accuracy"]] })
        #expect(status == 400)
        #expect(body["field"] == "compile.metrics[0]")
        let (status2, body2) = try submit(try spec { $0["callbacks"] = [["type": "early_stopping", "monitor": "val_acc"]] })
        #expect(status2 == 400)
        #expect(body2["field"] == "callbacks[0].monitor")
        #expect(body2["message"]?.stringValue?.contains("\"val_accuracy\"") == true)

        // A folder dataset validates only when it holds train/ and validation/: submit looks.
        let root = URL(fileURLWithPath: app.service.configuration.datasetsRoot)
        for (name, folders) in [("flat", ["a", "b"]), ("split", ["train/a", "train/b", "validation/a", "validation/b"])] {
            for f in folders {
                try FileManager.default.createDirectory(at: root.appendingPathComponent("\(name)/\(f)"), withIntermediateDirectories: true)
            }
        }
        func folder(_ name: String) -> JSONValue {
            ["dataset": ["directory": .string(name), "target_size": [28, 28], "color_mode": "grayscale"],
             "compile": ["optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["accuracy"]],
             "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 1, "activation": "sigmoid"]]],
             "callbacks": [["type": "early_stopping", "monitor": "val_accuracy"]]]
        }
        let (flat, flatBody) = try submit(folder("flat"))
        #expect(flat == 400)
        #expect(flatBody["field"] == "callbacks[0].monitor")
        let (split, splitBody) = try submit(folder("split"))
        #expect(split == 201, "\(splitBody)")
    }
}
