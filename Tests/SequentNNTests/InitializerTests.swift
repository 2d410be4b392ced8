import Testing
@testable import SequentNN

/// Initialisers: sample statistics on large tensors against Keras 3's formulas, the truncation bounds, fans,
/// determinism and configs.
@Suite struct InitializerTests {
    static func draw(_ initializer: Initializer, _ shape: [Int], seed: UInt64 = 7) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        var values = [Float](repeating: .nan, count: shape.reduce(1, *))
        values.withUnsafeMutableBufferPointer { initializer.fill($0.baseAddress!, shape: shape, rng: &rng) }
        return values
    }

    static func stats(_ v: [Float]) -> (mean: Double, std: Double, maxAbs: Float) {
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        return (mean, variance.squareRoot(), v.map(abs).max()!)
    }

    @Test func fansFollowKeras() {
        #expect(Initializer.fans([200, 300]) == (200, 300))
        #expect(Initializer.fans([3, 3, 64, 128]) == (576, 1152))
        #expect(Initializer.fans([10]) == (10, 10))
    }

    /// (initialiser, shape, expected std of the drawn values, bound on |value|).
    static let scaled: [(Initializer, [Int], Double, Float)] = {
        let c: Float = 0.87962566103423978
        return [
            (.heNormal, [3, 3, 64, 128], (2.0 / 576).squareRoot(), 2 * (2 / 576 as Float).squareRoot() / c),
            (.lecunNormal, [3, 3, 64, 128], (1.0 / 576).squareRoot(), 2 * (1 / 576 as Float).squareRoot() / c),
            (.glorotNormal, [200, 300], (2.0 / 500).squareRoot(), 2 * (2 / 500 as Float).squareRoot() / c),
            (.heUniform, [3, 3, 64, 128], (2.0 / 576).squareRoot(), (6 / 576 as Float).squareRoot()),
            (.lecunUniform, [200, 300], (1.0 / 200).squareRoot(), (3 / 200 as Float).squareRoot()),
            (.glorotUniform, [200, 300], (2.0 / 500).squareRoot(), (6 / 500 as Float).squareRoot()),
        ]
    }()

    @Test(arguments: 0..<6)
    func varianceScalingStatistics(index: Int) {
        let (initializer, shape, std, bound) = Self.scaled[index]
        let v = Self.draw(initializer, shape)
        let s = Self.stats(v)
        // 60 000+ draws: the sample std is within 1.5 % of the truth, the mean within a few standard errors.
        #expect(abs(s.std / std - 1) < 0.015, "\(initializer): std \(s.std), expected \(std)")
        #expect(abs(s.mean) < 4 * std / Double(v.count).squareRoot(), "\(initializer): mean \(s.mean)")
        #expect(s.maxAbs <= bound, "\(initializer): |value| up to \(s.maxAbs), bound \(bound)")
        // The bound is reached: a truncated normal fills its ±2σ range, a uniform its ±limit.
        #expect(s.maxAbs > 0.97 * bound)
    }

    @Test func randomAndConstantInitializers() {
        let normal = Self.stats(Self.draw(.randomNormal(mean: 1, stddev: 0.5), [100_000]))
        #expect(abs(normal.mean - 1) < 0.01 && abs(normal.std - 0.5) < 0.01)
        let truncated = Self.draw(.truncatedNormal(mean: 0.3, stddev: 0.05), [100_000])
        let t = Self.stats(truncated)
        // A normal cut at ±2σ keeps 0.8796 of its standard deviation (TruncatedNormal does not rescale).
        #expect(abs(t.mean - 0.3) < 0.001 && abs(t.std / (0.05 * 0.87962566103423978) - 1) < 0.015)
        #expect(truncated.allSatisfy { $0 >= 0.2 - 1e-6 && $0 <= 0.4 + 1e-6 })
        let uniform = Self.draw(.randomUniform(minval: -0.2, maxval: 0.6), [100_000])
        #expect(uniform.allSatisfy { $0 >= -0.2 && $0 < 0.6 })
        #expect(abs(Self.stats(uniform).mean - 0.2) < 0.005)
        #expect(Self.draw(.constant(0.25), [7]) == Array(repeating: 0.25, count: 7))
        #expect(Self.draw(.zeros, [3]) == [0, 0, 0] && Self.draw(.ones, [2, 2]) == [1, 1, 1, 1])
    }

    @Test func drawsFollowTheSeed() throws {
        #expect(Self.draw(.heNormal, [50, 40], seed: 3) == Self.draw(.heNormal, [50, 40], seed: 3))
        #expect(Self.draw(.heNormal, [50, 40], seed: 3) != Self.draw(.heNormal, [50, 40], seed: 4))
        func model(_ seed: UInt64) throws -> Sequential {
            try Sequential(inputShape: [6, 6, 1], layers: [
                Conv2D(filters: 4, kernelSize: [3, 3], kernelInitializer: .heNormal), Flatten(),
                Dense(units: 3, kernelInitializer: .truncatedNormal(mean: 0, stddev: 0.1)),
            ], seed: seed)
        }
        #expect(try model(9).weights(ofLayer: 2) == model(9).weights(ofLayer: 2))
        #expect(try model(9).weights(ofLayer: 0) != model(10).weights(ofLayer: 0))
    }

    @Test func configsInBothSpellings() throws {
        let model = try Sequential(inputShape: [4], layers: [
            Dense(units: 3, kernelInitializer: .randomNormal(mean: 0.1, stddev: 0.2)),
            Dense(units: 3, kernelInitializer: .heNormal),
            Dense(units: 2, kernelInitializer: .constant(0.5)),
            Dense(units: 2, kernelInitializer: .randomUniform(minval: -0.05, maxval: 0.05)),
        ])
        let back = try roundTrip(model)
        #expect(back.layers.map { ($0 as! Dense).kernelInitializer } == model.layers.map { ($0 as! Dense).kernelInitializer })
        // Keras's defaults are saved as the bare name, anything else in Keras's object form.
        #expect(model.layers[3].config["kernel_initializer"] == "random_uniform")
        #expect(model.layers[2].config["kernel_initializer"] == ["class_name": "Constant", "config": ["value": 0.5]])

        func initializer(_ value: JSONValue) throws -> Initializer {
            let m = try ModelConfig.makeModel(kerasModelJSON(input: [4], [
                ("Dense", ["name": "d", "units": 2, "kernel_initializer": value]),
            ]))
            return (m.layers[0] as! Dense).kernelInitializer
        }
        #expect(try initializer(["module": "keras.initializers", "class_name": "HeNormal", "config": ["seed": .null],
                                 "registered_name": .null]) == .heNormal)
        #expect(try initializer(["class_name": "TruncatedNormal", "config": ["mean": 0.0, "stddev": 0.02, "seed": 5]])
            == .truncatedNormal(mean: 0, stddev: 0.02))
        #expect(try initializer(["class_name": "RandomUniform", "config": ["minval": -1.0, "maxval": 1.0]])
            == .randomUniform(minval: -1, maxval: 1))
        #expect(try initializer("lecun_normal") == .lecunNormal)
        func error(_ value: JSONValue) -> String {
            do { _ = try initializer(value); return "" } catch { return "\(error)" }
        }
        #expect(error(["class_name": "RandomNormal", "config": ["mean": 0.0, "sigma": 1.0]])
            == "model.config.layers[1].config.kernel_initializer.config.sigma is not a known field")
        #expect(error(["class_name": "Orthogonal", "config": [:]]).hasPrefix(
            "model.config.layers[1].config.kernel_initializer.class_name must be one of glorot_uniform, glorot_normal"))
        #expect(error(["class_name": "RandomNormal", "config": ["stddev": -1.0]])
            == "model.config.layers[1].config.kernel_initializer.config.stddev must be ≥ 0, got -1.0")
    }

    @Test func aSeededInitializerWithArgumentsKeepsBothThroughARoundTrip() throws {
        // Keras's RandomNormal(mean=0.5, stddev=0.1, seed=3): the arguments and the seed are both honoured, and the
        // saved config reads back to the same initializer and seed.
        let keras: JSONValue = ["module": "keras.initializers", "class_name": "RandomNormal",
                                "config": ["mean": 0.5, "stddev": 0.1, "seed": 3], "registered_name": .null]
        let read = try ModelConfig.initializer(keras, field: "kernel_initializer", default: .glorotUniform)
        #expect(read.initializer == .randomNormal(mean: 0.5, stddev: 0.1) && read.seed == 3)
        let saved = ModelConfig.initializerJSON(read.initializer, seed: read.seed)
        let again = try ModelConfig.initializer(saved, field: "kernel_initializer", default: .glorotUniform)
        #expect(again.initializer == read.initializer && again.seed == 3)
        #expect(throws: ConfigError.self) {
            _ = try ModelConfig.initializer(["class_name": "RandomNormal", "config": ["sigma": 1]],
                                            field: "kernel_initializer", default: .glorotUniform)
        }
    }
}
