import Foundation
import SwiftProtobuf
import Testing
@testable import SequentONNX
import SequentNN

/// ONNX export: the ModelProto's structure here; the numbers through ONNX Runtime in scripts/onnx_roundtrip.py,
/// which reads the fixtures `writeRoundTripFixtures` leaves in `SEQUENT_ONNX_FIXTURES`.
@Suite struct ONNXExportTests {
    @Test(arguments: ExportCase.everything.map(\.name))
    func modelProtoDecodesWithBatchDimension(name: String) throws {
        let c = try ExportCase.make(name)
        let bytes = try ONNXExport.export(c.model, modelName: name, classNames: nil)
        let m = try Onnx_ModelProto(serializedBytes: bytes)
        #expect(m.irVersion >= 8)
        #expect(m.opsetImport.contains { $0.domain.isEmpty && $0.version >= 17 })
        #expect(m.graph.name == name)
        let input = try #require(m.graph.input.first)
        #expect(m.graph.input.count == 1 && input.name == "input")
        let inDims = input.type.tensorType.shape.dim
        #expect(inDims.first?.dimParam == "N")
        #expect(inDims.dropFirst().map(\.dimValue) == c.model.inputShape.map(Int64.init))
        #expect(input.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue))
        let output = try #require(m.graph.output.first)
        #expect(output.name == "output")
        #expect(output.type.tensorType.shape.dim.first?.dimParam == "N")
        #expect(output.type.tensorType.shape.dim.dropFirst().map(\.dimValue) == c.model.outputShape.map(Int64.init))
        // Some node makes the output, and every node input is the graph input, a weight or an earlier output.
        #expect(m.graph.node.contains { $0.output.contains("output") })
        var known = Set(["input"] + m.graph.initializer.map(\.name))
        for node in m.graph.node {
            for i in node.input { #expect(known.contains(i), "\(node.name) reads \(i) before anything makes it") }
            known.formUnion(node.output)
        }
        // Every weight holds as many floats as its dims say.
        for t in m.graph.initializer {
            #expect(t.rawData.count == 4 * Int(t.dims.reduce(1, *)), "\(t.name)")
        }
    }

    @Test func convolutionKernelsAreOIHWAndDenseKernelsAsKeras() throws {
        let model = try Sequential(inputShape: [5, 6, 3], layers: [
            Conv2D(filters: 4, kernelSize: [2, 3], padding: .same, name: "conv"),
            Flatten(name: "flat"),
            Dense(units: 7, name: "dense"),
        ])
        let m = try ExportCase.decode(model)
        let weights = Dictionary(uniqueKeysWithValues: m.graph.initializer.map { ($0.name, $0) })
        let kernel = try #require(weights["conv/kernel"])
        #expect(kernel.dims == [4, 3, 2, 3])
        // Element (f=1, c=2, y=1, x=0) of OIHW is Keras's HWIO (y=1, x=0, c=2, f=1).
        let hwio = model.weights(ofLayer: 0)[0]
        let oihw = kernel.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let (f, ch, y, x) = (1, 2, 1, 0)
        let exportedValue: Float = oihw[((f * 3 + ch) * 2 + y) * 3 + x]
        let kerasValue: Float = hwio.scalars[((y * 3 + x) * 3 + ch) * 4 + f]
        #expect(exportedValue == kerasValue)
        #expect(weights["dense/kernel"]?.dims == [5 * 6 * 4, 7])
        let conv = try #require(m.graph.node.first { $0.opType == "Conv" })
        // Height 5, window 2: one row of padding, at the bottom; width 6, window 3: one column each side.
        #expect(conv.attribute.first { $0.name == "pads" }?.ints == [0, 1, 1, 1])
        // Channels-last again before Flatten, so the features come in Keras's order.
        let ops = m.graph.node.map(\.opType)
        #expect(ops == ["Transpose", "Conv", "Transpose", "Flatten", "Gemm"])
    }

    @Test func classNamesGoToMetadata() throws {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, activation: .softmax)])
        let bytes = try ONNXExport.export(model, modelName: "m", classNames: ["cat", "dog \"quoted\""])
        let m = try Onnx_ModelProto(serializedBytes: bytes)
        let entry = try #require(m.metadataProps.first { $0.key == ONNXExport.classNamesKey })
        let decoded = try JSONDecoder().decode([String].self, from: Data(entry.value.utf8))
        #expect(decoded == ["cat", "dog \"quoted\""])
        let none = try Onnx_ModelProto(serializedBytes: ONNXExport.export(model, modelName: "m", classNames: nil))
        #expect(none.metadataProps.isEmpty)
    }

    @Test func batchNormalizationKeepsItsEpsilonAndStatistics() throws {
        let model = try Sequential(inputShape: [4, 4, 2], layers: [BatchNormalization(epsilon: 0.01, name: "bn")])
        try ExportCase.randomizeWeights(model, seed: 5)
        let m = try ExportCase.decode(model)
        let bn = try #require(m.graph.node.first { $0.opType == "BatchNormalization" })
        #expect(bn.attribute.first { $0.name == "epsilon" }?.f == 0.01)
        let weights = Dictionary(uniqueKeysWithValues: m.graph.initializer.map { ($0.name, $0) })
        let variance = try #require(weights[bn.input[4]]).rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(variance == model.weights(ofLayer: 0)[3].scalars)
    }

    @Test func aLayerWithoutMappingIsNamedInTheError() throws {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 3, name: "d"), Doubler(name: "twice")])
        #expect(throws: ONNXExportError(layer: "twice", type: "Doubler", reason: "no ONNX mapping for this layer type")) {
            try ONNXExport.export(model, modelName: "m", classNames: nil)
        }
    }

    /// Writes `<name>/model.onnx`, `input.bin`, `expected.bin` (little-endian float32) and `shapes.json` per case,
    /// the expected outputs from Sequent's Predictor, for scripts/onnx_roundtrip.py to compare with ONNX Runtime.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SEQUENT_ONNX_FIXTURES"] != nil,
                   "set SEQUENT_ONNX_FIXTURES to a directory to write the ONNX Runtime round-trip fixtures"))
    func writeRoundTripFixtures() throws {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["SEQUENT_ONNX_FIXTURES"]!)
        let n = 5
        for spec in ExportCase.everything {
            let c = try ExportCase.make(spec.name)
            let dir = root.appendingPathComponent(spec.name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let x = ExportCase.random(n * c.model.inputCount, seed: 99, range: c.inputRange)
            // The predictor owns the buffer its result points into, so it must outlive the copy.
            let predictor = c.model.makePredictor(maxBatch: n)
            let y = withExtendedLifetime(predictor) {
                x.withUnsafeBufferPointer { Array(predictor.predict($0.baseAddress!, n: n)) }
            }
            #expect(y.allSatisfy { $0.isFinite }, "\(spec.name)")
            try Data(ONNXExport.export(c.model, modelName: spec.name, classNames: nil))
                .write(to: dir.appendingPathComponent("model.onnx"))
            try x.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent("input.bin"))
            try y.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent("expected.bin"))
            let shapes = ["input": [n] + c.model.inputShape, "output": [n] + c.model.outputShape]
            try JSONEncoder().encode(shapes).write(to: dir.appendingPathComponent("shapes.json"))
        }
    }
}

/// A layer the exporter has never heard of.
private final class Doubler: Layer, @unchecked Sendable {
    let typeName = "Doubler"
    var name: String
    private(set) var outputShape: [Int] = []
    init(name: String) { self.name = name }
    func build(inputShape: [Int]) throws { outputShape = inputShape }
    func forward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, params: UnsafePointer<Float>,
                 scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        for i in 0..<(n * outputCount) { y[i] = 2 * x[i] }
    }
    func backward(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                  dx: UnsafeMutablePointer<Float>?, n: Int, params: UnsafePointer<Float>,
                  grads: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, context: ForwardContext) {
        guard let dx else { return }
        for i in 0..<(n * outputCount) { dx[i] = 2 * dy[i] }
    }
    var config: [String: JSONValue] { [:] }
}
