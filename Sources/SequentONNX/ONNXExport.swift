import Foundation
import SequentNN
import SwiftProtobuf

/// Writes a Sequential model as an ONNX model (a serialized `ModelProto`), for ONNX Runtime and other tools.
///
/// The graph takes `input`, float32 `[N, H, W, C]` (Keras's NHWC, or `[N] + inputShape` for any other input) with
/// a symbolic batch dimension `N`, and gives `output`, `[N] + model.outputShape`: what the model's last layer
/// gives, its softmax or sigmoid included, as `Predictor` returns it. Convolutions and pools run in ONNX's NCHW,
/// so the graph transposes into it before them and back before anything that reads the channel-last order
/// (Flatten, Dense, the output), which keeps Flatten's order Keras's. Opset 17, IR version 8: the versions ONNX
/// Runtime and most converters have read for years.
public enum ONNXExport {
    /// The default-domain operator set the graph uses.
    public static let opsetVersion: Int64 = 17
    /// IR version 8 is the one that goes with opset 17.
    public static let irVersion: Int64 = 8
    /// The `metadata_props` key of the class names (a JSON array of strings).
    public static let classNamesKey = "class_names"

    /// The model as a serialized ONNX `ModelProto`, with its current weights.
    ///
    /// `modelName` names the graph; `classNames`, when given, go into `metadata_props` under `class_names`.
    /// Throws `ONNXExportError` naming the first layer that ONNX cannot express the way Sequent runs it.
    public static func export(_ model: Sequential, modelName: String, classNames: [String]?) throws -> [UInt8] {
        let proto = try modelProto(model, modelName: modelName, classNames: classNames)
        let data: Data = try proto.serializedBytes()
        return [UInt8](data)
    }

    /// The `ModelProto` itself (tests read it without a round trip through bytes).
    static func modelProto(_ model: Sequential, modelName: String, classNames: [String]?) throws -> Onnx_ModelProto {
        var graph = GraphBuilder()
        var value = TensorValue(name: "input", shape: model.inputShape, channelsFirst: false)
        var previousShape = model.inputShape
        for (i, layer) in model.layers.enumerated() {
            value = try graph.emit(layer, weights: model.weights(ofLayer: i), input: value, inputShape: previousShape)
            previousShape = layer.outputShape
        }
        value = graph.channelsLast(value)
        graph.rename(value.name, to: "output")

        var g = Onnx_GraphProto()
        g.name = modelName
        g.node = graph.nodes
        g.initializer = graph.initializers
        g.input = [valueInfo("input", shape: model.inputShape)]
        g.output = [valueInfo("output", shape: model.outputShape)]

        var m = Onnx_ModelProto()
        m.irVersion = irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = opsetVersion
        m.opsetImport = [opset]
        m.producerName = "Sequent"
        m.graph = g
        m.docString = "Sequential model \"\(model.name)\" exported by Sequent; input NHWC float32 with batch N"
        if let classNames {
            var entry = Onnx_StringStringEntryProto()
            entry.key = classNamesKey
            entry.value = String(decoding: try JSONEncoder().encode(classNames), as: UTF8.self)
            m.metadataProps = [entry]
        }
        return m
    }

    /// A float32 tensor `[N] + shape` with the symbolic batch dimension `N`.
    private static func valueInfo(_ name: String, shape: [Int]) -> Onnx_ValueInfoProto {
        var dims: [Onnx_TensorShapeProto.Dimension] = []
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        dims.append(batch)
        for d in shape {
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(d)
            dims.append(dim)
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = dims
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }
}

/// A layer the exporter cannot write as ONNX: the layer's name and type, and why.
/// A request error (the model cannot be written as ONNX), not a server fault.
public struct ONNXExportError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The layer's name in the model (`dense_1`).
    public var layer: String
    /// Its Keras type (`Dense`).
    public var type: String
    /// What ONNX cannot express.
    public var reason: String
    /// An error for layer `layer` of type `type`.
    public init(layer: String, type: String, reason: String) {
        self.layer = layer
        self.type = type
        self.reason = reason
    }
    public var description: String { "layer \(layer) (\(type)) cannot be exported to ONNX: \(reason)" }
}
