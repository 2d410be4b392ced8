import Foundation
import SequentNN

/// The Open Inference Protocol v2 (KServe, Triton) over REST: the request and response bodies of
/// `POST /v2/models/{name}/infer`, including the binary tensor data extension, which `tritonclient.http` uses by
/// default. A body is a JSON header, optionally followed by raw tensor bytes; the `Inference-Header-Content-Length`
/// header says where the JSON ends. Written here rather than taken from a library: no Swift package implements
/// the protocol, and it is a JSON schema plus one framing rule.
enum InferenceProtocol {
    /// The model's one input tensor, and its outputs: `output` is what the last layer gives (what Keras's
    /// `model.predict` returns, logits included), `probabilities` the same rows as probabilities.
    static let inputName = "input"
    static let outputNames = ["output", "probabilities"]
    /// The header that splits a body into its JSON part and its binary tensor data.
    static let headerLengthField = "inference-header-content-length"
    /// At most this many samples per request, as the other predict routes.
    static let maxBatch = 1024

    /// One requested output: its name, whether it goes in the binary section, and for the classification
    /// extension the number of top classes to return as `"score:index:label"` strings instead of the tensor.
    struct RequestedOutput: Equatable {
        var name: String
        var binary: Bool
        var classification: Int
    }

    /// A parsed inference request: `n` samples of the model's input, flattened.
    struct Request {
        var id: String?
        var n: Int
        var values: [Float]
        var outputs: [RequestedOutput]
    }

