import Foundation

/// Reads a tar archive (ustar, GNU or pax), plain or gzip-compressed, and extracts it safely, with the rules of
/// `ZipArchive`: no absolute paths, no `..`, no backslashes, no symbolic or hard links, devices or FIFOs, bounded
/// entry count, total size and compression ratio, every header's checksum verified (and the gzip CRC, read to the
/// end of the stream), all of it built in a staging directory that is renamed into place only when complete.
///
/// A tar is a stream of 512-byte header blocks, each followed by its entry's data padded to a whole block, ended
/// by a zero block. It has no directory to check first, so entries are checked as they come and a refusal halfway
/// discards the staging directory. The archive is read in pieces and gzip is inflated as it is read: neither the
/// archive nor an entry is ever held in memory whole.
///
/// Supported beyond ustar: GNU long names (`L` records), pax extended headers (`x`: `path` and `size`; global `g`
/// headers are skipped), GNU base-256 sizes, and multi-member gzip files.
public enum TarArchive {
    /// What a refused archive throws (shared with `ZipArchive`).
    public typealias Error = ArchiveError
    /// Entry count, total size and compression ratio bounds (shared with `ZipArchive`).
    public typealias Limits = ArchiveLimits

    /// An extracted file or directory.
    public struct Entry: Sendable, Equatable {
        /// The normalised path (`./cats/a.png` → `cats/a.png`).
        public var path: String
        public var isDirectory: Bool
        /// Bytes of data (0 for a directory).
        public var size: Int
    }

    static let blockSize = 512
    /// Metadata records (GNU long names, pax headers) are read into memory, so they are bounded.
    static let maxLongNameBytes = 64 << 10
    static let maxPaxHeaderBytes = 1 << 20
    /// A stream may inflate this much before its ratio is judged, so that a small but well-compressed archive
    /// (the first headers of a tar of tiny files) is not mistaken for a bomb.
    static let ratioAllowance = 1 << 20

    /// True when `head` (the archive's first bytes) starts like a tar: a header block with the ustar magic or a
    /// right checksum (old v7 archives have no magic). A damaged ustar header still counts, so extracting it
    /// reports what is wrong instead of "not an archive". A gzip-compressed tar starts with the gzip magic
    /// instead; see `Gzip.isGzip`.
    public static func isTar(_ head: [UInt8]) -> Bool {
        guard head.count >= blockSize else { return false }
        let header = Header(Array(head.prefix(blockSize)))
        return header.hasMagic || header.checksumIsValid
    }

    /// Extracts a tar or tar.gz held in memory into `destination` (which must not exist yet).
    public static func extract(_ bytes: [UInt8], to destination: URL, limits: Limits = Limits()) throws -> [Entry] {
        try extract(ArchiveInput(bytes: bytes), to: destination, limits: limits)
    }

    /// Extracts the tar or tar.gz stored in `file` — all of it, or the byte `range` of it (an upload's part of a
    /// spooled multipart body) — into `destination` (which must not exist yet), reading the file in pieces.
    public static func extract(file: URL, range: Range<Int>? = nil, to destination: URL,
                               limits: Limits = Limits()) throws -> [Entry] {
        try extract(ArchiveInput(file: file, range: range), to: destination, limits: limits)
    }

    static func extract(_ input: ArchiveInput, to destination: URL, limits: Limits) throws(ArchiveError) -> [Entry] {
        let magic = try input.bytes(at: 0, length: 2)
        let gzip = magic == [0x1F, 0x8B] ? try GzipSource(InputSource(input), limits: limits) : nil
        let source = BufferedSource(gzip ?? InputSource(input))
        let staging = try ArchiveStaging(destination: destination)
        do {
            let entries = try Reader(source: source, staging: staging, limits: limits, compressed: gzip != nil).run()
            // Read the gzip stream to its end, so its CRC-32 vouches for everything extracted.
            if let gzip { try gzip.drain() }
            try staging.commit()
            return entries
        } catch {
            staging.discard()
            throw error
        }
    }

    /// One 512-byte header block.
    struct Header {
        let bytes: [UInt8]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

        /// A NUL-terminated text field.
        func string(_ offset: Int, _ length: Int) -> String {
            let field = bytes[offset..<(offset + length)]
            return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
        }

