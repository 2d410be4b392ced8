import Foundation
import Testing
@testable import SequentNN

/// Dense and Conv2D with set weights, Dropout and Rescaling in inference, and the MaxPooling2D variants, against
/// Keras 3 itself (Tests/Fixtures/keras-weighted-layers.json, from scripts/keras-fixtures.py): output, input
/// gradient and weight gradients of Σ y·w, each layer rebuilt from the config Keras serialised.
@Suite struct KerasWeightedLayerTests {
    static let fixture = KerasFixture.load("keras-weighted-layers.json")

    /// Forward and backward of `layer` on `x` with its weights set to `params` (Keras's order: kernel, bias).
    static func run(_ layer: Layer, inputShape: [Int], x: [Float], n: Int, params: [Float], dy: [Float]) throws
        -> (y: [Float], dx: [Float], grads: [Float])
    {
        try layer.build(inputShape: inputShape)
        var x = x, params = params, dy = dy
        var y = [Float](repeating: .nan, count: n * layer.outputCount)
        var dx = [Float](repeating: .nan, count: x.count)
        var grads = [Float](repeating: 0, count: layer.parameterCount)
        var scratch = [Float](repeating: 0, count: max(1, layer.scratchCount(batch: n)))
        #expect(params.count == layer.parameterCount, "\(layer.typeName): \(layer.parameterCount) weights")
        guard params.count == layer.parameterCount else { return ([], [], []) }
        params.append(0)   // never an empty buffer
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                params.withUnsafeMutableBufferPointer { pp in
                    scratch.withUnsafeMutableBufferPointer { sp in
                        layer.forward(x: xp.baseAddress!, y: yp.baseAddress!, n: n, params: pp.baseAddress!,
                                      scratch: sp.baseAddress!, context: .inference)
                        dy.withUnsafeMutableBufferPointer { dyp in
                            dx.withUnsafeMutableBufferPointer { dxp in
                                grads.append(0)
                                grads.withUnsafeMutableBufferPointer { gp in
                                    layer.backward(x: xp.baseAddress!, y: yp.baseAddress!, dy: dyp.baseAddress!,
                                                   dx: dxp.baseAddress!, n: n, params: pp.baseAddress!,
                                                   grads: gp.baseAddress!, scratch: sp.baseAddress!,
                                                   context: .inference)
                                }
                                grads.removeLast()
                            }
                        }
                    }
                }
            }
        }
        return (y, dx, grads)
    }

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect((Self.fixture["cases"]?.arrayValue?.count ?? 0) == 15)
    }

    @Test func layersMatchKeras() throws {
        // float32 sums of up to 27 products in another order: a few ulps of the largest terms.
        let tolerance: Float = 2e-5
        for c in Self.fixture["cases"]?.arrayValue ?? [] {
            let name = c["name"]?.stringValue ?? "?"
            guard let cls = c["class_name"]?.stringValue, case .object(var config)? = c["config"] else {
                Issue.record("\(name): no config")
                continue
            }
            config["type"] = .string(cls)
            let layer = try ModelConfig.makeLayer(.object(config), path: name, kerasKeys: true)
            let shape = KerasFixture.ints(c["input_shape"])
            let weights = c["weights"]?.arrayValue ?? []
            let r = try Self.run(layer, inputShape: Array(shape.dropFirst()), x: KerasFixture.floats(c["input"]),
                                 n: shape[0], params: weights.flatMap { KerasFixture.floats($0["value"]) },
                                 dy: KerasFixture.floats(c["weighting"]))
            #expect(layer.outputShape == Array(KerasFixture.ints(c["output_shape"]).dropFirst()), "\(name) shape")
            let e = (KerasFixture.worst(r.y, KerasFixture.floats(c["output"])),
                     KerasFixture.worst(r.dx, KerasFixture.floats(c["input_gradient"])),
                     KerasFixture.worst(r.grads, weights.flatMap { KerasFixture.floats($0["gradient"]) }))
            #expect(e.0 <= tolerance, "\(name) output: worst error \(e.0)")
            #expect(e.1 <= tolerance, "\(name) input gradient: worst error \(e.1)")
            #expect(e.2 <= tolerance, "\(name) weight gradients: worst error \(e.2)")
        }
    }
}
