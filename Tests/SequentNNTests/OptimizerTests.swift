import Foundation
import Testing
@testable import SequentNN

/// One and two steps of each optimizer against Keras 3's update formulas evaluated by hand in Double.
@Suite struct OptimizerTests {
    let w0: [Float] = [1.0, -2.0, 0.5]
    let g: [Float] = [0.5, -0.25, 2.0]

    func step(_ opt: Optimizer, times: Int = 1) -> [Float] {
        var w = w0
        opt.prepare(parameterCount: w.count)
        for _ in 0..<times {
            w.withUnsafeMutableBufferPointer { wp in
                g.withUnsafeBufferPointer { gp in opt.update(params: wp.baseAddress!, grads: gp.baseAddress!, range: 0..<3) }
            }
            opt.iterations += 1
        }
        return w
    }

    func close(_ a: [Float], _ b: [Double], tol: Double = 1e-6) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol * max(1, abs($1)) }
    }

    @Test func sgdPlainMomentumAndNesterov() throws {
        let lr = 0.01
        #expect(close(step(try SGD()), zip(w0, g).map { Double($0) - lr * Double($1) }))
        // Two steps with momentum 0.9: v1 = −lr·g, w1 = w0 + v1; v2 = 0.9·v1 − lr·g, w2 = w1 + v2.
        let expected = zip(w0, g).map { w, g -> Double in
            let v1 = -lr * Double(g), v2 = 0.9 * v1 - lr * Double(g)
            return Double(w) + v1 + v2
        }
        #expect(close(step(try SGD(momentum: 0.9), times: 2), expected))
        // Nesterov: w += μ·v − lr·g after updating v.
        let nesterov = zip(w0, g).map { w, g -> Double in
            let v1 = -lr * Double(g)
            return Double(w) + 0.9 * v1 - lr * Double(g)
        }
        #expect(close(step(try SGD(momentum: 0.9, nesterov: true)), nesterov))
    }

    @Test func adamTwoSteps() throws {
        let (lr, b1, b2, eps) = (0.001, 0.9, 0.999, 1e-7)
        let expected = zip(w0, g).map { w0, g -> Double in
            var w = Double(w0), m = 0.0, v = 0.0
            let gd = Double(g)
            for t in 1...2 {
                m += (gd - m) * (1 - b1)
                v += (gd * gd - v) * (1 - b2)
                let alpha = lr * (1 - pow(b2, Double(t))).squareRoot() / (1 - pow(b1, Double(t)))
                w -= alpha * m / (v.squareRoot() + eps)
            }
            return w
        }
        #expect(close(step(try Adam(), times: 2), expected))
        // The first Adam step moves each weight by ≈ lr in the direction of −sign(g).
        let first = step(try Adam())
        for i in 0..<3 { #expect(abs(abs(first[i] - w0[i]) - 0.001) < 1e-5) }
    }

    @Test func rmspropPlainCenteredAndMomentum() throws {
        let (lr, rho, eps) = (0.001, 0.9, 1e-7)
        let plain = zip(w0, g).map { w, g -> Double in
            let s = (1 - rho) * Double(g * g)
            return Double(w) - lr * Double(g) / (s + eps).squareRoot()
        }
        #expect(close(step(try RMSprop()), plain))
        let centered = zip(w0, g).map { w, g -> Double in
            let s = (1 - rho) * Double(g * g), avg = (1 - rho) * Double(g)
            return Double(w) - lr * Double(g) / (s - avg * avg + eps).squareRoot()
        }
        #expect(close(step(try RMSprop(centered: true)), centered))
        let momentum = zip(w0, g).map { w, g -> Double in
            let gd = Double(g)
            var s = 0.0, u = 0.0, w = Double(w)
            for _ in 0..<2 {
                s = rho * s + (1 - rho) * gd * gd
                u = 0.5 * u + lr * gd / (s + eps).squareRoot()
                w -= u
            }
            return w
        }
        #expect(close(step(try RMSprop(momentum: 0.5), times: 2), momentum))
    }

    @Test func kerasDefaultsAndStringNames() throws {
        let adam = try makeOptimizer("adam") as! Adam
        #expect(adam.learningRate == 0.001 && adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.epsilon == 1e-7)
        let rms = try makeOptimizer("rmsprop") as! RMSprop
        #expect(rms.learningRate == 0.001 && rms.rho == 0.9 && rms.epsilon == 1e-7 && rms.momentum == 0)
        let sgd = try makeOptimizer("sgd") as! SGD
        #expect(sgd.learningRate == 0.01 && sgd.momentum == 0 && !sgd.nesterov)
        #expect(throws: ConfigError(field: "optimizer", detail: "must be one of adagrad, adam, adamw, nadam, rmsprop, sgd, got \"lamb\"")) {
            try makeOptimizer("lamb")
        }
        #expect(throws: ConfigError(field: "optimizer.learning_rate", detail: "must be > 0, got -1.0")) {
            try makeOptimizer(["type": "adam", "learning_rate": -1])
        }
    }
}
