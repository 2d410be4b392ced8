// multipart/form-data bodies that were spooled to a file (`HTTPBodyPolicy.spoolDirectory`): the same framing rules
// as `Multipart.parse`, but the body is searched through a fixed-size window read with pread, and the parts come
// back as byte ranges of the file. A 200 MB upload is located without being read into memory (or mapped: mapped
// pages that were read count in the process's resident size until the kernel reclaims them).
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One part of a `multipart/form-data` body kept in a file: its headers, and where its content lies.
public struct MultipartFilePart: Sendable, Equatable {
    /// The `name` parameter of the part's `Content-Disposition`, or nil when it has none.
    public var name: String?
    /// The uploaded file's name as sent (see `MultipartPart.filename`; never use it as a path unchecked).
    public var filename: String?
    /// The part's `Content-Type` header, or nil when it has none.
    public var contentType: String?
    /// Every header of the part, in order.
    public var headers: HTTPHeaders
    /// The byte offsets of the part's content in the file.
    public var range: Range<Int>

    /// A part with the given headers whose content is `range` of the file.
    public init(name: String? = nil, filename: String? = nil, contentType: String? = nil, headers: HTTPHeaders = [:],
                range: Range<Int>) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.range = range
    }
}

extension Multipart {
    /// How much of the body is read at a time; memory use stays at this whatever the body's size.
    static let fileWindowBytes = 256 * 1024
    /// The window grows up to this when a delimiter's transport padding does not fit in it. No sender pads a
    /// delimiter line with more than a few spaces; past this, the line counts as content.
    static let maxFileWindowBytes = 1 << 20

    /// Splits a `multipart/form-data` body stored in a file (a spooled request body) into its parts, with the same
    /// rules and errors as `parse(_:boundary:maxParts:maxPartBytes:)`, reading it a window at a time. Each part's
    /// content is returned as a byte range of the file, not read: open the file to use it, or `read(_:from:limit:)`
    /// for a small field.
    ///
    /// - Throws: `MultipartError`, also when the file cannot be read.
    public static func parse(contentsOf file: URL, boundary: String, maxParts: Int = 64) throws
        -> [MultipartFilePart] {
        let reader = try FileReader(file)
        return try parse(size: reader.size, boundary: boundary, maxParts: maxParts, window: fileWindowBytes,
                         read: reader.read)
    }

    /// The content of `part` (from `parse(contentsOf:…)` on the same file), for small fields such as a name.
    /// - Throws: `MultipartError` when the content is larger than `limit` bytes or the file cannot be read.
    public static func read(_ part: MultipartFilePart, from file: URL, limit: Int) throws -> [UInt8] {
        guard part.range.count <= limit else {
            let label = part.name.map { "part \(String(reflecting: $0))" } ?? "part"
            throw MultipartError("\(label) is \(part.range.count) bytes, the limit is \(limit)")
        }
        let reader = try FileReader(file)
        var bytes = [UInt8](repeating: 0, count: part.range.count)
        let n = try bytes.withUnsafeMutableBytes { try reader.read(part.range.lowerBound, $0) }
        guard n == bytes.count else { throw MultipartError("the multipart body ends inside a part") }
        return bytes
    }

