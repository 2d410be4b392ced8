// What the archive readers (ZipArchive, TarArchive) share: the error they throw, their limits, the input they
// read (an array, or a byte range of a file read with pread, so an upload spooled to disk is never loaded), and
// the staging directory they extract into. Keeping the path rules and the staging in one place means the two
// formats cannot drift apart on what they let through.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an archive was refused. `description` names the entry (when there is one) and the problem, in words meant
/// for whoever uploaded it: `cats/../../x.png: '..' in a path is not allowed`.
public struct ArchiveError: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    /// The message: the entry's path (when there is one), a colon, the problem.
    public var description: String
    /// The disk (or the user's quota) filled up while extracting: the archive may be fine, and the same upload
    /// can succeed once there is room (HTTP 507 rather than 400).
    public var outOfSpace: Bool

    /// An error with `description` as its message.
    public init(_ description: String, outOfSpace: Bool = false) {
        self.description = description
        self.outOfSpace = outOfSpace
    }
}

/// Bounds on what an archive may contain, checked before or while it is extracted.
public struct ArchiveLimits: Sendable {
    /// Files and directories (a tar's metadata records do not count).
    public var maxEntries = 100_000
    /// The sum of the entries' uncompressed sizes.
    public var maxTotalBytes = 4 << 30
    /// Uncompressed/compressed beyond this is treated as a bomb: per entry for zip, over the whole stream for
    /// tar.gz (whose entries share one compressed stream).
    public var maxRatio = 200

    /// The defaults: 100,000 entries, 4 GiB, 200:1.
    public init() {}
}

// MARK: - Input

/// The bytes of an archive: an array, or a byte range of a file. Files are read with pread rather than mapped,
/// because pages read through a mapping count in the process's resident size.
final class ArchiveInput {
    private let bytes: [UInt8]
    private let fd: Int32
    /// Where the archive starts in the file.
    private let base: Int
    /// The archive's length.
    let count: Int

    init(bytes: [UInt8]) {
        self.bytes = bytes
        fd = -1
        base = 0
        count = bytes.count
    }

    /// Opens `file`; the archive is `range` of it, or all of it.
    init(file: URL, range: Range<Int>?) throws(ArchiveError) {
        bytes = []
        fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveError("cannot open the archive: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw ArchiveError("cannot read the archive: \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        let range = range ?? 0..<size
        guard range.lowerBound >= 0, range.upperBound <= size else {
            close(fd)
            throw ArchiveError("the archive lies outside its file")
        }
        base = range.lowerBound
        count = range.count
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Fills `buffer` from `offset` (relative to the archive's start); returns the bytes read, fewer only at the end.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        let wanted = max(0, min(buffer.count, count - offset))
        guard wanted > 0, let destination = buffer.baseAddress else { return 0 }
        if fd < 0 {
            bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress! + offset, byteCount: wanted) }
            return wanted
        }
        var done = 0
        while done < wanted {
            let n = pread(fd, destination + done, wanted - done, off_t(base + offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ArchiveError("cannot read the archive: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }  // the file shrank under us: the caller sees a short read, i.e. truncation
            done += n
        }
        return done
    }

    /// Exactly `length` bytes from `offset`, or nil when the archive ends first.
    func bytes(at offset: Int, length: Int) throws(ArchiveError) -> [UInt8]? {
        guard offset >= 0, length >= 0, offset <= count - length else { return nil }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
        defer { buffer.deallocate() }
        let n = try read(at: offset, into: buffer)
        return n == length ? Array(buffer) : nil
    }
}

/// Bytes read front to back (an archive, or what a decompressor makes of it).
protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 only at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int
}

extension ByteSource {
    /// Reads until `buffer` is full or the source ends; returns the bytes read.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        return done
    }
}

/// An `ArchiveInput` read front to back from an offset.
final class InputSource: ByteSource {
    let input: ArchiveInput
    private(set) var position: Int

    init(_ input: ArchiveInput, from position: Int = 0) {
        self.input = input
        self.position = position
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        let n = try input.read(at: position, into: buffer)
        position += n
        return n
    }
}

/// Small reads (headers, names) served from a 64 KiB buffer, so they do not each cost a system call or a trip
/// through zlib; large reads go straight through.
final class BufferedSource: ByteSource {
    private let base: ByteSource
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
    private var start = 0
    private var end = 0

    init(_ base: ByteSource) {
        self.base = base
    }

    deinit {
        buffer.deallocate()
    }

