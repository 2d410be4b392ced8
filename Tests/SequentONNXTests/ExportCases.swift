import Foundation
@testable import SequentONNX
import SequentNN

/// The small models the export is checked on, between them every layer type and activation Sequent has.
/// Weights are random (BatchNormalization's statistics too, so it is not the identity); biases are not zero.
struct ExportCase {
    var name: String
    var model: Sequential
    /// Where the random inputs are drawn from (raw pixels for a model that starts with Rescaling).
    var inputRange: ClosedRange<Float> = -1...1

    static let all: [(name: String, build: @Sendable () throws -> ExportCase)] = [
        ("conv_bn_pool_dense", {
            ExportCase(name: "conv_bn_pool_dense", model: try Sequential(inputShape: [12, 12, 3], layers: [
                Conv2D(filters: 8, kernelSize: [3, 3], activation: .relu),
                BatchNormalization(),
                MaxPooling2D(),
                Conv2D(filters: 6, kernelSize: [3, 3]),
                BatchNormalization(epsilon: 1e-2),
                ReLU(),
                AveragePooling2D(poolSize: [2, 2], padding: .same),
                Flatten(),
                Dropout(rate: 0.3),
                Dense(units: 10, activation: .softmax),
            ]))
        }),
        ("dense_net", {
            ExportCase(name: "dense_net", model: try Sequential(inputShape: [20], layers: [
                Dense(units: 16, activation: .relu),
                BatchNormalization(),
                Dense(units: 12, activation: .tanh),
                Dropout(rate: 0.5),
                Dense(units: 5),
            ]))
        }),
        ("rescaling_gap_sigmoid", {
            ExportCase(name: "rescaling_gap_sigmoid", model: try Sequential(inputShape: [16, 16, 3], layers: [
                RandomFlip(),
                RandomRotation(factor: 0.1),
                RandomZoom(heightFactor: 0.1),
                RandomTranslation(heightFactor: 0.1, widthFactor: 0.1),
                RandomContrast(factor: 0.2),
                Rescaling(scale: 1 / 127.5, offset: -1),
                Conv2D(filters: 4, kernelSize: [3, 3], padding: .same, activation: .elu),
                GlobalAveragePooling2D(),
                Dense(units: 1, activation: .sigmoid),
            ]), inputRange: 0...255)
        }),
        ("same_strided_conv", {
            ExportCase(name: "same_strided_conv", model: try Sequential(inputShape: [11, 9, 2], layers: [
                Conv2D(filters: 5, kernelSize: [3, 4], strides: [2, 3], padding: .same, activation: .tanh),
                MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same),
                Conv2D(filters: 3, kernelSize: [2, 2], strides: [2, 1], padding: .same, useBias: false),
                GlobalMaxPooling2D(),
                Dense(units: 4),
            ]))
        }),
        ("image_output", {
            // The output is an image, so the graph transposes back to NHWC at the end.
            ExportCase(name: "image_output", model: try Sequential(inputShape: [9, 8, 2], layers: [
                Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: .relu),
                AveragePooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same),
                MaxPooling2D(poolSize: [2, 2], strides: [1, 1]),
            ]))
        }),
        ("global_pool_keepdims", {
            // [1, 1, C] samples: a Dense on them is a MatMul over the last axis of channel-last data.
            ExportCase(name: "global_pool_keepdims", model: try Sequential(inputShape: [6, 6, 3], layers: [
                Conv2D(filters: 5, kernelSize: [3, 3]),
                GlobalAveragePooling2D(keepdims: true),
                Dense(units: 3),
                Flatten(),
            ]))
        }),
        ("sequence_dense", {
            // Dense and BatchNormalization on a [T, F] sample (the last axis), then Flatten.
            ExportCase(name: "sequence_dense", model: try Sequential(inputShape: [4, 5], layers: [
                Dense(units: 6, activation: .silu),
                BatchNormalization(),
                ActivationLayer(.tanh),
                Flatten(),
                Dense(units: 2, activation: .softmax),
            ]))
        }),
    ]

    /// Every activation on its own, fused into a Conv2D (images held channels-first, softmax over axis 1) and a
    /// Dense on the `[H, W, C]` sample (MatMul over the last axis), with inputs wide enough to reach relu6's and
    /// hard_sigmoid's flat parts.
    static let activations: [(name: String, build: @Sendable () throws -> ExportCase)] = Activation.allCases.map { a in
        ("activation_\(a.rawValue)", {
            ExportCase(name: "activation_\(a.rawValue)", model: try Sequential(inputShape: [4, 3, 2], layers: [
                Conv2D(filters: 3, kernelSize: [1, 1], activation: a),
                Dense(units: 4, activation: a),
                Flatten(),
            ]), inputRange: -4...4)
        })
    }

    /// The activation layers with their own arguments, one per model, after a Conv2D (so on channels-first data).
    static let activationLayers: [(name: String, build: @Sendable () throws -> ExportCase)] = layerVariants.map { v in
        (v.name, {
            ExportCase(name: v.name, model: try Sequential(inputShape: [4, 3, 2], layers: [
                Conv2D(filters: 3, kernelSize: [1, 1]), try v.layer(), Flatten(),
            ]), inputRange: -4...4)
        })
    }

    private static let layerVariants: [(name: String, layer: @Sendable () throws -> Layer)] = [
        ("layer_relu_general", { try ReLU(maxValue: 1.5, negativeSlope: 0.1, threshold: 0.2) }),
        ("layer_relu_max_value", { try ReLU(maxValue: 2) }),
        ("layer_relu_negative_slope", { try ReLU(negativeSlope: 0.25) }),
        ("layer_relu_threshold", { try ReLU(threshold: 0.5) }),
        ("layer_leaky_relu", { try LeakyReLU(negativeSlope: 0.3) }),
        ("layer_elu", { ELU(alpha: 0.7) }),
        ("layer_softmax", { try Softmax() }),
        ("layer_activation_gelu", { ActivationLayer(.gelu) }),
    ]

    /// All of the cases above.
    static let everything = all + activations + activationLayers

    static func make(_ name: String) throws -> ExportCase {
        guard let spec = everything.first(where: { $0.name == name }) else { throw TrainingError("no export case \(name)") }
        let c = try spec.build()
        try randomizeWeights(c.model, seed: UInt64(name.utf8.count))
        return c
    }

    static func decode(_ model: Sequential) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: ONNXExport.export(model, modelName: "test", classNames: nil))
    }

    /// Every weight uniform in ±0.5 (kernels scaled by fan-in to keep activations in range); moving variances
    /// in [0.5, 1.5].
    static func randomizeWeights(_ model: Sequential, seed: UInt64) throws {
        var state = seed &+ 0x9E37_79B9
        for (i, layer) in model.layers.enumerated() {
            let tensors = zip(layer.parameters, model.weights(ofLayer: i)).map { spec, t in
                let values = random(t.scalars.count, seed: state, range: -0.5...0.5)
                state &+= 1
                let scaled: [Float]
                switch spec.name {
                case "moving_variance": scaled = values.map { $0 + 1 }
                case "gamma": scaled = values.map { $0 + 1 }
                case "kernel": scaled = values.map { $0 * 3 / Float(max(1, t.shape.dropLast().reduce(1, *))).squareRoot() }
                default: scaled = values
                }
                return Tensor(shape: t.shape, scalars: scaled)
            }
            try model.setWeights(ofLayer: i, tensors)
        }
    }

    /// `count` values uniform in `range`, from a splitmix64 stream.
    static func random(_ count: Int, seed: UInt64, range: ClosedRange<Float>) -> [Float] {
        var s = seed
        return (0..<count).map { _ in
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let u = Float(z >> 40) / Float(1 << 24)
            return range.lowerBound + u * (range.upperBound - range.lowerBound)
        }
    }
}
