// libarchive behind a small Swift face: a zip, tar or tar.gz read from a byte range of a file (an upload's part of
// a spooled body), entry headers one at a time, then each entry's data in blocks. Only the zip and tar formats are
// enabled (a tar.gz is inflated on its way in), so nothing else is ever parsed. What to do with an entry is the caller's business
// (ArchiveExtractor checks and writes it); this file only reads.
import CArchive
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The archive's bytes as libarchive's client callbacks see them: `range` of an open file, read with pread (a
/// mapping would count the archive in the process's resident size). A plain archive is seekable, which lets the
/// zip reader use the central directory rather than trusting local headers. A gzip stream is inflated here with
/// zlib rather than by libarchive's gzip filter, because that filter (3.6) never checks the gzip trailer: zlib
/// verifies every member's CRC-32 and length, and `drain` reads the stream to its end so the last one is checked
/// too.
final class ArchiveByteRange {
    let fd: Int32
    let base: Int
    let count: Int
    /// The next byte of the range to read.
    private var position = 0
    /// Bytes read from the file so far, seeks included: the compressed side of the ratio check.
    private(set) var delivered = 0
    /// Set when a read failed, so the error names the reason rather than libarchive's echo of it.
    private(set) var failure: String?
    /// What libarchive is handed: the file's bytes, or what zlib made of them.
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveByteRange.blockSize, alignment: 16)
    private let gzip: GzipState?

    static let blockSize = 64 << 10

    /// The compressed side of a gzip stream: a block of the file, of which `start ..< start + pending` is not
    /// inflated yet.
    private final class GzipState {
        let inflater: Gzip.Inflater
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveByteRange.blockSize, alignment: 16)
        var start = 0
        var pending = 0
        var finished = false

        init() throws(Gzip.Error) {
            inflater = try Gzip.Inflater()
        }

        deinit {
            input.deallocate()
        }
    }

    init(file: URL, range: Range<Int>?) throws(ArchiveError) {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        self.fd = fd
        guard fd >= 0 else {
            block.deallocate()
            throw ArchiveError("cannot open the archive: \(String(cString: strerror(errno)))")
        }
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : -1
        let range = range ?? 0..<max(size, 0)
        guard size >= 0, range.lowerBound >= 0, range.upperBound <= size else {
            close(fd)
            block.deallocate()
            throw ArchiveError(size < 0 ? "cannot read the archive: \(String(cString: strerror(errno)))"
                                        : "the archive lies outside its file")
        }
        base = range.lowerBound
        count = range.count
        var magic: [UInt8] = [0, 0]
        let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min(2, range.count), off_t(range.lowerBound)) }
        do {
            gzip = n == 2 && magic == [0x1F, 0x8B] ? try GzipState() : nil
        } catch {
            close(fd)
            block.deallocate()
            throw ArchiveError("\(error)")
        }
    }

    deinit {
        close(fd)
        block.deallocate()
    }

    /// Whether the archive is gzip-compressed (and inflated here).
    var isCompressed: Bool { gzip != nil }

    /// The first `length` bytes of the file's range (fewer when it is shorter), for telling formats apart.
    func head(_ length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: min(length, count))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(base)) }
        return Array(bytes.prefix(max(0, n)))
    }

    /// Fills `buffer` from the file at `position`; 0 at the end of the range, -1 on an error.
    private func readFile(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let wanted = min(buffer.count, count - position)
        guard wanted > 0 else { return 0 }
        while true {
            let n = pread(fd, buffer.baseAddress, wanted, off_t(base + position))
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                failure = "cannot read the archive: \(String(cString: strerror(errno)))"
                return -1
            }
            position += n
            delivered += n
            return n
        }
    }

    /// The next block for libarchive, in `block`; 0 at the end, -1 on an error (then `failure` says why).
    func read() -> Int {
        guard let gzip else { return readFile(into: block) }
        while !gzip.finished {
            if gzip.pending == 0 {
                gzip.pending = readFile(into: gzip.input)
                gzip.start = 0
                if gzip.pending < 0 { return -1 }
            }
            let step: (consumed: Int, produced: Int, ended: Bool)
            do {
                let available = UnsafeRawBufferPointer(rebasing: gzip.input[gzip.start..<(gzip.start + gzip.pending)])
                step = try gzip.inflater.inflate(available, into: block)
            } catch {
                failure = "corrupt gzip data (\(error.description.replacingOccurrences(of: "gzip: corrupt data ", with: "")))"
                return -1
            }
            gzip.start += step.consumed
            gzip.pending -= step.consumed
            if step.ended {
                // Another member may follow (pigz, concatenated files); anything else after the end is ignored,
                // as gzip does.
                if gzip.pending == 0 {
                    gzip.pending = max(0, readFile(into: gzip.input))
                    gzip.start = 0
                }
                if gzip.pending >= 2 && gzip.input[gzip.start] == 0x1F && gzip.input[gzip.start + 1] == 0x8B {
                    gzip.inflater.reset()
                } else {
                    gzip.finished = true
                }
            } else if step.consumed == 0 && step.produced == 0 {
                failure = "the gzip stream ends early (truncated archive?)"
                return -1
            }
            if step.produced > 0 { return step.produced }
        }
        return 0
    }

    /// Reads what is left of a gzip stream (the tar's zero padding), so that its trailer's CRC is checked.
    func drain() throws(ArchiveError) {
        guard gzip != nil else { return }
        while true {
            let n = read()
            if n < 0 { throw ArchiveError(failure ?? "unreadable archive") }
            if n == 0 { return }
        }
    }

    /// Moves within a plain archive (libarchive only seeks when given the callback: never for a gzip stream).
    func seek(_ offset: Int, whence: Int32) -> Int {
        let origin = whence == SEEK_CUR ? position : whence == SEEK_END ? count : 0
        let target = origin + offset
        guard target >= 0 else { return Int(ARCHIVE_FATAL) }
        position = min(target, count)
        return position
    }

    /// Skips within a plain archive; a gzip stream cannot skip, and 0 tells libarchive to read instead.
    func skip(_ length: Int) -> Int {
        guard gzip == nil else { return 0 }
        let skipped = max(0, min(length, count - position))
        position += skipped
        return skipped
    }
}