    /// Parses `body` for a model with `inputShape`; 400s name the field at fault.
    static func parse(_ body: [UInt8], headerLength: String?, inputShape: [Int]) throws -> Request {
        var jsonEnd = body.count
        if let headerLength {
            guard let n = Int(headerLength.trimmingCharacters(in: .whitespaces)), (0...body.count).contains(n) else {
                throw ServiceError(400, "invalid_request",
                                   "Inference-Header-Content-Length \"\(headerLength)\" is not a length within the body's \(body.count) bytes")
            }
            jsonEnd = n
        }
        let header: JSONValue
        do { header = try JSONValue.parse(Data(body[0..<jsonEnd])) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_json", "the inference request \(e.detail)")
        }
        guard case .object = header else {
            throw ServiceError(400, "invalid_json", "the inference request must be a JSON object with \"inputs\"")
        }
        guard let inputs = header["inputs"]?.arrayValue, !inputs.isEmpty else {
            throw ServiceError(400, "invalid_request", "the request has no \"inputs\"", field: "inputs")
        }
        guard inputs.count == 1 else {
            throw ServiceError(400, "invalid_request", "the model has one input, \"\(inputName)\"; the request has \(inputs.count)",
                               field: "inputs")
        }
        let input = inputs[0]
        let name = input["name"]?.stringValue ?? ""
        guard name == inputName else {
            throw ServiceError(400, "invalid_request", "unexpected input \"\(name)\": the model's input is \"\(inputName)\"",
                               field: "inputs[0].name")
        }
        guard let datatype = input["datatype"]?.stringValue, datatype == "FP32" else {
            throw ServiceError(400, "invalid_request",
                               "input datatype \(input["datatype"]?.brief ?? "missing"): the model takes FP32",
                               field: "inputs[0].datatype")
        }
        let dims = input["shape"]?.arrayValue ?? []
        let shape = dims.compactMap(\.intValue)
        guard !shape.isEmpty, shape.count == dims.count else {
            throw ServiceError(400, "invalid_request", "input shape must be a list of integers", field: "inputs[0].shape")
        }
        guard Array(shape.dropFirst()) == inputShape, (1...maxBatch).contains(shape[0]) else {
            throw ServiceError(400, "invalid_request",
                               "input shape \(shape) does not match the model's [N] + \(inputShape) with 1 ≤ N ≤ \(maxBatch)",
                               field: "inputs[0].shape")
        }
        let count = shape.reduce(1, *)
        var values: [Float]
        if let size = input["parameters"]?["binary_data_size"] {
            guard let bytes = size.intValue, bytes == count * 4 else {
                throw ServiceError(400, "invalid_request",
                                   "binary_data_size \(size.brief) is not \(count) FP32 values (\(count * 4) bytes)",
                                   field: "inputs[0].parameters.binary_data_size")
            }
            guard body.count - jsonEnd == bytes else {
                throw ServiceError(400, "invalid_request",
                                   "the body has \(body.count - jsonEnd) bytes of binary data after its JSON header, the input needs \(bytes)",
                                   field: "inputs[0].parameters.binary_data_size")
            }
            values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { out in
                body.withUnsafeBytes { raw in out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[jsonEnd..<(jsonEnd + bytes)])) }
            }
            // The protocol's binary tensors are little-endian, as this machine is; a big-endian host would swap here.
            #if _endian(big)
            values = values.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
            #endif
        } else {
            guard let data = input["data"] else {
                throw ServiceError(400, "invalid_request", "the input has neither \"data\" nor binary_data_size",
                                   field: "inputs[0].data")
            }
            values = []
            values.reserveCapacity(count)
            try flatten(data, into: &values, limit: count)
            guard values.count == count else {
                throw ServiceError(400, "invalid_request", "the input's data has \(values.count) values, its shape \(shape) needs \(count)",
                                   field: "inputs[0].data")
            }
        }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw ServiceError(400, "invalid_request", "the input holds a non-finite number", field: "inputs[0].data")
        }
        let binaryDefault = header["parameters"]?["binary_data_output"]?.boolValue ?? false
        var outputs: [RequestedOutput] = []
        if let requested = header["outputs"]?.arrayValue {
            for (i, o) in requested.enumerated() {
                guard let name = o["name"]?.stringValue, outputNames.contains(name) else {
                    throw ServiceError(400, "invalid_request",
                                       "unexpected output \(o["name"]?.brief ?? "without a name"): the model's outputs are \(outputNames.joined(separator: ", "))",
                                       field: "outputs[\(i)].name")
                }
                let classes = o["parameters"]?["classification"]
                guard classes == nil || (classes?.intValue ?? 0) >= 1 else {
                    throw ServiceError(400, "invalid_request", "classification must be a count of classes ≥ 1",
                                       field: "outputs[\(i)].parameters.classification")
                }
                outputs.append(RequestedOutput(name: name, binary: o["parameters"]?["binary_data"]?.boolValue ?? binaryDefault,
                                               classification: classes?.intValue ?? 0))
            }
        } else {
            outputs = outputNames.map { RequestedOutput(name: $0, binary: binaryDefault, classification: 0) }
        }
        let id = header["id"]?.stringValue
        return Request(id: id, n: shape[0], values: values, outputs: outputs)
    }

    /// Appends the numbers of `data` (flat, or nested row-major as the protocol allows) to `values`, stopping with a
    /// 400 past `limit` so a huge body cannot grow the array without bound.
    private static func flatten(_ data: JSONValue, into values: inout [Float], limit: Int) throws {
        if let d = data.doubleValue {
            guard values.count < limit else {
                throw ServiceError(400, "invalid_request", "the input's data has more than the \(limit) values its shape needs",
                                   field: "inputs[0].data")
            }
            values.append(Float(d))
            return
        }
        guard let items = data.arrayValue else {
            throw ServiceError(400, "invalid_request", "the input's data must be numbers, found \(data.brief)", field: "inputs[0].data")
        }
        for item in items { try flatten(item, into: &values, limit: limit) }
    }

    /// One output tensor of the answer.
    struct OutputTensor {
        var name: String
        var shape: [Int]
        /// FP32 values, or for a classification output its strings (datatype BYTES).
        var floats: [Float]
        var strings: [String]?
        var binary: Bool

        var bytes: [UInt8] {
            if let strings {
                // BYTES elements in binary form: each a 4-byte little-endian length, then its bytes.
                var out: [UInt8] = []
                for s in strings {
                    let utf8 = Array(s.utf8)
                    withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { out.append(contentsOf: $0) }
                    out.append(contentsOf: utf8)
                }
                return out
            }
            return floats.withUnsafeBytes { Array($0) }
        }
    }

    /// The answer's body and headers: JSON alone, or the JSON header then the binary outputs in order.
    static func response(modelName: String, version: String, id: String?, outputs: [OutputTensor]) -> HTTPResponseParts {
        var binary: [UInt8] = []
        let described: [JSONValue] = outputs.map { o in
            var d: [String: JSONValue] = ["name": .string(o.name), "shape": .ints(o.shape),
                                          "datatype": .string(o.strings == nil ? "FP32" : "BYTES")]
            if o.binary {
                let bytes = o.bytes
                d["parameters"] = ["binary_data_size": .number(Double(bytes.count))]
                binary += bytes
            } else if let strings = o.strings {
                d["data"] = .array(strings.map { .string($0) })
            } else {
                d["data"] = .array(o.floats.map { .number(Double($0)) })
            }
            return .object(d)
        }
        var header: [String: JSONValue] = ["model_name": .string(modelName), "model_version": .string(version),
                                           "outputs": .array(described)]
        if let id { header["id"] = .string(id) }
        let json = Array(JSONValue.object(header).serialized().utf8)
        if binary.isEmpty { return HTTPResponseParts(body: json, headerLength: nil) }
        return HTTPResponseParts(body: json + binary, headerLength: json.count)
    }

    struct HTTPResponseParts {
        var body: [UInt8]
        /// Set when binary data follows the JSON.
        var headerLength: Int?
    }

    /// The classification extension's strings for one sample: the `k` most probable classes as
    /// `"probability:index:label"`, most probable first (ties: the lower index).
    static func classification(_ probabilities: [Double], k: Int, labels: [String]) -> [String] {
        let order = probabilities.indices.sorted { (probabilities[$0], -$0) > (probabilities[$1], -$1) }
        return order.prefix(k).map { i in
            "\(Float(probabilities[i])):\(i):\(i < labels.count ? labels[i] : "class \(i)")"
        }
    }
}
