import CZlib
import Foundation

/// gzip/zlib decompression through zlib: whole buffers (the IDX files of Fashion-MNIST ship gzipped), or a stream
/// an output buffer at a time (a tar.gz upload on its way to libarchive, see `ArchiveByteRange`).
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
        let inflater = try Inflater()
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            var consumed = 0
            while true {
                let step = try chunk.withUnsafeMutableBytes {
                    try inflater.inflate(UnsafeRawBufferPointer(rebasing: input[consumed...]), into: $0)
                }
                consumed += step.consumed
                out.append(contentsOf: chunk[..<step.produced])
                if out.count > limit { throw Error(description: "gzip: output exceeds \(limit) bytes") }
                if step.ended { return }
                if step.produced == 0 && step.consumed == 0 {
                    // zlib always moves while it has input and room: no progress means the input ran out.
                    throw Error(description: "gzip: truncated stream")
                }
            }
        }
        return out
    }

    /// Decompression of a gzip (or zlib) stream an output buffer at a time. zlib keeps a pointer back to its
    /// `z_stream`, which therefore lives at a fixed address of its own rather than inside a movable Swift value.
    final class Inflater {
        private let stream: UnsafeMutablePointer<z_stream>

        /// A decompressor; throws when zlib cannot be set up.
        init() throws(Gzip.Error) {
            stream = .allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // A 32 KiB window; + 32 accepts either header.
            guard inflateInit2_(stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                stream.deallocate()
                throw Error(description: "zlib: inflateInit failed")
            }
        }

        deinit {
            inflateEnd(stream)
            stream.deallocate()
        }

        /// Inflates from `input` into `output` until one of them runs out or the stream ends.
        /// - Returns: how many input bytes were used, how many output bytes were made, and whether the end of the
        ///   stream (gzip member) was reached and its checksum verified.
        func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer)
            throws(Gzip.Error) -> (consumed: Int, produced: Int, ended: Bool) {
            guard output.count > 0 else { return (0, 0, false) }
            // zlib takes `next_in` as mutable but never writes through it.
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(input.count)
            stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(output.count)
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            let consumed = input.count - Int(stream.pointee.avail_in)
            let produced = output.count - Int(stream.pointee.avail_out)
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
            switch status {
            case Z_OK: return (consumed, produced, false)
            case Z_STREAM_END: return (consumed, produced, true)
            case Z_BUF_ERROR: return (consumed, produced, false)  // no progress possible: more input needed
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                throw Error(description: "gzip: corrupt data (\(message))")
            }
        }

        /// Prepares for another stream (the next member of a multi-member gzip file).
        func reset() {
            inflateReset(stream)
        }
    }
}
