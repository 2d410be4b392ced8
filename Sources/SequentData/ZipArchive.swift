import CZlib
import Foundation

/// Reads a zip archive from memory and extracts it safely: every entry is checked before anything is written
/// (no absolute paths, no `..`, no backslashes, no symbolic links, bounded entry count, total size and
/// compression ratio, CRC-32 verified), and the tree is built in a temporary directory that is renamed into
/// place only when complete — a bad upload writes nothing outside that directory and leaves nothing behind.
public enum ZipArchive {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
        init(_ d: String) { description = d }
    }

    public struct Limits: Sendable {
        public var maxEntries = 100_000
        public var maxTotalBytes = 4 << 30
        /// Uncompressed/compressed beyond this is treated as a zip bomb.
        public var maxRatio = 200
        public init() {}
    }

    public struct Entry: Sendable {
        public var path: String
        public var isDirectory: Bool
        public var method: UInt16
        public var compressedSize: Int
        public var size: Int
        public var crc: UInt32
        var dataOffset: Int
    }

    static func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> Int { u16(b, i) | u16(b, i + 2) << 16 }

    /// Lists and validates the entries (central directory), without extracting.
    public static func entries(_ b: [UInt8], limits: Limits = Limits()) throws -> [Entry] {
        guard b.count >= 22 else { throw Error("not a zip archive (too short)") }
        // End of central directory: last 22 bytes plus up to 64 KiB of comment.
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65_535) {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 5 && b[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw Error("not a zip archive (no end-of-central-directory record)") }
        let count = u16(b, eocd + 10), cdSize = u32(b, eocd + 12), cdOffset = u32(b, eocd + 16)
        guard count != 0xFFFF, cdOffset != 0xFFFF_FFFF else { throw Error("zip64 archives are not supported") }
        guard count <= limits.maxEntries else { throw Error("the archive has \(count) entries, the limit is \(limits.maxEntries)") }
        guard cdOffset + cdSize <= eocd else { throw Error("corrupt zip: the central directory lies outside the file") }
        var out: [Entry] = []
        var p = cdOffset, total = 0
        for _ in 0..<count {
            guard p + 46 <= b.count, u32(b, p) == 0x0201_4B50 else { throw Error("corrupt zip: bad central directory entry") }
            let flags = u16(b, p + 8), method = UInt16(u16(b, p + 10))
            let crc = UInt32(u32(b, p + 16)), csize = u32(b, p + 20), size = u32(b, p + 24)
            let nameLen = u16(b, p + 28), extraLen = u16(b, p + 30), commentLen = u16(b, p + 32)
            let madeBy = u16(b, p + 4) >> 8, external = u32(b, p + 38), localOffset = u32(b, p + 42)
            guard p + 46 + nameLen <= b.count else { throw Error("corrupt zip: truncated file name") }
            let name = String(decoding: b[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            p += 46 + nameLen + extraLen + commentLen
            guard flags & 1 == 0 else { throw Error("\(name): encrypted entries are not supported") }
            // Unix mode in the high half of the external attributes: 0o120000 is a symbolic link.
            if madeBy == 3 && (external >> 16) & 0o170000 == 0o120000 { throw Error("\(name): symbolic links are not allowed") }
            try checkPath(name)
            guard method == 0 || method == 8 else { throw Error("\(name): compression method \(method) is not supported (use deflate or store)") }
            total += size
            guard total <= limits.maxTotalBytes else { throw Error("the archive expands to more than \(limits.maxTotalBytes) bytes") }
            guard size <= max(csize, 1) * limits.maxRatio else { throw Error("\(name): compression ratio above \(limits.maxRatio):1 (zip bomb?)") }
            // The local header repeats name and extra field lengths, which may differ from the central ones.
            guard localOffset + 30 <= b.count, u32(b, localOffset) == 0x0403_4B50 else { throw Error("\(name): corrupt local header") }
            let dataOffset = localOffset + 30 + u16(b, localOffset + 26) + u16(b, localOffset + 28)
            guard dataOffset + csize <= b.count else { throw Error("\(name): data lies outside the archive (truncated?)") }
            out.append(Entry(path: name, isDirectory: name.hasSuffix("/"), method: method, compressedSize: csize, size: size,
                             crc: crc, dataOffset: dataOffset))
        }
        return out
    }

    /// Rejects anything that could land outside the extraction directory.
    static func checkPath(_ name: String) throws {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.contains("\0"),
              !(name.count >= 2 && name.dropFirst().hasPrefix(":")) else {
            throw Error("\(name): absolute or malformed paths are not allowed")
        }
        for part in name.split(separator: "/", omittingEmptySubsequences: true) where part == ".." {
            throw Error("\(name): '..' in a path is not allowed")
        }
    }

    /// The bytes of one entry, inflated and CRC-checked.
    public static func data(of e: Entry, in b: [UInt8]) throws -> [UInt8] {
        let raw = Array(b[e.dataOffset..<(e.dataOffset + e.compressedSize)])
        var out: [UInt8]
        if e.method == 0 {
            out = raw
        } else {
            out = [UInt8](repeating: 0, count: max(e.size, 1))
            var stream = z_stream()
            guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw Error("zlib init failed") }
            defer { inflateEnd(&stream) }
            let status: Int32 = raw.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                    stream.avail_in = uInt(src.count)
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(e.size)
                    return inflate(&stream, Z_FINISH)
                }
            }
            guard status == Z_STREAM_END, Int(stream.total_out) == e.size else { throw Error("\(e.path): corrupt compressed data") }
            out.removeLast(out.count - e.size)
        }
        guard out.count == e.size else { throw Error("\(e.path): size does not match the directory") }
        let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == e.crc else { throw Error("\(e.path): CRC mismatch (corrupt archive)") }
        return out
    }

    /// Extracts into `destination` (which must not exist yet), via a temporary sibling directory.
    public static func extract(_ b: [UInt8], to destination: URL, limits: Limits = Limits()) throws -> [Entry] {
        let list = try entries(b, limits: limits)
        let fm = FileManager.default
        let staging = destination.deletingLastPathComponent().appendingPathComponent(".upload-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        do {
            for e in list {
                let target = staging.appendingPathComponent(e.path)
                // Belt and braces: the resolved path must stay inside the staging directory.
                guard target.standardizedFileURL.path.hasPrefix(staging.standardizedFileURL.path + "/") else {
                    throw Error("\(e.path): escapes the dataset directory")
                }
                if e.isDirectory {
                    try fm.createDirectory(at: target, withIntermediateDirectories: true)
                } else {
                    try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data(try data(of: e, in: b)).write(to: target)
                }
            }
            try fm.moveItem(at: staging, to: destination)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        return list
    }
}
