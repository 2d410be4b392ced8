import Foundation
import SequentNN

/// The IDX format of MNIST and Fashion-MNIST: a magic number (`0x00 0x00 type ndim`), `ndim` big-endian
/// 32-bit dimensions, then the data. Only unsigned bytes (type 0x08) occur in these datasets.
public enum IDX {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// An IDX array of unsigned bytes.
    public struct Array: Sendable {
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    /// Reads a file, gunzipping it when it is gzipped.
    public static func read(contentsOf url: URL) throws -> Array {
        let raw: Data
        do { raw = try Data(contentsOf: url) } catch {
            throw Error(description: "cannot read \(url.path): \(error.localizedDescription)")
        }
        do {
            return try parse(Gzip.isGzip(raw) ? Gzip.decompress(raw) : raw)
        } catch let e as Error {
            throw Error(description: "\(url.lastPathComponent): \(e.description)")
        }
    }

    /// Parses IDX bytes.
    public static func parse(_ data: Data) throws -> Array {
        // Only the header is copied out to read it: the data of a training file is 47 MB, and copying all of it
        // before slicing off the header doubled the loader's peak.
        let b = [UInt8](data.prefix(4 + 4 * 255))
        guard b.count >= 4, b[0] == 0, b[1] == 0 else { throw Error(description: "not an IDX file (bad magic number)") }
        guard b[2] == 0x08 else { throw Error(description: "IDX element type 0x\(String(b[2], radix: 16)) is not supported (only unsigned bytes)") }
        let ndim = Int(b[3])
        guard ndim >= 1, b.count >= 4 + 4 * ndim else { throw Error(description: "IDX header is truncated") }
        var shape: [Int] = []
        var total = 1
        for d in 0..<ndim {
            let o = 4 + 4 * d
            let v = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            shape.append(v)
            let (product, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow else { throw Error(description: "IDX dimensions \(shape) overflow") }
            total = product
        }
        let start = 4 + 4 * ndim
        guard data.count - start == total else {
            throw Error(description: "IDX data has \(data.count - start) bytes, the header \(shape) says \(total)")
        }
        return Array(shape: shape, bytes: [UInt8](data.dropFirst(start)))
    }
}
