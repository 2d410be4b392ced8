import Foundation

/// A tensor of the graph being built: its name, its per-sample shape in Keras's order (`[H, W, C]` for an image)
/// and whether the graph holds it channels-first (`[N, C, H, W]`), as it does between convolutions and pools.
struct TensorValue {
    var name: String
    var shape: [Int]
    var channelsFirst: Bool

    /// The ONNX axis of the channels: 1 when channels-first, else the last.
    var channelAxis: Int64 { channelsFirst && shape.count == 3 ? 1 : -1 }
}

/// Collects the graph's nodes and weights, and gives every tensor and node a unique name.
struct GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var names: Set<String> = ["input", "output"]

    /// `base`, or `base_1`, `base_2`, … if it is taken.
    mutating func fresh(_ base: String) -> String {
        var name = base, k = 0
        while names.contains(name) {
            k += 1
            name = "\(base)_\(k)"
        }
        names.insert(name)
        return name
    }

    /// Adds a float32 weight and returns its name.
    mutating func weight(_ base: String, shape: [Int], values: [Float]) -> String {
        precondition(shape.reduce(1, *) == values.count, "\(base): \(values.count) values for shape \(shape)")
        var t = Onnx_TensorProto()
        t.name = fresh(base)
        t.dims = shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        // ONNX's raw_data is little-endian, as every machine Sequent runs on is.
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        initializers.append(t)
        return t.name
    }

    /// A float32 scalar (for Mul, Add, Clip's bounds…).
    mutating func scalar(_ base: String, _ value: Float) -> String {
        weight(base, shape: [], values: [value])
    }

    /// Adds a node with one output, `base/op` (made unique), and returns that output's name, which also names
    /// the node (ONNX keeps node and tensor names apart).
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ base: String,
                       _ attributes: [Onnx_AttributeProto] = []) -> String {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = [fresh("\(base)/\(op)")]
        n.name = n.output[0]
        n.attribute = attributes
        nodes.append(n)
        return n.output[0]
    }

    /// The same tensor held channels-first, transposing an image that is channel-last.
    mutating func channelsFirst(_ v: TensorValue) -> TensorValue {
        guard v.shape.count == 3, !v.channelsFirst else { return v }
        let name = node("Transpose", [v.name], v.name, [.ints("perm", [0, 3, 1, 2])])
        return TensorValue(name: name, shape: v.shape, channelsFirst: true)
    }

    /// The same tensor in Keras's channel-last order, transposing an image that is channels-first.
    mutating func channelsLast(_ v: TensorValue) -> TensorValue {
        guard v.shape.count == 3, v.channelsFirst else { return v }
        let name = node("Transpose", [v.name], v.name, [.ints("perm", [0, 2, 3, 1])])
        return TensorValue(name: name, shape: v.shape, channelsFirst: false)
    }

    /// Makes `name` the graph's output `to`: the node that makes it is renamed when nothing else reads it,
    /// otherwise (or when `name` is the graph input itself) an Identity is added.
    mutating func rename(_ name: String, to output: String) {
        let read = nodes.contains { $0.input.contains(name) }
        if !read, let i = nodes.lastIndex(where: { $0.output.contains(name) }) {
            nodes[i].output = nodes[i].output.map { $0 == name ? output : $0 }
            return
        }
        var n = Onnx_NodeProto()
        n.opType = "Identity"
        n.input = [name]
        n.output = [output]
        n.name = "output/Identity"
        nodes.append(n)
    }
}

extension Onnx_AttributeProto {
    static func int(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = value
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}
