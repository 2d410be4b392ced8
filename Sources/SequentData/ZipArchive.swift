import CZlib
import Foundation

/// Reads a zip archive — from memory, or from a file without loading it — and extracts it safely: every entry is
/// checked before anything is written (no absolute paths, no `..`, no backslashes, no symbolic links, bounded
/// entry count, total size and compression ratio), each entry is inflated in pieces straight to its file with its
/// CRC-32 verified, and the tree is built in a staging directory that is renamed into place only when complete —
/// a bad upload writes nothing outside that directory and leaves nothing behind (`ArchiveStaging`).
public enum ZipArchive {
    /// What a refused archive throws (shared with `TarArchive`).
    public typealias Error = ArchiveError
    /// Entry count, total size and compression ratio bounds (shared with `TarArchive`).
    public typealias Limits = ArchiveLimits

    /// An entry of the central directory.
    public struct Entry: Sendable {
        /// The name as stored in the archive (`cats/a.png`, `cats/` for a directory).
        public var path: String
        public var isDirectory: Bool
        /// 0 stored, 8 deflate.
        public var method: UInt16
        public var compressedSize: Int
        /// Uncompressed bytes.
        public var size: Int
        /// The CRC-32 of the uncompressed bytes, checked when they are read.
        public var crc: UInt32
        var dataOffset: Int
    }

    static func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> Int { u16(b, i) | u16(b, i + 2) << 16 }

    /// Lists and validates the entries (central directory), without extracting.
    public static func entries(_ b: [UInt8], limits: Limits = Limits()) throws -> [Entry] {
        try entries(ArchiveInput(bytes: b), limits: limits)
    }

    static func entries(_ input: ArchiveInput, limits: Limits) throws(ArchiveError) -> [Entry] {
        guard input.count >= 22 else { throw Error("not a zip archive (too short)") }
        // End of central directory: last 22 bytes plus up to 64 KiB of comment.
        let tailStart = max(0, input.count - 22 - 65_535)
        guard let tail = try input.bytes(at: tailStart, length: input.count - tailStart) else {
            throw Error("not a zip archive (too short)")
        }
        var found = -1
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4B && tail[i + 2] == 5 && tail[i + 3] == 6 { found = i; break }
            i -= 1
        }
        guard found >= 0 else { throw Error("not a zip archive (no end-of-central-directory record)") }
        let eocd = tailStart + found
        let count = u16(tail, found + 10), cdSize = u32(tail, found + 12), cdOffset = u32(tail, found + 16)
        guard count != 0xFFFF, cdOffset != 0xFFFF_FFFF else { throw Error("zip64 archives are not supported") }
        guard count <= limits.maxEntries else { throw Error("the archive has \(count) entries, the limit is \(limits.maxEntries)") }
        guard cdOffset + cdSize <= eocd else { throw Error("corrupt zip: the central directory lies outside the file") }

