import Foundation
import SequentStore

/// A folder's regular files as one blob, so an artifact is one row of chunks however many files it has.
///
/// Format: the magic `SEQPACK1`, then per file, in the order given (path order): the byte count of its relative
/// path and of its contents as two 8-byte big-endian integers, the path's UTF-8 bytes (`/`-separated), and the
/// contents. Nested paths (a dataset's `train/cat/1.jpg`) are kept; empty folders are not (the artifact digest
/// does not see them either). Lengths rather than delimiters, so a file name may hold any character.
enum FolderPack {
    static let magic = Data("SEQPACK1".utf8)
    /// Bytes copied per read: a file never has to fit in memory.
    static let piece = 1 << 20

    /// Writes the files at `paths` (relative to `folder`) to a new file `blob`.
    static func pack(_ folder: URL, files paths: [String], to blob: URL) throws {
        let out = try create(blob)
        defer { try? out.close() }
        try write(out, magic, path: blob)
        for path in paths {
            let url = folder.appendingPathComponent(path)
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? 0
            let name = Data(path.utf8)
            try write(out, bigEndian(name.count) + bigEndian(size) + name, path: blob)
            let input = try FileHandle(forReadingFrom: url)
            defer { try? input.close() }
            var copied = 0
            while let bytes = try input.read(upToCount: piece), !bytes.isEmpty {
                try write(out, bytes, path: blob)
                copied += bytes.count
            }
            // A file that changed size while it was packed would misalign every entry after it.
            guard copied == size else { throw ArtifactError.io(code: EIO, path: url.path) }
        }
    }

    /// Recreates the files of `blob` under `folder` (created). Throws `Malformed` on a truncated blob or a path
    /// that would leave the folder (absolute, `..`, empty components).
    static func unpack(_ blob: URL, into folder: URL) throws {
        let input = try FileHandle(forReadingFrom: blob)
        defer { try? input.close() }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard try read(input, magic.count) == magic else { throw Malformed() }
        while let head = try input.read(upToCount: 16), !head.isEmpty {
            guard head.count == 16 else { throw Malformed() }
            let nameCount = integer(head.prefix(8)), size = integer(head.suffix(8))
            guard nameCount > 0, nameCount < 4096, let path = String(data: try read(input, nameCount), encoding: .utf8),
                  path.split(separator: "/", omittingEmptySubsequences: false)
                      .allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { throw Malformed() }
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let out = try create(url)
            defer { try? out.close() }
            var left = size
            while left > 0 {
                let bytes = try read(input, min(left, piece))
                try write(out, bytes, path: url)
                left -= bytes.count
            }
        }
    }

    /// The blob does not follow the format.
    struct Malformed: Error {}

    private static func create(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ArtifactError.io(code: errno == 0 ? EIO : errno, path: url.path)
        }
        return try FileHandle(forWritingTo: url)
    }

    /// Writes, reporting a failure with its errno where Foundation gives one (ENOSPC: the disk is full).
    private static func write(_ handle: FileHandle, _ data: Data, path: URL) throws {
        do { try handle.write(contentsOf: data) } catch {
            let ns = error as NSError
            let code = ns.domain == NSPOSIXErrorDomain ? Int32(ns.code)
                : ((ns.userInfo[NSUnderlyingErrorKey] as? NSError).map { Int32($0.code) } ?? EIO)
            throw ArtifactError.io(code: code, path: path.path)
        }
    }

    /// Exactly `count` bytes, or `Malformed` at the end of the blob.
    private static func read(_ handle: FileHandle, _ count: Int) throws -> Data {
        var data = Data()
        while data.count < count {
            guard let more = try handle.read(upToCount: count - data.count), !more.isEmpty else { throw Malformed() }
            data.append(more)
        }
        return data
    }

    private static func bigEndian(_ value: Int) -> Data { withUnsafeBytes(of: UInt64(value).bigEndian) { Data($0) } }

    private static func integer(_ bytes: Data) -> Int { Int(clamping: bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
}
