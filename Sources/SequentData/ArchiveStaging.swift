// Where an upload is extracted before it becomes a dataset, and the path rules every entry passes first. Everything
// lands in a hidden staging directory beside the destination; the dataset appears with one rename, so a crash at
// any moment leaves either no dataset or the whole of it, plus a staging directory that start-up removes.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Extraction into `.upload-<uuid>/tree` beside the destination. Nothing is written outside `tree`; `commit`
/// renames `tree` (or its single top folder, when the archive is wrapped in one) to the destination, and `discard`
/// (on any failure) removes the staging directory, so a refused archive leaves nothing behind.
final class ArchiveStaging {
    /// The name prefix of staging directories, which start-up cleanup removes.
    static let prefix = ".upload-"

    let destination: URL
    /// `.upload-<uuid>`: removed whole once the extraction is committed or refused.
    let container: URL
    /// `.upload-<uuid>/tree`: the archive's root.
    let directory: URL
    private var committed = false

    /// Creates the staging directory; the destination must not exist yet.
    init(destination: URL) throws(ArchiveError) {
        self.destination = destination
        container = destination.deletingLastPathComponent().appendingPathComponent(Self.prefix + UUID().uuidString)
        directory = container.appendingPathComponent("tree")
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
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
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

    /// The archive's single top-level folder, when everything that counts sits inside one: names starting with
    /// `.` and macOS's `__MACOSX` resource folder do not count (they are dropped with the wrapper).
    func singleTopFolder() -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { !$0.hasPrefix(".") && $0 != "__MACOSX" }
        guard names.count == 1 else { return nil }
        var isDirectory: ObjCBool = false
        let url = directory.appendingPathComponent(names[0])
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        return names[0]
    }

    /// Renames the archive's root — or `folder` inside it, which unwraps an archive of one top folder — to the
    /// destination: one rename, so the dataset appears whole or not at all. What is left of the staging directory
    /// is removed afterwards; a crash before that leaves only a `.upload-` directory for start-up to remove.
    func commit(unwrapping folder: String?, afterRename: () -> Void = {}) throws(ArchiveError) {
        let root = folder.map { directory.appendingPathComponent($0) } ?? directory
        do {
            try FileManager.default.moveItem(at: root, to: destination)
        } catch {
            discard()
            if FileManager.default.fileExists(atPath: destination.path) {
                throw ArchiveError("\(destination.lastPathComponent) already exists")
            }
            throw ArchiveError("cannot move the extracted archive into place (\(Self.reason(error)))")
        }
        committed = true
        afterRename()
        discard()
    }

    /// Removes the staging directory and everything in it.
    func discard() {
        try? FileManager.default.removeItem(at: container)
    }

    /// Removes the staging directories of extractions a crash interrupted. None of them holds a dataset: a dataset
    /// leaves staging in the rename that completes it.
    static func removeLeftovers(in root: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names where name.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    private static func reason(_ error: Swift.Error) -> String {
        ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription
            ?? error.localizedDescription
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
