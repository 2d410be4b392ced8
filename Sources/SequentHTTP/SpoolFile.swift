import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body being written to disk as it arrives, for routes with an `HTTPBodyPolicy.spoolDirectory`.
///
/// The file is created with `O_EXCL` under a random hidden name (`.spool-<uuid>`), so it can neither replace nor
/// follow anything already in the directory, and it is readable by the server's user only. The connection that
/// owns it deletes it when the request is done, whatever happened.
final class SpoolFile {
    let url: URL
    private var fd: Int32
    private var removed = false
    private(set) var byteCount = 0

    /// Creates the file (and the directory when missing). Failures are errors to answer the client with.
    init(directory: URL) throws(HTTPParseError) {
        url = directory.appendingPathComponent(".spool-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw HTTPParseError(status: 500, "cannot store the request body: \(error.localizedDescription)")
        }
        fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.error(errno) }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Appends `bytes`, retrying short and interrupted writes.
    func write(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) {
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        if let failure { throw Self.error(failure) }
        byteCount += bytes.count
    }

    /// Closes the file; the body is complete and stays on disk until `remove`.
    func finish() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// Closes and deletes the file (once, however often it is called).
    func remove() {
        finish()
        if !removed { unlink(url.path) }
        removed = true
    }

    /// A full disk is the client's problem only in part, but 507 tells it retrying later may work.
    private static func error(_ code: Int32) -> HTTPParseError {
        let reason = String(cString: strerror(code))
        if code == ENOSPC || code == EDQUOT {
            return HTTPParseError(status: 507, "no space left to store the request body (\(reason))")
        }
        return HTTPParseError(status: 500, "cannot store the request body (\(reason))")
    }
}

/// `write(2)`, under a name the class's own `write` does not shadow.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
