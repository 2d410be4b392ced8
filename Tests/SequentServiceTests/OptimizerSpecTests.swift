import Foundation
import Testing
@testable import SequentNN
@testable import SequentService

/// compile.optimizer in a job spec: the new optimizers, the base-optimizer options and schedules, and the
/// 400s naming the field and value.
@Suite struct OptimizerSpecTests {
    let model: JSONValue = ["input_shape": [784], "layers": [["type": "Dense", "units": 3, "activation": "softmax"]]]

    func spec(_ optimizer: JSONValue, callbacks: [JSONValue] = []) -> JSONValue {
        ["model": model, "compile": ["optimizer": optimizer], "callbacks": .array(callbacks)]
    }

    func error(_ s: JSONValue) -> ConfigError? {
        do { _ = try JobSpec.parse(s); return nil } catch { return error as? ConfigError }
    }

    @Test func acceptsTheNewOptimizersAndOptions() throws {
        for o: JSONValue in ["adamw", "nadam", "adagrad", ["type": "adam", "amsgrad": true, "clipnorm": 1.0],
                             ["type": "sgd", "global_clipnorm": 5, "weight_decay": 1e-4],
                             ["type": "rmsprop", "clipvalue": 0.5],
                             ["type": "adam", "learning_rate": ["module": "keras.optimizers.schedules",
                              "class_name": "CosineDecay", "config": ["initial_learning_rate": 0.0, "decay_steps": 100,
                              "alpha": 0.0, "warmup_target": 0.01, "warmup_steps": 10, "name": "CosineDecay"],
                              "registered_name": .null]]] {
            let m = try JobSpec.parse(spec(o)).makeModel()
            #expect(m.optimizer != nil)
        }
    }

    @Test func refusalsNameFieldAndValue() {
        let both = error(spec(["type": "adam", "clipnorm": 1.0, "global_clipnorm": 2.0]))
        #expect(both?.field == "compile.optimizer.global_clipnorm")
        #expect(both?.detail.contains("clipnorm=1.0") == true && both?.detail.contains("global_clipnorm=2.0") == true)
        let negative = error(spec(["type": "adamw", "weight_decay": -0.1]))
        #expect(negative?.field == "compile.optimizer.weight_decay" && negative?.detail.contains("-0.1") == true)
        let badSchedule = error(spec(["type": "sgd", "learning_rate": ["class_name": "ExponentialDecay",
                                      "config": ["initial_learning_rate": 0.1, "decay_steps": 10]]]))
        #expect(badSchedule?.field == "compile.optimizer.learning_rate.config.decay_rate")
        let plateau = error(spec(["type": "sgd", "learning_rate": ["class_name": "InverseTimeDecay",
                                  "config": ["initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 1]]],
                                 callbacks: [["type": "reduce_lr_on_plateau", "monitor": "loss"]]))
        #expect(plateau?.field == "callbacks[0].type")
    }
}
