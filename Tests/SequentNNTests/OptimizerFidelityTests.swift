import Foundation
import Testing
@testable import SequentNN

/// AdamW, Nadam, Adagrad, amsgrad, the base-optimizer options and learning-rate schedules, each against a
/// plain Double loop of the formulas in keras/src/optimizers/*.py (3.15).
@Suite struct OptimizerFidelityTests {
    let w0: [Double] = [1.0, -2.0, 0.5]
    /// A different gradient each step, so state (moments, accumulators, v̂'s max) matters.
    let grads: [[Double]] = [[0.5, -0.25, 2.0], [-0.1, 0.3, 1.0], [0.4, 0.0, -3.0]]

    func run(_ opt: Optimizer, steps: Int = 3, grads: [[Double]]? = nil) -> [Float] {
        let grads = grads ?? self.grads
        var w = w0.map { Float($0) }
        opt.prepare(parameterCount: w.count)
        for t in 0..<steps {
            var g = grads[t].map { Float($0) }
            w.withUnsafeMutableBufferPointer { wp in
                g.withUnsafeMutableBufferPointer { gp in opt.step(params: wp.baseAddress!, grads: gp.baseAddress!, range: 0..<3) }
            }
            opt.iterations += 1
        }
        return w
    }

    func close(_ a: [Float], _ b: [Double], tol: Double = 2e-6) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol * max(1, abs($1)) }
    }

    /// keras/src/optimizers/adam.py `update_step`, with base_optimizer.py `_apply_weight_decay` first.
    func adamReference(lr: Double = 0.001, wd: Double? = nil, amsgrad: Bool = false, grads: [[Double]]? = nil,
                       beta2 b2: Double = 0.999) -> [Double] {
        let grads = grads ?? self.grads
        let (b1, eps) = (0.9, 1e-7)
        var w = w0, m = [0.0, 0, 0], v = [0.0, 0, 0], vh = [0.0, 0, 0]
        for t in 1...3 {
            for i in 0..<3 {
                if let wd { w[i] -= w[i] * wd * lr }
                let g = grads[t - 1][i]
                let alpha = lr * (1 - pow(b2, Double(t))).squareRoot() / (1 - pow(b1, Double(t)))
                m[i] += (g - m[i]) * (1 - b1)
                v[i] += (g * g - v[i]) * (1 - b2)
                vh[i] = max(vh[i], v[i])
                w[i] -= m[i] * alpha / ((amsgrad ? vh[i] : v[i]).squareRoot() + eps)
            }
        }
        return w
    }

    @Test func adamwDecouplesWeightDecay() throws {
        let opt = try makeOptimizer("adamw")
        #expect(opt.name == "adamw" && opt.options.weightDecay == 0.004)
        #expect(close(run(opt), adamReference(wd: 0.004)))
        let big = try makeOptimizer(["type": "adamw", "weight_decay": 0.1, "learning_rate": 0.01])
        #expect(close(run(big), adamReference(lr: 0.01, wd: 0.1)))
        #expect(!close(run(big), adamReference(lr: 0.01)))
        // The config round-trips (checkpoints rebuild the optimizer from it).
        #expect(try makeOptimizer(.object(big.config)).config == big.config)
    }

    @Test func adamAmsgradKeepsTheMaximum() throws {
        let opt = try makeOptimizer(["type": "adam", "amsgrad": true, "learning_rate": 0.1, "beta_2": 0.5])
        #expect(opt.slotNames == ["m", "v", "v_hat"])
        // A large first gradient then small ones, with a short β2 memory: v falls and v̂ keeps its maximum, so the rules differ widely.
        let falling: [[Double]] = [[10, -10, 5], [0.01, 0.01, 0.01], [0.01, -0.01, 0.01]]
        let expected = adamReference(lr: 0.1, amsgrad: true, grads: falling, beta2: 0.5)
        #expect(close(run(opt, grads: falling), expected))
        #expect(zip(expected, adamReference(lr: 0.1, grads: falling, beta2: 0.5)).allSatisfy { abs($0 - $1) > 1e-3 })
    }

    @Test func nadamMomentumSchedule() throws {
        // keras/src/optimizers/nadam.py: u_product is multiplied by u_t before each step's update_step.
        let (lr, b1, b2, eps) = (0.001, 0.9, 0.999, 1e-7)
        var w = w0, m = [0.0, 0, 0], v = [0.0, 0, 0], uProduct = 1.0
        for t in 1...3 {
            let ut = b1 * (1 - 0.5 * pow(0.96, Double(t))), ut1 = b1 * (1 - 0.5 * pow(0.96, Double(t + 1)))
            uProduct *= ut
            for i in 0..<3 {
                let g = grads[t - 1][i]
                m[i] += (g - m[i]) * (1 - b1)
                v[i] += (g * g - v[i]) * (1 - b2)
                let mHat = ut1 * m[i] / (1 - uProduct * ut1) + (1 - ut) * g / (1 - uProduct)
                let vHat = v[i] / (1 - pow(b2, Double(t)))
                w[i] -= mHat * lr / (vHat.squareRoot() + eps)
            }
        }
        #expect(close(run(try makeOptimizer("nadam")), w))
    }

    @Test func adagradStartsFromTheInitialAccumulator() throws {
        // keras/src/optimizers/adagrad.py: accumulator += g²; w −= lr·g/√(accumulator + ε).
        func reference(lr: Double, initial: Double) -> [Double] {
            var w = w0, a = [initial, initial, initial]
            for t in 0..<3 {
                for i in 0..<3 {
                    let g = grads[t][i]
                    a[i] += g * g
                    w[i] -= lr * g / (a[i] + 1e-7).squareRoot()
                }
            }
            return w
        }
        #expect(close(run(try makeOptimizer("adagrad")), reference(lr: 0.001, initial: 0.1)))
        let custom = try makeOptimizer(["type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.5])
        #expect(close(run(custom), reference(lr: 0.1, initial: 0.5)))
        #expect(throws: ConfigError.self) { try makeOptimizer(["type": "adagrad", "initial_accumulator_value": -1]) }
    }

    @Test func clipvalueAndWeightDecayOnSGD() throws {
        // base_optimizer.py: grads are clipped, then w −= w·wd·lr, then w −= lr·g.
        let opt = try makeOptimizer(["type": "sgd", "learning_rate": 0.1, "clipvalue": 0.5, "weight_decay": 0.01])
        var w = w0
        for t in 0..<3 { for i in 0..<3 { w[i] -= w[i] * 0.01 * 0.1; w[i] -= 0.1 * min(max(grads[t][i], -0.5), 0.5) } }
        #expect(close(run(opt), w))
    }

    @Test func clipnormPerVariableAndGlobal() throws {
        // Two "variables" [0..<1] and [1..<3]: clipnorm rescales each to norm ≤ c, global_clipnorm both together.
        let g: [Float] = [3, 3, 4]
        var perVariable = g, global = g
        perVariable.withUnsafeMutableBufferPointer {
            clipGradientNorms($0.baseAddress!, variables: [0..<1, 1..<3], options: OptimizerOptions(clipnorm: 1))
        }
        #expect(close(perVariable, [1, 0.6, 0.8]))
        global.withUnsafeMutableBufferPointer {
            clipGradientNorms($0.baseAddress!, variables: [0..<1, 1..<3], options: OptimizerOptions(globalClipnorm: 1))
        }
        let n = (9.0 + 9 + 16).squareRoot()
        #expect(close(global, [3 / n, 3 / n, 4 / n]))
        // Below the threshold nothing changes.
        var small = g
        small.withUnsafeMutableBufferPointer {
            clipGradientNorms($0.baseAddress!, variables: [0..<3], options: OptimizerOptions(globalClipnorm: 100))
        }
        #expect(small == g)
    }

    @Test func clipOptionsAreExclusiveAndPositive() throws {
        for pair in [("clipnorm", "global_clipnorm"), ("clipnorm", "clipvalue"), ("clipvalue", "global_clipnorm")] {
            let spec: JSONValue = .object(["type": "adam", pair.0: 1.0, pair.1: 2.0])
            #expect { try makeOptimizer(spec, field: "compile.optimizer") } throws: { e in
                let e = e as! ConfigError
                return e.field.hasPrefix("compile.optimizer.") && e.detail.contains("only one of")
            }
        }
        #expect { try makeOptimizer(["type": "sgd", "clipnorm": -1], field: "compile.optimizer") } throws: { e in
            (e as! ConfigError).field == "compile.optimizer.clipnorm" && "\(e)".contains("-1")
        }
        for type in ["sgd", "adam", "rmsprop", "nadam", "adagrad", "adamw"] {
            let o = try makeOptimizer(["type": .string(type), "global_clipnorm": 1.5, "weight_decay": 0.01])
            #expect(o.options.globalClipnorm == 1.5 && o.options.weightDecay == 0.01)
            #expect(try makeOptimizer(.object(o.config)).options == o.options)
        }
    }

    /// A schedule as Keras 3 serializes it.
    func schedule(_ cls: String, _ config: [String: JSONValue]) -> JSONValue {
        ["module": "keras.optimizers.schedules", "class_name": .string(cls), "config": .object(config), "registered_name": .null]
    }

    @Test func scheduleValues() throws {
        let exp = try LearningRateSchedule.parse(schedule("ExponentialDecay", ["initial_learning_rate": 0.1,
            "decay_steps": 10, "decay_rate": 0.5, "staircase": false, "name": "ExponentialDecay"]), field: "lr")
        for t in [0, 1, 5, 10, 25] { #expect(abs(exp.rate(step: t) - 0.1 * pow(0.5, Double(t) / 10)) < 1e-12) }
        let stairs = try LearningRateSchedule.parse(schedule("ExponentialDecay", ["initial_learning_rate": 0.1,
            "decay_steps": 10, "decay_rate": 0.5, "staircase": true]), field: "lr")
        #expect(stairs.rate(step: 9) == 0.1 && stairs.rate(step: 10) == 0.05)
        let inv = try LearningRateSchedule.parse(schedule("InverseTimeDecay", ["initial_learning_rate": 0.1,
            "decay_steps": 4, "decay_rate": 0.5]), field: "lr")
        for t in [0, 3, 8] { #expect(abs(inv.rate(step: t) - 0.1 / (1 + 0.5 * Double(t) / 4)) < 1e-12) }
        let pw = try LearningRateSchedule.parse(schedule("PiecewiseConstantDecay", ["boundaries": [2, 5],
            "values": [1.0, 0.5, 0.1]]), field: "lr")
        #expect([0, 2, 3, 5, 6, 100].map { pw.rate(step: $0) } == [1, 1, 0.5, 0.5, 0.1, 0.1])
        let cos = try LearningRateSchedule.parse(schedule("CosineDecay", ["initial_learning_rate": 0.1,
            "decay_steps": 10, "alpha": 0.1]), field: "lr")
        func cosRef(_ t: Double, _ lr: Double) -> Double { lr * (0.9 * 0.5 * (1 + Foundation.cos(Double.pi * min(t, 10) / 10)) + 0.1) }
        for t in [0, 3, 10, 20] { #expect(abs(cos.rate(step: t) - cosRef(Double(t), 0.1)) < 1e-12) }
        let warm = try LearningRateSchedule.parse(schedule("CosineDecay", ["initial_learning_rate": 0.0,
            "decay_steps": 10, "alpha": 0.1, "warmup_target": 0.2, "warmup_steps": 4]), field: "lr")
        #expect(abs(warm.rate(step: 1) - 0.05) < 1e-12 && abs(warm.rate(step: 4) - 0.2) < 1e-12)
        #expect(abs(warm.rate(step: 7) - cosRef(3, 0.2)) < 1e-12 && abs(warm.rate(step: 99) - 0.02) < 1e-12)
        for s in [exp, stairs, inv, pw, cos, warm] { #expect(try LearningRateSchedule.parse(s.serialized, field: "lr") == s) }
    }

    @Test func scheduleDrivesTheOptimizerAndResumes() throws {
        let spec: JSONValue = ["type": "sgd", "learning_rate": schedule("ExponentialDecay",
            ["initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5])]
        let opt = try makeOptimizer(spec)
        #expect(opt.learningRate == 0.1)
        // SGD with the rate at iterations 0, 1, 2.
        var w = w0
        for t in 0..<3 { for i in 0..<3 { w[i] -= 0.1 * pow(0.5, Double(t)) * grads[t][i] } }
        #expect(close(run(opt), w))
        #expect(opt.learningRate == Float(0.1 * 0.125))
        // A rebuilt optimizer restored to the step count (as a checkpoint does) continues the schedule.
        let resumed = try makeOptimizer(.object(opt.config))
        resumed.iterations = opt.iterations
        #expect(resumed.learningRate == opt.learningRate)
        // A warmup may start at rate 0, which a fixed learning_rate may not.
        let warm = try makeOptimizer(["type": "adam", "learning_rate": schedule("CosineDecay", ["initial_learning_rate": 0.0,
            "decay_steps": 10, "warmup_target": 0.2, "warmup_steps": 4])])
        #expect(warm.learningRate == 0)
        warm.iterations = 2
        #expect(warm.learningRate == 0.1)
        #expect { try makeOptimizer(["type": "adam", "learning_rate": schedule("Polynomial", [:])], field: "compile.optimizer") } throws: { e in
            (e as! ConfigError).field == "compile.optimizer.learning_rate.class_name"
        }
        #expect { try makeOptimizer(["type": "adam", "learning_rate": schedule("ExponentialDecay",
            ["initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.5])], field: "compile.optimizer") } throws: { e in
            (e as! ConfigError).field == "compile.optimizer.learning_rate.config.decay_steps"
        }
    }
}

/// The options and schedules inside a model's training step, `fit` and a checkpoint.
@Suite struct OptimizerTrainingTests {
    func data() -> (Tensor, Tensor) {
        var rng = SeededGenerator(seed: 3)
        let n = 32
        let x = (0..<(n * 4)).map { _ in rng.uniform(-3, 3) }
        let y = (0..<n).map { Float($0 % 3) }
        return (Tensor(shape: [n, 4], scalars: x), Tensor(shape: [n], scalars: y))
    }

    func model(_ optimizer: JSONValue) throws -> Sequential {
        let m = try Sequential(inputShape: [4], layers: [Dense(units: 5, activation: .relu), Dense(units: 3, activation: .softmax)],
                               seed: 7)
        try m.compile(optimizer: makeOptimizer(optimizer), loss: SparseCategoricalCrossentropy())
        return m
    }

    /// One plain-SGD step on the whole batch; returns the change of each trainable weight array.
    func deltas(_ m: Sequential) -> [[Float]] {
        let (x, y) = data()
        let before = Array(UnsafeBufferPointer(start: m.parameters, count: m.parameterCount))
        x.scalars.withUnsafeBufferPointer { xp in
            y.scalars.withUnsafeBufferPointer { yp in _ = m.trainStep(x: xp.baseAddress!, y: yp.baseAddress!, n: 32, step: 0) }
        }
        var out: [[Float]] = [], offset = 0
        for layer in m.layers {
            for spec in layer.parameters {
                out.append((offset..<(offset + spec.count)).map { m.parameters[$0] - before[$0] })
                offset += spec.count
            }
        }
        return out
    }

    func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    @Test func normClippingInATrainingStep() throws {
        let lr = 0.5
        let free = try deltas(model(["type": "sgd", "learning_rate": .number(lr)]))
        // The unclipped gradients are larger than the thresholds used below, so clipping must act.
        #expect(free.allSatisfy { norm($0) / lr > 0.02 })
        // clipnorm: every variable's step is lr·c; directions are unchanged.
        let c = 0.01
        let clipped = try deltas(model(["type": "sgd", "learning_rate": .number(lr), "clipnorm": .number(c)]))
        for (a, b) in zip(clipped, free) {
            #expect(abs(norm(a) - lr * c) < 1e-6)
            let k = Float(norm(a) / norm(b))
            #expect(zip(a, b).allSatisfy { abs($0 - $1 * k) < 1e-6 })
        }
        // global_clipnorm: all steps together have norm lr·c, each in proportion to its free step.
        let global = try deltas(model(["type": "sgd", "learning_rate": .number(lr), "global_clipnorm": .number(c)]))
        #expect(abs(norm(global.flatMap { $0 }) - lr * c) < 1e-6)
        let k = Float(lr * c / norm(free.flatMap { $0 }))
        #expect(zip(global.flatMap { $0 }, free.flatMap { $0 }).allSatisfy { abs($0 - $1 * k) < 1e-6 })
    }

    @Test func fitLogsTheScheduledRateAndACheckpointResumesIt() throws {
        let schedule: JSONValue = ["module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                                   "config": ["initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5,
                                              "staircase": false, "name": "ExponentialDecay"]]
        let m = try model(["type": "adam", "learning_rate": schedule])
        let (x, y) = data()
        // 32 samples in batches of 8: 4 steps per epoch. Keras's optimizer.learning_rate after epoch e is the
        // schedule at iterations = 4e.
        let history = try m.fit(x: x, y: y, options: FitOptions(epochs: 3, batchSize: 8))
        let rates = history.epochs.map(\.learningRate)
        for (e, r) in rates.enumerated() { #expect(abs(r - 0.1 * pow(0.5, Double(e + 1))) < 1e-7) }
        #expect(m.optimizer!.iterations == 12)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sched-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelArchive.save(m, to: dir, includeOptimizer: true)
        let resumed = try ModelArchive.load(from: dir, restoreOptimizer: true).model
        #expect(resumed.optimizer!.iterations == 12)
        #expect(resumed.optimizer!.options.schedule == m.optimizer!.options.schedule)
        let more = try resumed.fit(x: x, y: y, options: FitOptions(epochs: 1, batchSize: 8))
        #expect(abs(more.epochs[0].learningRate - 0.1 * pow(0.5, 4)) < 1e-7)
    }
}