/// One read of an archive through libarchive.
final class ArchiveReader {
    /// What a header read found.
    enum Next {
        case entry(OpaquePointer)
        case end
    }

    let handle: OpaquePointer
    let input: ArchiveByteRange

    init(_ input: ArchiveByteRange) throws(ArchiveError) {
        guard let handle = archive_read_new() else { throw ArchiveError("cannot set up libarchive") }
        self.handle = handle
        self.input = input
        // The formats Sequent takes (gzip is inflated before libarchive sees the bytes); no filter is enabled, so
        // libarchive never parses anything else.
        archive_read_support_format_zip(handle)
        archive_read_support_format_tar(handle)
        // Names are bytes to us (checked, then used as file names): no conversion through the C locale, which
        // would refuse every non-ASCII name.
        archive_read_set_options(handle, "hdrcharset=UTF-8")
        let context = Unmanaged.passUnretained(input).toOpaque()
        archive_read_set_callback_data(handle, context)
        archive_read_set_read_callback(handle) { _, context, buffer in
            let input = Unmanaged<ArchiveByteRange>.fromOpaque(context!).takeUnretainedValue()
            let n = input.read()
            buffer?.pointee = UnsafeRawPointer(input.block.baseAddress)
            return n
        }
        if !input.isCompressed {
            archive_read_set_seek_callback(handle) { _, context, offset, whence in
                let input = Unmanaged<ArchiveByteRange>.fromOpaque(context!).takeUnretainedValue()
                return Int64(input.seek(Int(offset), whence: whence))
            }
        }
        archive_read_set_skip_callback(handle) { _, context, length in
            let input = Unmanaged<ArchiveByteRange>.fromOpaque(context!).takeUnretainedValue()
            return Int64(input.skip(Int(length)))
        }
        guard archive_read_open1(handle) == ARCHIVE_OK else {
            let message = input.failure ?? message
            // Every property is set by now, so deinit frees the handle.
            throw ArchiveError(message, unsupportedFormat: input.failure == nil)
        }
    }

    deinit {
        archive_read_free(handle)
    }

    /// libarchive's last error, or a generic one.
    var message: String {
        archive_error_string(handle).map { String(cString: $0) } ?? "unreadable archive"
    }

    /// `archive_format` with the variant bits dropped: ARCHIVE_FORMAT_ZIP, ARCHIVE_FORMAT_TAR, …
    var format: Int32 { archive_format(handle) & Int32(ARCHIVE_FORMAT_BASE_MASK) }

    /// The next entry's header. libarchive's warnings (an unknown pax keyword, …) are not failures.
    func next() throws(ArchiveError) -> Next {
        var entry: OpaquePointer?
        let status = archive_read_next_header(handle, &entry)
        if status == ARCHIVE_EOF { return .end }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw ArchiveError(input.failure ?? message)
        }
        return .entry(entry)
    }

    /// The current entry's next data block and the offset it belongs at; nil at the entry's end. A warning is a
    /// failure here: it is how libarchive reports a zip entry's bad CRC or wrong size.
    func dataBlock() throws(ArchiveError) -> (bytes: UnsafeRawBufferPointer, offset: Int)? {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: Int64 = 0
        let status = archive_read_data_block(handle, &buffer, &size, &offset)
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK else { throw ArchiveError(input.failure ?? message) }
        return (UnsafeRawBufferPointer(start: buffer, count: size), Int(offset))
    }
}
