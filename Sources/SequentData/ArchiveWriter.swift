// Writes zip archives with libarchive (the library that reads uploads): a model export is a handful of files
// (a `.keras` is config.json, metadata.json and model.weights.h5), so each is read whole and written as one
// deflated entry.
import CArchive
import Foundation

public enum ArchiveWriter {
    /// Writes a zip at `destination` holding `files` (entry name, file on disk), in that order.
    public static func zip(_ files: [(name: String, file: URL)], to destination: URL) throws(ArchiveError) {
        guard let a = archive_write_new() else { throw ArchiveError("cannot start a zip archive") }
        defer { archive_write_free(a) }
        guard archive_write_set_format_zip(a) == ARCHIVE_OK,
              archive_write_open_filename(a, destination.path) == ARCHIVE_OK
        else { throw ArchiveError("cannot write \(destination.lastPathComponent): \(message(a))") }
        for (name, file) in files {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw ArchiveError("\(name): cannot read \(file.path)")
            }
            guard let entry = archive_entry_new() else { throw ArchiveError("\(name): cannot make an entry") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname_utf8(entry, name)
            archive_entry_set_size(entry, la_int64_t(data.count))
            archive_entry_set_filetype(entry, 0o100000)   // AE_IFREG, a macro Swift cannot import
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_mtime(entry, time(nil), 0)
            guard archive_write_header(a, entry) == ARCHIVE_OK else { throw ArchiveError("\(name): \(message(a))") }
            let written = data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            guard written == data.count else { throw ArchiveError("\(name): \(message(a))") }
        }
        guard archive_write_close(a) == ARCHIVE_OK else {
            throw ArchiveError("cannot finish \(destination.lastPathComponent): \(message(a))")
        }
    }

    private static func message(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "unknown error"
    }
}