        // The central directory is read through a small buffer: its size is the archive's word, not ours.
        let directory = BufferedSource(InputSource(input, from: cdOffset))
        func next(_ length: Int) throws(ArchiveError) -> [UInt8] {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
            defer { buffer.deallocate() }
            guard try directory.readFully(into: buffer) == length else {
                throw Error("corrupt zip: truncated central directory")
            }
            return Array(buffer)
        }
        var out: [Entry] = []
        var total = 0
        for _ in 0..<count {
            let h = try next(46)
            guard u32(h, 0) == 0x0201_4B50 else { throw Error("corrupt zip: bad central directory entry") }
            let flags = u16(h, 8), method = UInt16(u16(h, 10))
            let crc = UInt32(u32(h, 16)), csize = u32(h, 20), size = u32(h, 24)
            let nameLen = u16(h, 28), extraLen = u16(h, 30), commentLen = u16(h, 32)
            let madeBy = u16(h, 4) >> 8, external = u32(h, 38), localOffset = u32(h, 42)
            let name = String(decoding: try next(nameLen), as: UTF8.self)
            _ = try next(extraLen + commentLen)
            guard flags & 1 == 0 else { throw Error("\(name): encrypted entries are not supported") }
            // Unix mode in the high half of the external attributes: 0o120000 is a symbolic link.
            if madeBy == 3 && (external >> 16) & 0o170000 == 0o120000 { throw Error("\(name): symbolic links are not allowed") }
            _ = try ArchiveStaging.normalizedPath(name)
            guard method == 0 || method == 8 else { throw Error("\(name): compression method \(method) is not supported (use deflate or store)") }
            total += size
            guard total <= limits.maxTotalBytes else { throw Error("the archive expands to more than \(limits.maxTotalBytes) bytes") }
            guard size <= max(csize, 1) * limits.maxRatio else { throw Error("\(name): compression ratio above \(limits.maxRatio):1 (zip bomb?)") }
            // The local header repeats name and extra field lengths, which may differ from the central ones.
            guard let local = try input.bytes(at: localOffset, length: 30), u32(local, 0) == 0x0403_4B50 else {
                throw Error("\(name): corrupt local header")
            }
            let dataOffset = localOffset + 30 + u16(local, 26) + u16(local, 28)
            guard dataOffset + csize <= input.count else { throw Error("\(name): data lies outside the archive (truncated?)") }
            out.append(Entry(path: name, isDirectory: name.hasSuffix("/"), method: method, compressedSize: csize, size: size,
                             crc: crc, dataOffset: dataOffset))
        }
        return out
    }

    /// The bytes of one entry, inflated and CRC-checked.
    public static func data(of e: Entry, in b: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(e.size)
        try copy(e, from: ArchiveInput(bytes: b)) { (piece) throws(ArchiveError) in out.append(contentsOf: piece) }
        return out
    }

    /// Streams one entry's data to `sink` in pieces: inflated, never more than the directory's size, then checked
    /// against that size and the CRC. So a lying directory cannot make it write more than it declared.
    static func copy(_ e: Entry, from input: ArchiveInput,
                     to sink: (UnsafeRawBufferPointer) throws(ArchiveError) -> Void) throws(ArchiveError) {
        let chunk = 64 << 10
        let inBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 1)
        let outBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 1)
        defer {
            inBuffer.deallocate()
            outBuffer.deallocate()
        }
        let source = InputSource(input, from: e.dataOffset)
        var remainingInput = e.compressedSize
        var written = 0
        var crc = crc32(0, nil, 0)
        func emit(_ piece: UnsafeRawBufferPointer) throws(ArchiveError) {
            guard written + piece.count <= e.size else {
                throw Error("\(e.path): larger than the directory says (corrupt archive)")
            }
            if !piece.isEmpty { crc = crc32(crc, piece.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(piece.count)) }
            written += piece.count
            try sink(piece)
        }

        if e.method == 0 {
            while remainingInput > 0 {
                let n = try source.readFully(into: .init(rebasing: inBuffer[..<min(chunk, remainingInput)]))
                guard n > 0 else { throw Error("\(e.path): data lies outside the archive (truncated?)") }
                remainingInput -= n
                try emit(UnsafeRawBufferPointer(rebasing: inBuffer[..<n]))
            }
        } else {
            let inflater: Gzip.Inflater
            do { inflater = try Gzip.Inflater(format: .raw) } catch { throw Error("zlib: \(error)") }
            var start = 0, pending = 0  // inBuffer[start ..< start + pending] is read but not yet inflated
            var ended = false
            while !ended {
                if pending == 0 && remainingInput > 0 {
                    pending = try source.readFully(into: .init(rebasing: inBuffer[..<min(chunk, remainingInput)]))
                    guard pending > 0 else { throw Error("\(e.path): data lies outside the archive (truncated?)") }
                    remainingInput -= pending
                    start = 0
                }
                let step: (consumed: Int, produced: Int, ended: Bool)
                do {
                    step = try inflater.inflate(.init(rebasing: inBuffer[start..<(start + pending)]), into: outBuffer)
                } catch {
                    throw Error("\(e.path): corrupt compressed data")
                }
                // No progress with all of the entry's data given: it ends before its deflate stream does.
                guard step.consumed > 0 || step.produced > 0 || step.ended else {
                    throw Error("\(e.path): corrupt compressed data")
                }
                start += step.consumed
                pending -= step.consumed
                try emit(UnsafeRawBufferPointer(rebasing: outBuffer[..<step.produced]))
                ended = step.ended
            }
        }
        guard written == e.size else { throw Error("\(e.path): size does not match the directory") }
        guard UInt32(crc) == e.crc else { throw Error("\(e.path): CRC mismatch (corrupt archive)") }
    }

    /// Extracts into `destination` (which must not exist yet), via a staging sibling directory.
    public static func extract(_ b: [UInt8], to destination: URL, limits: Limits = Limits()) throws -> [Entry] {
        try extract(ArchiveInput(bytes: b), to: destination, limits: limits)
    }

    /// Extracts the zip stored in `file` — all of it, or the byte `range` of it (an upload's part of a spooled
    /// multipart body) — into `destination` (which must not exist yet), reading the file in pieces.
    public static func extract(file: URL, range: Range<Int>? = nil, to destination: URL,
                               limits: Limits = Limits()) throws -> [Entry] {
        try extract(ArchiveInput(file: file, range: range), to: destination, limits: limits)
    }

    static func extract(_ input: ArchiveInput, to destination: URL, limits: Limits) throws(ArchiveError) -> [Entry] {
        let list = try entries(input, limits: limits)
        let staging = try ArchiveStaging(destination: destination)
        do {
            for e in list {
                guard let path = try ArchiveStaging.normalizedPath(e.path) else { continue }
                if e.isDirectory {
                    try staging.makeDirectory(path)
                } else {
                    let file = try staging.createFile(path)
                    try copy(e, from: input) { (piece) throws(ArchiveError) in try file.write(piece) }
                    file.close()
                }
            }
            try staging.commit()
        } catch {
            staging.discard()
            throw error
        }
        return list
    }
}
