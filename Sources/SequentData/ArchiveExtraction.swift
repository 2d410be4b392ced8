// Extracting an uploaded zip, tar or tar.gz: libarchive reads it (ArchiveReader); every entry's header passes our
// rules before anything is written, and its data is counted against the limits as it streams, whatever the header
// declared; the tree is built in staging (ArchiveStaging) and appears with one rename.
import CArchive
import Foundation

/// Why an archive was refused. `description` names the entry (when there is one) and the problem, in words meant
/// for whoever uploaded it: `cats/../../x.png: '..' in a path is not allowed`.
public struct ArchiveError: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    /// The message: the entry's path (when there is one), a colon, the problem.
    public var description: String
    /// The disk (or the user's quota) filled up while extracting: the archive may be fine, and the same upload
    /// can succeed once there is room (HTTP 507 rather than 400).
    public var outOfSpace: Bool
    /// The bytes are not a zip, tar or tar.gz at all (HTTP 415 rather than 400); `description` says what they are
    /// when that is known ("the upload is bzip2-compressed").
    public var unsupportedFormat: Bool

    /// An error with `description` as its message.
    public init(_ description: String, outOfSpace: Bool = false, unsupportedFormat: Bool = false) {
        self.description = description
        self.outOfSpace = outOfSpace
        self.unsupportedFormat = unsupportedFormat
    }
}

/// Bounds on what an archive may contain, checked while it is extracted.
public struct ArchiveLimits: Sendable {
    /// Files and directories.
    public var maxEntries = 100_000
    /// The sum of the entries' uncompressed sizes, counted as the data is inflated.
    public var maxTotalBytes = 4 << 30
    /// Uncompressed/compressed beyond this is treated as a bomb: over the whole archive, and per entry.
    public var maxRatio = 200

    /// The defaults: 100,000 entries, 4 GiB, 200:1.
    public init() {}
}

/// Extracts an uploaded zip, tar or tar.gz safely. Refused before anything of the entry is written: absolute
/// paths, `..`, backslashes, symbolic and hard links, devices, FIFOs, sockets, sparse and encrypted entries, a
/// path that appears twice, more than `maxEntries` entries or a declared size beyond `maxTotalBytes`. Refused
/// while the data streams (a header's sizes are the archive's word, not ours): more than `maxTotalBytes` in all,
/// or output beyond `maxRatio` times the compressed bytes read. A refusal removes everything written so far.
public enum ArchiveExtractor {
    /// An extracted file or directory.
    public struct Entry: Sendable, Equatable {
        /// The normalised path as in the archive (`./cats/a.png` → `cats/a.png`; `.` for the root).
        public var path: String
        public var isDirectory: Bool
        /// Bytes of data written (0 for a directory).
        public var size: Int
    }

    /// The points between an extraction's steps, for tests that simulate a crash at each.
    enum Step: CaseIterable {
        /// Every entry is in staging; nothing is at the destination.
        case extracted
        /// The staging tree (or its single top folder) has been renamed to the destination.
        case committed
        /// The rest of the staging directory has been removed.
        case cleaned
    }

    /// Output a stream or an entry may produce before its ratio is judged, so that a small but well-compressed
    /// start (the first headers of a tar of tiny files) is not mistaken for a bomb.
    static let ratioAllowance = 1 << 20

    /// Extracts the archive stored in `file` — all of it, or the byte `range` of it (an upload's part of a spooled
    /// multipart body) — into `destination`, which must not exist yet. When everything in the archive sits in one
    /// top folder (names starting with `.` and `__MACOSX` aside) and `unwrapping` says yes to its name, the
    /// destination becomes that folder: `shoes/boots/1.jpg` lands at `boots/1.jpg`.
    /// - Returns: the entries, with their paths as in the archive.
    public static func extract(file: URL, range: Range<Int>? = nil, to destination: URL,
                               limits: ArchiveLimits = ArchiveLimits(),
                               unwrapping: (String) -> Bool = { _ in false }) throws(ArchiveError) -> [Entry] {
        try extract(file: file, range: range, to: destination, limits: limits, unwrapping: unwrapping) { _ in }
    }

