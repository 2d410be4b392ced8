import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor's name
/// to `{"dtype": "F32", "shape": […], "data_offsets": [begin, end]}` (plus optional `__metadata__` of strings),
/// then the raw little-endian data. Readable from Python with `safetensors.numpy.load_file`.
public enum Safetensors {
    /// Encodes tensors (written in name order, so files are reproducible).
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: JSONValue] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * 4
            header[name] = .object(["dtype": "F32", "shape": .ints(t.shape),
                                    "data_offsets": .ints([offset, offset + bytes])])
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var json = Array(JSONValue.object(header).serialized().utf8)
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        for name in names {
            tensors[name]!.scalars.withUnsafeBytes { data.append(contentsOf: $0) }   // x86-64/arm64: little-endian
        }
        return data
    }

    /// Decodes a file; validates the header, dtypes, shapes and offsets against the data.
    public static func decode(_ data: Data) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard data.count >= 8 else { throw TrainingError("safetensors: file is \(data.count) bytes, too short for a header") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw TrainingError("safetensors: header length \(headerLength) exceeds the file")
        }
        let start = data.startIndex
        let header = try JSONValue.parse(data.subdata(in: (start + 8)..<(start + 8 + Int(headerLength))))
        guard case .object(let entries) = header else { throw TrainingError("safetensors: header is not an object") }
        let body = data.subdata(in: (start + 8 + Int(headerLength))..<data.endIndex)
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                metadata = (entry.objectValue ?? [:]).compactMapValues { $0.stringValue }
                continue
            }
            guard entry["dtype"]?.stringValue == "F32" else {
                throw TrainingError("safetensors: \(name) has dtype \(entry["dtype"]?.brief ?? "none"), only F32 is supported")
            }
            guard let shape = entry["shape"]?.arrayValue?.compactMap(\.intValue),
                  let offsets = entry["data_offsets"]?.arrayValue?.compactMap(\.intValue), offsets.count == 2,
                  shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body.count,
                  offsets[1] - offsets[0] == shape.reduce(1, *) * 4
            else { throw TrainingError("safetensors: \(name) has an invalid shape or data_offsets") }
            var scalars = [Float](repeating: 0, count: shape.reduce(1, *))
            scalars.withUnsafeMutableBytes { dst in
                body.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offsets[0]..<offsets[1]]))
                }
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return (tensors, metadata)
    }
}
