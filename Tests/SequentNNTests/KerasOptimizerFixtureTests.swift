import Foundation
import Testing
@testable import SequentNN

/// Three `apply_gradients` steps of Keras 3 itself for every optimizer and base option Sequent implements
/// (Tests/Fixtures/keras-optimizers.json, from scripts/keras-fixtures.py). Each optimizer is built from the
/// `keras.optimizers.serialize` form the fixture saved, through `makeOptimizer` as a job spec's
/// `compile.optimizer` is, and stepped over the same two variables the way `Sequential.trainStep` does:
/// norm clipping over the whole gradient, then `step` over the parameter block.
///
/// Tolerance: 1e-6 relative to max(1, |w|). Both sides compute in float32; Keras's JAX ops and Sequent's
/// loops round in a different order, which after three steps of O(0.1) updates on O(1) weights leaves a few
/// ulps (≈ 2e-7), so 1e-6 passes rounding and fails any wrong formula, whose error is ≥ 1e-4 here.
@Suite struct KerasOptimizerFixtureTests {
    static let fixture = KerasFixture.load("keras-optimizers.json")

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect((Self.fixture["cases"]?.arrayValue?.count ?? 0) == 30)
    }

    @Test func everyOptimizerMatchesKerasOverThreeSteps() throws {
        let initial = (Self.fixture["initial"]?.arrayValue ?? []).map(KerasFixture.floats)
        let gradients = (Self.fixture["gradients"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).map(KerasFixture.floats) }
        var variables: [Range<Int>] = []
        for v in initial { variables.append((variables.last?.upperBound ?? 0)..<((variables.last?.upperBound ?? 0) + v.count)) }
        let count = variables.last?.upperBound ?? 0
        #expect(count == 10 && gradients.count == 3)
        for c in Self.fixture["cases"]?.arrayValue ?? [] {
            let name = c["name"]?.stringValue ?? "?"
            let optimizer = try makeOptimizer(c["optimizer"] ?? .null, field: "compile.optimizer")
            optimizer.prepare(parameterCount: count)
            var params = initial.flatMap { $0 }
            for (t, expected) in (c["steps"]?.arrayValue ?? []).enumerated() {
                var grads = gradients[t].flatMap { $0 }
                params.withUnsafeMutableBufferPointer { p in
                    grads.withUnsafeMutableBufferPointer { g in
                        if optimizer.options.clipsByNorm {
                            clipGradientNorms(g.baseAddress!, variables: variables, options: optimizer.options)
                        }
                        optimizer.step(params: p.baseAddress!, grads: g.baseAddress!, range: 0..<count)
                    }
                }
                optimizer.iterations += 1
                let want = (expected.arrayValue ?? []).flatMap(KerasFixture.floats)
                let err = KerasFixture.worst(params, want)
                #expect(err <= 1e-6, "\(name) step \(t + 1): worst relative error \(err)\n\(params)\nKeras \(want)")
            }
        }
    }

    /// The fixture really separates the options: a case without its option lands elsewhere.
    @Test func optionsChangeTheResult() throws {
        let cases = Self.fixture["cases"]?.arrayValue ?? []
        func last(_ name: String) -> [Float] {
            let c = cases.first { $0["name"]?.stringValue == name }
            return (c?["steps"]?[2]?.arrayValue ?? []).flatMap(KerasFixture.floats)
        }
        let plain = last("sgd")
        for option in ["sgd clipnorm", "sgd clipvalue", "sgd global_clipnorm", "sgd ExponentialDecay"] {
            #expect(KerasFixture.worst(last(option), plain) > 1e-3, "\(option) equals plain sgd")
        }
        #expect(KerasFixture.worst(last("sgd clipnorm"), last("sgd global_clipnorm")) > 1e-3)
        #expect(KerasFixture.worst(last("adam"), last("adam amsgrad")) > 1e-4)
    }

    @Test func kerasOnlyBaseKeysAreRefusedWhenTheyWouldMatter() throws {
        func error(_ config: JSONValue) -> ConfigError? {
            do { _ = try makeOptimizer(config, field: "compile.optimizer"); return nil } catch let e as ConfigError { return e } catch { return nil }
        }
        let ema = error(["module": "keras.optimizers", "class_name": "Adam", "config": ["use_ema": true]])
        #expect(ema?.field == "compile.optimizer.config.use_ema")
        let accumulate = error(["type": "sgd", "gradient_accumulation_steps": 4])
        #expect(accumulate?.field == "compile.optimizer.gradient_accumulation_steps" && accumulate?.detail.contains("4") == true)
        let other = error(["module": "keras.optimizers", "class_name": "Adadelta", "config": [:]])
        #expect(other?.field == "compile.optimizer.class_name" && other?.detail.contains("\"Adadelta\"") == true)
    }
}