    /// `extract`, calling `afterStep` between the steps.
    static func extract(file: URL, range: Range<Int>?, to destination: URL, limits: ArchiveLimits,
                        unwrapping: (String) -> Bool, afterStep: (Step) -> Void) throws(ArchiveError) -> [Entry] {
        let input = try ArchiveByteRange(file: file, range: range)
        let head = input.head(512)
        try refuseForeignFormats(head)
        let reader: ArchiveReader
        do {
            reader = try ArchiveReader(input)
        } catch {
            // Not a format libarchive was given (a read or gzip failure is reported as it is).
            guard error.unsupportedFormat else { throw error }
            if input.isCompressed { throw ArchiveError("not a tar archive (the gzip stream holds something else)") }
            if head.starts(with: [0x50, 0x4B]) { throw ArchiveError("corrupt zip archive (\(error.description))") }
            // libarchive does not take a tar whose first header fails its checksum; the ustar magic still says
            // what it was meant to be.
            if head.count == 512 && head[257..<262].elementsEqual("ustar".utf8) {
                throw ArchiveError("the archive is corrupt or truncated at its first entry (damaged tar header)")
            }
            throw ArchiveError("the upload is not a zip, tar or tar.gz archive", unsupportedFormat: true)
        }
        let staging = try ArchiveStaging(destination: destination)
        do {
            let entries = try Extraction(reader: reader, staging: staging, limits: limits).run()
            afterStep(.extracted)
            let top = staging.singleTopFolder().flatMap { unwrapping($0) ? $0 : nil }
            try staging.commit(unwrapping: top) { afterStep(.committed) }
            afterStep(.cleaned)
            return entries
        } catch {
            staging.discard()
            throw error
        }
    }

    /// Removes what extractions a crash interrupted left in `root` (their hidden staging directories). Call it at
    /// start-up, before any extraction into `root` begins.
    public static func removeLeftovers(in root: URL) {
        ArchiveStaging.removeLeftovers(in: root)
    }

    /// Formats libarchive could read but Sequent does not take are named rather than parsed.
    static func refuseForeignFormats(_ head: [UInt8]) throws(ArchiveError) {
        if head.isEmpty { throw ArchiveError("the upload is empty", unsupportedFormat: true) }
        let known: [([UInt8], String)] = [
            (Array("BZh".utf8), "bzip2-compressed"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz-compressed"),
            ([0x28, 0xB5, 0x2F, 0xFD], "zstd-compressed"), ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "a 7z archive"),
            (Array("Rar!".utf8), "a RAR archive"),
        ]
        if let (_, what) = known.first(where: { head.starts(with: $0.0) }) {
            throw ArchiveError("the upload is \(what)", unsupportedFormat: true)
        }
        let isZip = head.starts(with: [0x50, 0x4B, 3, 4]) || head.starts(with: [0x50, 0x4B, 5, 6])
        if head.starts(with: [0x50, 0x4B]) && !isZip {
            throw ArchiveError("the upload is a zip archive of an unsupported kind", unsupportedFormat: true)
        }
    }
}

/// One archive's entries, checked and written into staging.
private final class Extraction {
    let reader: ArchiveReader
    let staging: ArchiveStaging
    let limits: ArchiveLimits
    /// Data bytes written so far, all entries.
    var total = 0

    init(reader: ArchiveReader, staging: ArchiveStaging, limits: ArchiveLimits) {
        self.reader = reader
        self.staging = staging
        self.limits = limits
    }

    func run() throws(ArchiveError) -> [ArchiveExtractor.Entry] {
        var entries: [ArchiveExtractor.Entry] = []
        while true {
            let entry: OpaquePointer
            do {
                guard case .entry(let next) = try reader.next() else { break }
                entry = next
            } catch {
                let place = entries.last.map { "after \($0.path)" } ?? "at its first entry"
                throw ArchiveError("the archive is corrupt or truncated \(place) (\(error.description))")
            }
            if entries.isEmpty && reader.format == ARCHIVE_FORMAT_ZIP && reader.input.isCompressed {
                throw ArchiveError("the upload is a gzip-compressed zip archive; send the zip itself",
                                   unsupportedFormat: true)
            }
            entries.append(try extract(entry, count: entries.count))
        }
        try reader.input.drain()
        return entries
    }

