import Testing
@testable import SequentNN

/// The gradient contract of Layer.swift, for every layer type the model config builds: `backward` overwrites
/// every value of its `grads` slice and of `dx`, whatever was there. `LayerCall` fills both with NaN first, so a
/// value left unwritten, or added to rather than written, stays NaN.
@Suite struct LayerContractTests {
    /// A representative layer and its per-sample input shape.
    struct Sample: Sendable {
        var make: @Sendable () throws -> Layer
        var inputShape: [Int]
    }

    /// Per type in `ModelConfig.layerTypes`, the configurations held to the contract. Shapes are odd where a
    /// layer has a fast path for even ones (the 2×2 pool kernels drop a row and a column), and channels come in
    /// 16s where one takes a vector path.
    static let samples: [String: [Sample]] = [
        "Dense": [Sample(make: { try Dense(units: 5, activation: .tanh) }, inputShape: [7]),
                  Sample(make: { try Dense(units: 3, activation: .gelu, useBias: false) }, inputShape: [2, 4])],
        "Conv2D": [Sample(make: { try Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: .relu) },
                          inputShape: [5, 6, 2]),
                   Sample(make: { try Conv2D(filters: 16, kernelSize: [3, 3], activation: .silu) }, inputShape: [7, 7, 3]),
                   Sample(make: { try Conv2D(filters: 4, kernelSize: [2, 3], strides: [2, 1], useBias: false) },
                          inputShape: [6, 5, 2])],
        "MaxPooling2D": [Sample(make: { try MaxPooling2D() }, inputShape: [5, 7, 3]),
                         Sample(make: { try MaxPooling2D() }, inputShape: [6, 6, 16]),
                         Sample(make: { try MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same) },
                                inputShape: [5, 6, 16]),
                         Sample(make: { try MaxPooling2D(poolSize: [3, 3]) }, inputShape: [6, 6, 16])],
        "AveragePooling2D": [Sample(make: { try AveragePooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same) },
                                    inputShape: [5, 6, 3]),
                             Sample(make: { try AveragePooling2D() }, inputShape: [5, 5, 2])],
        "GlobalAveragePooling2D": [Sample(make: { GlobalAveragePooling2D() }, inputShape: [4, 3, 5])],
        "GlobalMaxPooling2D": [Sample(make: { GlobalMaxPooling2D(keepdims: true) }, inputShape: [4, 3, 5])],
        "Flatten": [Sample(make: { Flatten() }, inputShape: [3, 2, 2])],
        "Dropout": [Sample(make: { try Dropout(rate: 0.4) }, inputShape: [12])],
        "Rescaling": [Sample(make: { Rescaling(scale: 0.5, offset: -1) }, inputShape: [2, 3, 2])],
        "Activation": [Sample(make: { ActivationLayer(.softmax) }, inputShape: [2, 4]),
                       Sample(make: { ActivationLayer(.gelu) }, inputShape: [6])],
        "ReLU": [Sample(make: { try ReLU(maxValue: 1, negativeSlope: 0.1, threshold: 0.2) }, inputShape: [9])],
        "LeakyReLU": [Sample(make: { try LeakyReLU() }, inputShape: [9])],
        "ELU": [Sample(make: { ELU(alpha: 0.5) }, inputShape: [9])],
        "Softmax": [Sample(make: { try Softmax() }, inputShape: [3, 4])],
        "BatchNormalization": [Sample(make: { try BatchNormalization() }, inputShape: [3, 3, 4]),
                               Sample(make: { try BatchNormalization(center: false, scale: false) }, inputShape: [5])],
        "RandomFlip": [Sample(make: { RandomFlip() }, inputShape: [5, 7, 2])],
        "RandomRotation": [
            Sample(make: { try RandomRotation(factor: 0.2, fillMode: .constant) }, inputShape: [5, 7, 2]),
            Sample(make: { try RandomRotation(factor: 0.3, interpolation: .nearest) }, inputShape: [5, 7, 2]),
        ],
        "RandomZoom": [
            Sample(make: { try RandomZoom(heightFactor: 0.3, widthFactor: [-0.2, 0.4], fillMode: .wrap) },
                   inputShape: [5, 7, 2]),
        ],
        "RandomTranslation": [
            Sample(make: { try RandomTranslation(heightFactor: 0.3, widthFactor: 0.4, fillMode: .nearest) },
                   inputShape: [5, 7, 2]),
        ],
        "RandomContrast": [
            Sample(make: { try RandomContrast(factor: [0.4, 0.6], valueRange: (-1, 1)) }, inputShape: [5, 7, 2]),
        ],
    ]

    static let n = 3

    /// Forward and backward through `LayerCall` (NaN-filled grads and dx) with random weights and gradient.
    static func call(_ layer: Layer, _ inputShape: [Int], context: ForwardContext) throws -> LayerCall {
        try layer.build(inputShape: inputShape)
        return try LayerCall(layer, inputShape: inputShape, x: randomArray(n * inputShape.reduce(1, *), seed: 3),
                             n: n, params: positiveVariances(layer, randomArray(layer.parameterCount, seed: 4)),
                             dy: randomArray(n * layer.outputCount, seed: 5), context: context)
    }

    /// Random weights, but a moving variance must be positive for the normalisation to be finite.
    static func positiveVariances(_ layer: Layer, _ params: [Float]) -> [Float] {
        var p = params, offset = 0
        for spec in layer.parameters {
            if spec.name == "moving_variance" { for i in offset..<(offset + spec.count) { p[i] = abs(p[i]) + 0.5 } }
            offset += spec.count
        }
        return p
    }

    static func context(training: Bool, _ fusion: LayerFusion = []) -> ForwardContext {
        (training ? LayerHarness.training : .inference).with(fusion)
    }

    @Test func everyLayerTypeHasASample() {
        for type in ModelConfig.layerTypes {
            #expect(Self.samples[type]?.isEmpty == false, "\(type) has no configuration in LayerContractTests.samples")
        }
        #expect(Set(Self.samples.keys) == Set(ModelConfig.layerTypes))
    }

    @Test(arguments: ModelConfig.layerTypes)
    func backwardWritesEveryGradientAndInputGradient(type: String) throws {
        let samples = try #require(Self.samples[type], "\(type) has no configuration in LayerContractTests.samples")
        for sample in samples {
            for training in [false, true] {
                let layer = try sample.make()
                let r = try Self.call(layer, sample.inputShape, context: Self.context(training: training))
                let label = "\(type) \(layer.config) on \(sample.inputShape), training \(training)"
                #expect(layer.typeName == type, "\(label): typeName")
                #expect(r.y.allSatisfy { $0.isFinite }, "\(label): output")
                #expect(r.dx.allSatisfy { $0.isFinite }, "\(label): dx has unwritten values")
                #expect(r.grads.allSatisfy { $0.isFinite }, "\(label): grads has unwritten values")
            }
        }
    }

    /// The first trainable layer gets `dx = nil`: the weight gradients must still all be written.
    @Test(arguments: ["Dense", "Conv2D", "BatchNormalization"])
    func withoutAnInputGradientEveryGradientIsStillWritten(type: String) throws {
        for sample in Self.samples[type] ?? [] {
            for training in [false, true] {
                let layer = try sample.make()
                let shape = sample.inputShape, n = Self.n
                try layer.build(inputShape: shape)
                let context = Self.context(training: training)
                var x = randomArray(n * shape.reduce(1, *), seed: 3)
                let params = Self.positiveVariances(layer, randomArray(layer.parameterCount, seed: 4)) + [0]
                var y = [Float](repeating: 0, count: n * layer.outputCount), dy = randomArray(y.count, seed: 5)
                var grads = [Float](repeating: .nan, count: layer.parameterCount + 1)
                var scratch = [Float](repeating: 0, count: max(1, layer.scratchCount(batch: n)))
                x.withUnsafeMutableBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                    params.withUnsafeBufferPointer { pp in scratch.withUnsafeMutableBufferPointer { sp in
                        dy.withUnsafeMutableBufferPointer { dyp in grads.withUnsafeMutableBufferPointer { gp in
                            layer.forward(x: xp.baseAddress!, y: yp.baseAddress!, n: n, params: pp.baseAddress!,
                                          scratch: sp.baseAddress!, context: context)
                            layer.backward(x: xp.baseAddress!, y: yp.baseAddress!, dy: dyp.baseAddress!, dx: nil, n: n,
                                           params: pp.baseAddress!, grads: gp.baseAddress!, scratch: sp.baseAddress!,
                                           context: context)
                        } }
                    } }
                } }
                #expect(grads.dropLast().allSatisfy { $0.isFinite }, "\(type) \(layer.config), training \(training)")
            }
        }
    }

    /// What the FusionPlan hands a layer, one option at a time; `allGradients` false where the option allows the
    /// layer to leave `grads` as it was (`skipsParameterGradients`: a frozen layer's weight gradients are never
    /// read, so only dx must be written).
    static let fused: [(name: String, sample: Sample, fusion: LayerFusion, allGradients: Bool)] = [
        ("Dense softmax, activation left to the loss",
         Sample(make: { try Dense(units: 4, activation: .softmax) }, inputShape: [6]), .defersActivation, true),
        ("Dense sigmoid, activation left to the loss",
         Sample(make: { try Dense(units: 1, activation: .sigmoid) }, inputShape: [6]), .defersActivation, true),
        ("Dense gelu, activation left to the loss",
         Sample(make: { try Dense(units: 3, activation: .gelu) }, inputShape: [6]), .defersActivation, true),
        ("frozen Dense", Sample(make: { try Dense(units: 4, activation: .relu) }, inputShape: [6]),
         .skipsParameterGradients, false),
        ("frozen Dense without bias", Sample(make: { try Dense(units: 4, useBias: false) }, inputShape: [6]),
         .skipsParameterGradients, false),
        ("Conv2D softmax, activation left to the loss",
         Sample(make: { try Conv2D(filters: 3, kernelSize: [3, 3], activation: .softmax) }, inputShape: [5, 5, 2]),
         .defersActivation, true),
        ("Conv2D sigmoid, activation left to the loss",
         Sample(make: { try Conv2D(filters: 16, kernelSize: [3, 3], activation: .sigmoid) }, inputShape: [6, 6, 2]),
         .defersActivation, true),
        ("Conv2D relu, gradient left to the pool",
         Sample(make: { try Conv2D(filters: 16, kernelSize: [3, 3], activation: .relu) }, inputShape: [7, 7, 2]),
         .reluGradientLeftToNext, true),
        ("Conv2D relu, im2col, gradient left to the pool",
         Sample(make: { try Conv2D(filters: 3, kernelSize: [3, 3], padding: .same, activation: .relu) },
                inputShape: [5, 6, 2]), .reluGradientLeftToNext, true),
        ("frozen Conv2D", Sample(make: { try Conv2D(filters: 4, kernelSize: [3, 3]) }, inputShape: [5, 5, 2]),
         .skipsParameterGradients, false),
        ("MaxPooling2D 2×2 applying the ReLU gradient", Sample(make: { try MaxPooling2D() }, inputShape: [5, 7, 16]),
         .appliesPreviousReLUGradient, true),
        ("MaxPooling2D 2×2 applying the ReLU gradient, 3 channels",
         Sample(make: { try MaxPooling2D() }, inputShape: [6, 6, 3]), .appliesPreviousReLUGradient, true),
        ("MaxPooling2D 3×3 applying the ReLU gradient",
         Sample(make: { try MaxPooling2D(poolSize: [3, 3]) }, inputShape: [6, 6, 16]), .appliesPreviousReLUGradient, true),
        ("MaxPooling2D 3×3 same applying the ReLU gradient",
         Sample(make: { try MaxPooling2D(poolSize: [3, 3], strides: [2, 2], padding: .same) }, inputShape: [5, 6, 3]),
         .appliesPreviousReLUGradient, true),
        ("Activation softmax, left to the loss", Sample(make: { ActivationLayer(.softmax) }, inputShape: [4]),
         .defersActivation, true),
        ("Softmax, left to the loss", Sample(make: { try Softmax() }, inputShape: [4]), .defersActivation, true),
        ("frozen BatchNormalization", Sample(make: { try BatchNormalization() }, inputShape: [3, 3, 4]), .frozen, true),
        ("frozen BatchNormalization, no weight gradients",
         Sample(make: { try BatchNormalization() }, inputShape: [3, 3, 4]), [.frozen, .skipsParameterGradients], false),
    ]

    @Test(arguments: fused.indices)
    func fusedCallsKeepTheContract(index: Int) throws {
        let f = Self.fused[index]
        for training in [false, true] {
            let layer = try f.sample.make()
            let r = try Self.call(layer, f.sample.inputShape, context: Self.context(training: training, f.fusion))
            #expect(r.dx.allSatisfy { $0.isFinite }, "\(f.name), training \(training): dx has unwritten values")
            if f.allGradients {
                #expect(r.grads.allSatisfy { $0.isFinite }, "\(f.name), training \(training): grads has unwritten values")
            }
        }
    }
}
