import Foundation
import SequentNN

/// Why a job failed, as its `error` field tells the person who submitted it: what failed and what to do next.
/// The underlying error, which may name the server's files or carry Foundation's wording, goes only to the log.
struct JobFailure: Error, CustomStringConvertible {
    /// The job's `error` text.
    var message: String
    /// What actually went wrong, for the log.
    var cause: (any Error)?

    var description: String { cause.map { "\(message) (cause: \(String(describing: $0)))" } ?? message }

    /// Runs `body`; an error it throws becomes "`what`; `remedy`" (or says the disk is full when that was it).
    /// With `keepingUserErrors`, errors already written for users — an invalid spec, a dataset's own problems —
    /// pass through unchanged, being more precise than `what`.
    static func during<T>(_ what: @autoclosure () -> String, remedy: @autoclosure () -> String,
                          keepingUserErrors: Bool = false, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as JobFailure { throw e } catch {
            if keepingUserErrors, error is ConfigError || error is TrainingError { throw error }
            let message = ServiceError(from: error).status == 507
                ? "\(what()) because the server's disk is full; \(remedy()) once space has been freed"
                : "\(what()); \(remedy())"
            throw JobFailure(message: message, cause: error)
        }
    }

    /// The `error` text for whatever ended a job: its own words when it has some for users, otherwise a general
    /// one that points the operator at the log.
    static func text(for error: any Error, jobID: String) -> String {
        switch error {
        case let e as JobFailure: return e.message
        case let e as ConfigError: return e.message
        case let e as TrainingError: return e.message
        default:
            let mapped = ServiceError(from: error)
            if !mapped.isInternal { return mapped.message }
            return "training stopped because of an internal error; resubmit the job, and if it fails again ask the "
                + "operator to look for job \(jobID) in the server log"
        }
    }
}