    /// Checks one entry's header, then creates it in staging and streams its data there.
    private func extract(_ entry: OpaquePointer, count: Int) throws(ArchiveError) -> ArchiveExtractor.Entry {
        let path = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry)).map { String(cString: $0) } ?? ""
        if archive_entry_hardlink(entry) != nil { throw ArchiveError("\(path): hard links are not allowed") }
        let isDirectory: Bool
        switch archive_entry_filetype(entry) & 0o170000 {
        case 0o100000: isDirectory = false
        case 0o040000: isDirectory = true
        case 0o120000: throw ArchiveError("\(path): symbolic links are not allowed")
        case 0o020000, 0o060000: throw ArchiveError("\(path): device files are not allowed")
        case 0o010000: throw ArchiveError("\(path): FIFOs are not allowed")
        case 0o140000: throw ArchiveError("\(path): sockets are not allowed")
        default: throw ArchiveError("\(path): entry type is not supported (only files and directories)")
        }
        if archive_entry_is_encrypted(entry) != 0 { throw ArchiveError("\(path): encrypted entries are not supported") }
        if archive_entry_sparse_count(entry) > 0 { throw ArchiveError("\(path): sparse files are not supported") }
        let normalized = try ArchiveStaging.normalizedPath(path)
        guard count < limits.maxEntries else { throw ArchiveError("the archive has more than \(limits.maxEntries) entries") }
        if isDirectory {
            if let normalized { try staging.makeDirectory(normalized) }
            return ArchiveExtractor.Entry(path: normalized ?? ".", isDirectory: true, size: 0)
        }
        guard let normalized else { throw ArchiveError("\(path): a file cannot be the archive's root") }
        if archive_entry_size_is_set(entry) != 0 && Int(archive_entry_size(entry)) > limits.maxTotalBytes - total {
            throw ArchiveError("the archive expands to more than \(limits.maxTotalBytes) bytes")
        }
        let file = try staging.createFile(normalized)
        let deliveredBefore = reader.input.delivered
        var written = 0
        while true {
            let block: (bytes: UnsafeRawBufferPointer, offset: Int)
            do {
                guard let next = try reader.dataBlock() else { break }
                block = next
            } catch {
                throw ArchiveError("\(normalized): corrupt or truncated data (\(error.description))")
            }
            // A block that does not start where the last one ended leaves a hole: a sparse file by another name.
            guard block.offset == written else { throw ArchiveError("\(normalized): sparse files are not supported") }
            written += block.bytes.count
            total += block.bytes.count
            try checkLimits(normalized, written: written, deliveredBefore: deliveredBefore)
            try file.write(block.bytes)
        }
        file.close()
        return ArchiveExtractor.Entry(path: normalized, isDirectory: false, size: written)
    }

    /// The limits that only the inflated data can show, checked after every block and before it is written.
    private func checkLimits(_ path: String, written: Int, deliveredBefore: Int) throws(ArchiveError) {
        guard total <= limits.maxTotalBytes else {
            throw ArchiveError("the archive expands to more than \(limits.maxTotalBytes) bytes")
        }
        let allowance = ArchiveExtractor.ratioAllowance
        let bomb = reader.format == ARCHIVE_FORMAT_ZIP ? "zip bomb?" : "gzip bomb?"
        if total > allowance && total / max(reader.input.delivered, 1) > limits.maxRatio {
            throw ArchiveError("the archive expands more than \(limits.maxRatio):1 (\(bomb))")
        }
        // Per entry, one read block of slack: that much of the entry may have come in with what was read before.
        let consumed = reader.input.delivered - deliveredBefore + ArchiveByteRange.blockSize
        if written > allowance && written / consumed > limits.maxRatio {
            throw ArchiveError("\(path): expands more than \(limits.maxRatio):1 (\(bomb))")
        }
    }
}
