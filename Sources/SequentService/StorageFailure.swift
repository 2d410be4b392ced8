import Foundation
import SequentNN
import SequentStore

/// The words a user reads when the data directory cannot take a write: a job's error and an API answer say
/// what happened (the disk is full) without paths, errno dumps or Foundation's error domains; the log keeps
/// the detail.
enum StorageFailure {
    static func isDiskFull(_ error: Error) -> Bool {
        if let e = error as? FileWriteError { return e.isDiskFull }
        if let e = error as? SQLiteError { return e.isDiskFull }
        if let e = error as? ArtifactError { return e.isDiskFull }
        return false
    }

    static func reason(_ error: Error) -> String {
        if let e = error as? FileWriteError { return e.description }
        if let e = error as? SQLiteError, e.isDiskFull { return "no space left on the disk of the data directory" }
        if error is SQLiteError { return "the database could not be written" }
        if let e = error as? ArtifactError, case .io(let code, _) = e {
            return e.isDiskFull ? "no space left on the disk of the data directory"
                : "the file could not be written (\(String(cString: strerror(code))))"
        }
        // Anything else may carry a path or Foundation's wording: the log has it, the user gets the gist.
        return "the file could not be written"
    }
}

extension SQLiteError {
    /// SQLITE_FULL: the database (or its WAL) could not grow.
    var isDiskFull: Bool { code == 13 }
}