        /// An octal number field (leading spaces or NULs, digits, then a space or NUL), or GNU base-256 when the
        /// first byte has its high bit set. Nil when malformed or absurd.
        func number(_ offset: Int, _ length: Int) -> Int? {
            let field = bytes[offset..<(offset + length)]
            if let first = field.first, first & 0x80 != 0 {
                guard first == 0x80 else { return nil }  // 0xFF is a negative number: no size is negative
                var value = 0
                for b in field.dropFirst() {
                    guard value <= (Int.max >> 8) else { return nil }
                    value = value << 8 | Int(b)
                }
                return value
            }
            var digits = field.drop { $0 == 0x20 || $0 == 0 }
            digits = digits.prefix { $0 != 0x20 && $0 != 0 }
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x37 }) else {
                return field.allSatisfy { $0 == 0 || $0 == 0x20 } ? 0 : nil
            }
            var value = 0
            for b in digits {
                guard value <= (Int.max >> 3) else { return nil }
                value = value << 3 | Int(b - 0x30)
            }
            return value
        }

        /// The stored checksum equals the sum of the header's bytes with the checksum field counted as spaces —
        /// as unsigned bytes (POSIX) or signed ones (some old writers).
        var checksumIsValid: Bool {
            guard let stored = number(148, 8) else { return false }
            var unsigned = 0, signed = 0
            for (i, b) in bytes.enumerated() {
                let v = (148..<156).contains(i) ? 0x20 : b
                unsigned += Int(v)
                signed += Int(Int8(bitPattern: v))
            }
            return stored == unsigned || stored == signed
        }

        /// `ustar` at offset 257: POSIX (`ustar\0`) and GNU (`ustar `) headers have it.
        var hasMagic: Bool { bytes[257..<262].elementsEqual("ustar".utf8) }

        var typeFlag: UInt8 { bytes[156] }

        /// The path: POSIX ustar joins `prefix/name`; GNU tar uses the prefix field for other things.
        var path: String {
            let name = string(0, 100)
            let isPOSIX = bytes[257..<263].elementsEqual("ustar\0".utf8)
            let prefix = isPOSIX ? string(345, 155) : ""
            return prefix.isEmpty ? name : prefix + "/" + name
        }
    }

    /// Walks the headers of a tar stream, extracting as it goes.
    final class Reader {
        let source: ByteSource
        let staging: ArchiveStaging
        let limits: Limits
        let compressed: Bool
        private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)

        init(source: ByteSource, staging: ArchiveStaging, limits: Limits, compressed: Bool) {
            self.source = source
            self.staging = staging
            self.limits = limits
            self.compressed = compressed
        }

        deinit {
            chunk.deallocate()
        }

        func run() throws(ArchiveError) -> [Entry] {
            var entries: [Entry] = []
            var total = 0
            // Set by a GNU long-name record or a pax header, for the entry that follows.
            var longPath: String?
            var paxSize: Int?
            var first = true
            while true {
                guard let block = try readBlock() else {
                    throw Error(first ? "not a tar archive (empty)"
                                      : "the archive ends without its end-of-archive block (truncated?)")
                }
                let header = Header(block)
                if header.isZero { break }  // end of archive (GNU writes two zero blocks; one is enough)
                let rawPath = header.path
                guard header.checksumIsValid else {
                    if first && !header.hasMagic {
                        throw Error(compressed ? "not a tar archive (the gzip stream holds something else)"
                                               : "not a tar archive")
                    }
                    throw Error("\(rawPath.isEmpty ? "an entry" : rawPath): header checksum mismatch (corrupt archive)")
                }
                first = false
                guard let headerSize = header.number(124, 12) else { throw Error("\(rawPath): malformed size field") }
                let type = header.typeFlag
                let isMetadata = [UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g")].contains(type)
                // A pax size or long name describes the next real entry, not a metadata record.
                let size = isMetadata ? headerSize : paxSize ?? headerSize
                let path = isMetadata ? rawPath : longPath ?? rawPath
                if !isMetadata {
                    longPath = nil
                    paxSize = nil
                }
                switch type {
                case UInt8(ascii: "L"):  // GNU long name: the data is the next entry's path
                    guard size <= maxLongNameBytes else {
                        throw Error("\(path): long name record larger than \(maxLongNameBytes) bytes")
                    }
                    let data = try readData(size, of: "long name record")
                    longPath = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                case UInt8(ascii: "K"):  // GNU long link name: only links use it, and they are refused when they come
                    guard size <= maxLongNameBytes else {
                        throw Error("\(path): long link name record larger than \(maxLongNameBytes) bytes")
                    }
                    _ = try readData(size, of: "long link name record")
                case UInt8(ascii: "x"):  // pax extended header for the next entry
                    guard size <= maxPaxHeaderBytes else {
                        throw Error("\(path): pax header larger than \(maxPaxHeaderBytes) bytes")
                    }
                    let records = try parsePax(try readData(size, of: "pax header"), entry: path)
                    if let p = records["path"] { longPath = p }
                    if let s = records["size"] {
                        guard let value = Int(s), value >= 0 else { throw Error("\(path): malformed pax size \"\(s)\"") }
                        paxSize = value
                    }
                case UInt8(ascii: "g"), UInt8(ascii: "V"):  // pax global header, GNU volume label: nothing to extract
                    try skip(size, of: path)
                case UInt8(ascii: "0"), 0, UInt8(ascii: "7"), UInt8(ascii: "5"):
                    let isDirectory = type == UInt8(ascii: "5") || (type == 0 && path.hasSuffix("/"))
                    entries.append(try extractEntry(path: path, size: size, isDirectory: isDirectory, total: &total,
                                                    count: entries.count))
                case UInt8(ascii: "1"): throw Error("\(path): hard links are not allowed")
                case UInt8(ascii: "2"): throw Error("\(path): symbolic links are not allowed")
                case UInt8(ascii: "3"), UInt8(ascii: "4"): throw Error("\(path): device files are not allowed")
                case UInt8(ascii: "6"): throw Error("\(path): FIFOs are not allowed")
                case UInt8(ascii: "S"): throw Error("\(path): sparse files are not supported")
                default:
                    let shown = (0x21..<0x7F).contains(type) ? "'\(Character(Unicode.Scalar(type)))'" : "\(type)"
                    throw Error("\(path): entry type \(shown) is not supported (only files and directories)")
                }
            }
            if longPath != nil || paxSize != nil { throw Error("the archive ends after a header with no entry") }
            return entries
        }

        private func extractEntry(path: String, size: Int, isDirectory: Bool, total: inout Int,
                                  count: Int) throws(ArchiveError) -> Entry {
            let normalized = try ArchiveStaging.normalizedPath(path)
            guard count + 1 <= limits.maxEntries else {
                throw Error("the archive has more than \(limits.maxEntries) entries")
            }
            guard size <= limits.maxTotalBytes - total else {
                throw Error("the archive expands to more than \(limits.maxTotalBytes) bytes")
            }
            total += size
            if isDirectory {
                if let normalized { try staging.makeDirectory(normalized) }
                try skip(size, of: path)  // a directory's data, if any, means nothing
                return Entry(path: normalized ?? ".", isDirectory: true, size: 0)
            }
            guard let normalized else { throw Error("\(path): a file cannot be the archive's root") }
            let file = try staging.createFile(normalized)
            var remaining = size
            while remaining > 0 {
                let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[..<min(chunk.count, remaining)])
                let n = try source.readFully(into: piece)
                guard n == piece.count else { throw Error("\(path): the archive ends inside this entry (truncated?)") }
                try file.write(UnsafeRawBufferPointer(piece))
                remaining -= n
            }
            file.close()
            try skipPadding(after: size, of: path)
            return Entry(path: normalized, isDirectory: false, size: size)
        }

        /// The next block; nil at the very end of the stream, an error for a partial block.
        private func readBlock() throws(ArchiveError) -> [UInt8]? {
            let block = UnsafeMutableRawBufferPointer(rebasing: chunk[..<blockSize])
            let n = try source.readFully(into: block)
            if n == 0 { return nil }
            guard n == blockSize else { throw Error("the archive ends inside a header (truncated?)") }
            return Array(block)
        }

        /// The data of a metadata record (bounded by the caller), with its padding consumed.
        private func readData(_ size: Int, of what: String) throws(ArchiveError) -> [UInt8] {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
            defer { buffer.deallocate() }
            guard try source.readFully(into: buffer) == size else {
                throw Error("the archive ends inside a \(what) (truncated?)")
            }
            try skipPadding(after: size, of: what)
            return Array(buffer)
        }

        private func skip(_ size: Int, of path: String) throws(ArchiveError) {
            var remaining = size
            while remaining > 0 {
                let piece = UnsafeMutableRawBufferPointer(rebasing: chunk[..<min(chunk.count, remaining)])
                let n = try source.readFully(into: piece)
                guard n > 0 else { throw Error("\(path): the archive ends inside this entry (truncated?)") }
                remaining -= n
            }
            try skipPadding(after: size, of: path)
        }

        private func skipPadding(after size: Int, of path: String) throws(ArchiveError) {
            let padding = (blockSize - size % blockSize) % blockSize
            guard padding > 0 else { return }
            guard try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: chunk[..<padding])) == padding else {
                throw Error("\(path): the archive ends inside this entry (truncated?)")
            }
        }

        /// pax records: `<length> <key>=<value>\n`, the length counting the whole record.
        private func parsePax(_ data: [UInt8], entry: String) throws(ArchiveError) -> [String: String] {
            var records: [String: String] = [:]
            var i = 0
            while i < data.count {
                guard let space = data[i...].firstIndex(of: 0x20),
                      let length = Int(String(decoding: data[i..<space], as: UTF8.self)),
                      length > space - i + 1, i + length <= data.count, data[i + length - 1] == 0x0A,
                      let equals = data[(space + 1)..<(i + length - 1)].firstIndex(of: UInt8(ascii: "=")) else {
                    throw Error("\(entry): malformed pax header")
                }
                let key = String(decoding: data[(space + 1)..<equals], as: UTF8.self)
                let value = String(decoding: data[(equals + 1)..<(i + length - 1)], as: UTF8.self)
                if key.hasPrefix("GNU.sparse.") { throw Error("\(entry): sparse files are not supported") }
                records[key] = value
                i += length
            }
            return records
        }
    }

    /// A gzip stream inflated as it is read, with the bomb check: past `ratioAllowance`, output may not exceed
    /// `maxRatio` times the compressed bytes consumed so far.
    final class GzipSource: ByteSource {
        private let base: ByteSource
        private let inflater: Gzip.Inflater
        private let maxRatio: Int
        private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
        private var start = 0
        private var pending = 0
        private var consumed = 0
        private var produced = 0
        /// Set after a member's end when no input follows.
        private var finished = false

        init(_ base: ByteSource, limits: Limits) throws(ArchiveError) {
            self.base = base
            maxRatio = limits.maxRatio
            do { inflater = try Gzip.Inflater() } catch { throw Error("\(error)") }
        }

        deinit {
            input.deallocate()
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
            while !finished && !buffer.isEmpty {
                if pending == 0 {
                    pending = try base.read(into: input)
                    start = 0
                }
                let step: (consumed: Int, produced: Int, ended: Bool)
                do {
                    let available = UnsafeRawBufferPointer(rebasing: input[start..<(start + pending)])
                    step = try inflater.inflate(available, into: buffer)
                } catch {
                    let reason = error.description.replacingOccurrences(of: "gzip: corrupt data ", with: "")
                    throw Error("corrupt gzip data (\(reason))")
                }
                start += step.consumed
                pending -= step.consumed
                consumed += step.consumed
                produced += step.produced
                if produced > TarArchive.ratioAllowance && produced / max(consumed, 1) > maxRatio {
                    throw Error("the archive expands more than \(maxRatio):1 (gzip bomb?)")
                }
                if step.ended {
                    // Another member may follow (pigz, concatenated files); anything else after the end is ignored,
                    // as gzip does.
                    if pending == 0 { pending = try base.read(into: input); start = 0 }
                    if pending >= 2 && input[start] == 0x1F && input[start + 1] == 0x8B {
                        inflater.reset()
                    } else {
                        finished = true
                    }
                } else if step.consumed == 0 && step.produced == 0 {
                    throw Error("the gzip stream ends early (truncated archive?)")
                }
                if step.produced > 0 { return step.produced }
            }
            return 0
        }

        /// Reads what is left of the stream (the tar's zero padding), so the gzip trailer is checked.
        func drain() throws(ArchiveError) {
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
            defer { scratch.deallocate() }
            while try read(into: scratch) > 0 {}
        }
    }
}
