import CZlib
import Foundation

/// gzip/zlib decompression through zlib (the IDX files ship gzipped).
public enum Gzip {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// True when `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Inflates a gzip (or zlib) stream. `limit` bounds the output so a crafted file cannot exhaust memory.
    public static func decompress(_ data: Data, limit: Int = 1 << 31) throws -> Data {
        var stream = z_stream()
        // 15 + 32: accept both gzip and zlib headers.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Error(description: "zlib: inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let msg = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                        throw Error(description: "gzip: corrupt data (\(msg))")
                    }
                    out.append(buf.baseAddress!, count: buf.count - Int(stream.avail_out))
                }
                if out.count > limit { throw Error(description: "gzip: output exceeds \(limit) bytes") }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw Error(description: "gzip: truncated stream")
                }
            } while status != Z_STREAM_END
        }
        return out
    }
}