    /// The windowed parse. `read(offset, buffer)` fills `buffer` from `offset` of a body of `size` bytes and returns
    /// how many bytes it read (fewer only at the end); tests drive it with small windows over an array.
    static func parse(size: Int, boundary: String, maxParts: Int, window: Int,
                      read: (Int, UnsafeMutableRawBufferPointer) throws -> Int) throws -> [MultipartFilePart] {
        let dashBoundary = Array("--".utf8) + (try validatedBoundary(boundary))
        let finder = DelimiterFinder(dashBoundary: dashBoundary)
        let m = finder.delimiter.count
        // A window must hold a whole delimiter and what follows it, or the search could not move on.
        var buffer = [UInt8](repeating: 0, count: max(window, m + 8))

        /// Doubles the window, unless it is at its limit.
        func grow() -> Bool {
            guard buffer.count < max(window, maxFileWindowBytes) else { return false }
            buffer = [UInt8](repeating: 0, count: min(buffer.count * 2, max(window, maxFileWindowBytes)))
            return true
        }

        /// Reads the window starting at `offset`; returns its length and whether it reaches the end of the body.
        func load(_ offset: Int) throws -> (count: Int, atEnd: Bool) {
            let wanted = min(buffer.count, size - offset)
            let n = try buffer.withUnsafeMutableBytes {
                try read(offset, UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted]))
            }
            guard n == wanted else { throw MultipartError("the multipart body changed while it was read") }
            return (n, offset + n == size)
        }

        /// The next delimiter at or after `start`: the offset of its CRLF and what it is (offsets in the body).
        func next(from start: Int) throws -> (Int, DelimiterKind)? {
            var offset = start
            while offset < size {
                let (n, atEnd) = try load(offset)
                let result = buffer.withUnsafeBufferPointer {
                    finder.search(UnsafeBufferPointer(rebasing: $0[..<n]), from: 0, atEnd: atEnd)
                }
                switch result {
                case .found(let at, .open(let contentStart)):
                    return (offset + at, .open(offset + contentStart))
                case .found(let at, .close):
                    return (offset + at, .close)
                case .notFound:
                    if atEnd { return nil }
                    // Every start up to n - m was tried; a delimiter may begin just after.
                    offset += n - m + 1
                case .undecided(let at):
                    // Reload from the candidate so what decides it is in the window; at 0 it has more padding than
                    // the window holds: grow the window, up to a limit.
                    if at > 0 {
                        offset += at
                    } else if !grow() {
                        offset += 1
                    }
                }
            }
            return nil
        }

        // The body may open with `--boundary` (no CRLF before it).
        var opening = DelimiterFinder.Classification.undecided
        repeat {
            let (count, atEnd) = try load(0)
            opening = buffer.withUnsafeBufferPointer {
                let window = UnsafeBufferPointer(rebasing: $0[..<count])
                guard window.starts(with: dashBoundary) else { return .content }
                return DelimiterFinder.classify(window, after: dashBoundary.count, atEnd: atEnd)
            }
        } while opening == .undecided && grow()

        let first: DelimiterKind
        if case .delimiter(let kind) = opening {
            first = kind
        } else if let (_, kind) = try next(from: 0) {
            first = kind
        } else {
            throw MultipartError("multipart body does not contain the boundary --\(boundary)")
        }
        guard case .open(var contentStart) = first else { return [] }

        var parts: [MultipartFilePart] = []
        while true {
            let number = parts.count + 1
            guard number <= maxParts else { throw MultipartError("multipart body has more than \(maxParts) parts") }
            guard let (end, kind) = try next(from: contentStart) else {
                throw MultipartError("multipart body has no closing boundary --\(boundary)--")
            }
            // The header block is at the start of the part and bounded, so only that much is read.
            let headLength = min(end - contentStart, maxPartHeaderBytes)
            var head = [UInt8](repeating: 0, count: headLength)
            let n = try head.withUnsafeMutableBytes { try read(contentStart, $0) }
            guard n == headLength else { throw MultipartError("the multipart body changed while it was read") }
            let parsed = try parsePartHead(head, 0..<(end - contentStart), number: number,
                                           maxHeaderBytes: maxPartHeaderBytes, maxHeaderCount: maxPartHeaderCount)
            parts.append(MultipartFilePart(name: parsed.name, filename: parsed.filename,
                                           contentType: parsed.contentType, headers: parsed.headers,
                                           range: (contentStart + parsed.bodyStart)..<end))
            guard case .open(let next) = kind else { return parts }
            contentStart = next
        }
    }

    /// A file opened for reading with pread (no shared file offset, so reads need no seeking).
    private final class FileReader {
        let fd: Int32
        let size: Int

        init(_ url: URL) throws(MultipartError) {
            fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw MultipartError("cannot open the multipart body: \(String(cString: strerror(errno)))")
            }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                close(fd)
                throw MultipartError("cannot read the multipart body: \(String(cString: strerror(errno)))")
            }
            size = Int(info.st_size)
        }

        deinit { close(fd) }

        /// Fills `buffer` from `offset`, retrying short reads; returns the bytes read (fewer only at the end).
        func read(_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw MultipartError("cannot read the multipart body: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
    }
}