    func read(into destination: UnsafeMutableRawBufferPointer) throws(ArchiveError) -> Int {
        if start == end {
            if destination.count >= buffer.count { return try base.read(into: destination) }
            end = try base.read(into: buffer)
            start = 0
            if end == 0 { return 0 }
        }
        let n = min(destination.count, end - start)
        destination.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n)
        start += n
        return n
    }
}

// MARK: - Paths and staging

/// Extraction into a hidden staging directory beside the destination (`.upload-<uuid>`), renamed into place only
/// when every entry succeeded. Nothing is written outside the staging directory, and `discard` (called on any
/// failure) removes it, so a refused archive leaves nothing behind.
final class ArchiveStaging {
    let destination: URL
    let directory: URL
    private var committed = false

    /// Creates the staging directory; the destination must not exist yet.
    init(destination: URL) throws(ArchiveError) {
        self.destination = destination
        directory = destination.deletingLastPathComponent().appendingPathComponent(".upload-\(UUID().uuidString)")
        guard !FileManager.default.fileExists(atPath: destination.path) else {
            throw ArchiveError("\(destination.lastPathComponent) already exists")
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ArchiveError("cannot create the extraction directory: \(error.localizedDescription)")
        }
    }

    deinit {
        if !committed { discard() }
    }

    /// An entry's path with empty and `.` components dropped (`./cats//a.png` → `cats/a.png`); nil for the
    /// archive's root (`./`). Refuses anything that could land outside the extraction directory.
    static func normalizedPath(_ name: String) throws(ArchiveError) -> String? {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.contains("\0"),
              !(name.count >= 2 && name.dropFirst().hasPrefix(":")) else {
            throw ArchiveError("\(name): absolute or malformed paths are not allowed")
        }
        var parts: [Substring] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            guard part != ".." else { throw ArchiveError("\(name): '..' in a path is not allowed") }
            parts.append(part)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    /// The staging URL of a normalised path, checked once more to lie inside the staging directory.
    private func target(_ path: String) throws(ArchiveError) -> URL {
        let url = directory.appendingPathComponent(path)
        guard url.standardizedFileURL.path.hasPrefix(directory.standardizedFileURL.path + "/") else {
            throw ArchiveError("\(path): escapes the dataset directory")
        }
        return url
    }

    /// Creates a directory entry (and its parents).
    func makeDirectory(_ path: String) throws(ArchiveError) {
        let url = try target(path)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw ArchiveError("\(path): cannot be created (\(Self.reason(error)))")
        }
    }

    /// Creates a file entry (and its parent directories) for writing. `O_EXCL | O_NOFOLLOW`: a path that appears
    /// twice is refused rather than overwritten, and nothing is ever written through a link.
    func createFile(_ path: String) throws(ArchiveError) -> ArchiveOutputFile {
        let url = try target(path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw ArchiveError("\(path): cannot be created (\(Self.reason(error)))")
        }
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST { throw ArchiveError("\(path): appears more than once in the archive") }
            throw ArchiveError("\(path): cannot be created (\(String(cString: strerror(code))))",
                               outOfSpace: code == ENOSPC || code == EDQUOT)
        }
        return ArchiveOutputFile(fd: fd, path: path)
    }

    /// Renames the staging directory to the destination.
    func commit() throws(ArchiveError) {
        do {
            try FileManager.default.moveItem(at: directory, to: destination)
        } catch {
            discard()
            if FileManager.default.fileExists(atPath: destination.path) {
                throw ArchiveError("\(destination.lastPathComponent) already exists")
            }
            throw ArchiveError("cannot move the extracted archive into place (\(Self.reason(error)))")
        }
        committed = true
    }

    /// Removes the staging directory and everything in it.
    func discard() {
        try? FileManager.default.removeItem(at: directory)
    }

    private static func reason(_ error: Swift.Error) -> String {
        ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? error.localizedDescription
    }
}

/// A file being extracted.
final class ArchiveOutputFile {
    private var fd: Int32
    let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit {
        if fd >= 0 { systemClose(fd) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(ArchiveError) {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ArchiveError("\(path): cannot be written (\(String(cString: strerror(code))))",
                                   outOfSpace: code == ENOSPC || code == EDQUOT)
            }
            offset += n
        }
    }

    func close() {
        if fd >= 0 { systemClose(fd) }
        fd = -1
    }
}

/// `write(2)` and `close(2)`, under names the methods above do not shadow.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
private func systemClose(_ fd: Int32) { _ = close(fd) }
