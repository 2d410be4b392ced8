import Foundation
import SequentNN
import SequentStore

/// Managing finished and waiting runs (issue 15): deleting jobs and models, a job's note, and the History and
/// step metrics as CSV for a spreadsheet or pandas.
extension TrainingService {
    /// The longest note, in characters.
    public static let maxNoteLength = 4000

    /// Removes a job no worker holds, with its epochs, step metrics and checkpoints; its model stays (models
    /// outlive their jobs). A queued job is cancelled by its removal: the store deletes it only while nobody has
    /// claimed it, so a worker either got it first (409) or never will.
    public func deleteJob(id: String) throws {
        switch try store.deleteJob(id: id) {
        case .notFound:
            throw ServiceError.notFound("job", id)
        case .claimed(let state):
            throw ServiceError(409, "job_active",
                               "job \(id) is \(state.rawValue); cancel it and delete it once it has stopped")
        case .deleted(var job):
            if job.state == .queued {
                job.state = .cancelled
                job.finishedAt = Date()
                job.stopReason = "deleted before it started"
                publishState(job)
            }
            // Streams of the job end; the records are gone, so they would never hear of it again.
            events.close(jobID: id)
            // The record is gone first, so a failure here leaves only files the start-up sweep removes.
            do { try artifacts.remove(.checkpoint, id: id) } catch {
                logger.warning("job \(id) deleted; its checkpoints stay until the next start-up sweep: \(error)")
            }
        }
    }

    /// Removes a model's record and its files. A job spec cannot name a model (each job trains a new one from its
    /// own `model` config; there is no fine-tuning), so no queued or running job depends on one and this never
    /// refuses with 409 today. Once a spec can start from a model, the check of the jobs naming it belongs here.
    public func deleteModel(id: String) throws {
        // A job that will start from the model needs it until it has copied the weights.
        for state in [JobState.queued, .running, .cancelling] {
            for job in try store.jobs(state: state, limit: 10_000, before: nil)
            where (try? JSONValue.parse(job.specJSON))?["initial_model"]?.stringValue == id {
                throw ServiceError(409, "model_in_use", "job \(job.id) (\(state.rawValue)) fine-tunes from model \(id); delete the model once it has finished")
            }
        }
        guard try store.deleteModel(id: id) else { throw ServiceError.notFound("model", id) }
        do { try artifacts.remove(.model, id: id) } catch {
            logger.warning("model \(id) deleted; its files stay until the next start-up sweep: \(error)")
        }
    }

    /// Sets or (nil) clears a job's note; returns the job as stored.
    public func setNote(jobID: String, note: String?) throws -> JobRecord {
        if let note, note.count > Self.maxNoteLength {
            throw ServiceError(400, "invalid_note", "note must be at most \(Self.maxNoteLength) characters, got \(note.count)",
                               field: "note")
        }
        guard try store.setNote(jobID: jobID, note: note), let job = try store.job(id: jobID) else {
            throw ServiceError.notFound("job", jobID)
        }
        return job
    }
}

/// RFC 4180 text: CRLF line ends, and a field holding a comma, a double quote or a line break in double quotes
/// with its quotes doubled.
enum CSV {
    /// Free text from a user (a file name, a class or metric name) made safe to open in a spreadsheet: one that
    /// starts with `=`, `+`, `-`, `@`, a tab or a CR would be read as a formula (CSV injection, OWASP), so it gets a
    /// leading `'`, which spreadsheets show as text. Numbers never pass through here: `-0.5` stays a number.
    static func text(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return s }
        return "'" + s
    }

    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func document(_ rows: [[String]]) -> String {
        rows.map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    /// A number as JSON writes it; non-finite values (a diverged loss) as an empty cell.
    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "" }
        return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    /// The History: `epoch`, every log key of any epoch (sorted), then the epoch's timing.
    static func epochs(_ epochs: [SequentStore.EpochRecord]) -> String {
        let keys = Set(epochs.flatMap { $0.logs.keys }).sorted()
        let header = ["epoch"] + keys.map(text) + ["learning_rate", "duration_seconds", "samples_per_second", "finished_at"]
        let rows = epochs.map { e -> [String] in
            let logs: [String] = keys.map { number(e.logs[$0]) }
            let timing: [String] = [number(e.learningRate), number(e.durationSeconds), number(e.samplesPerSecond),
                                    Timestamp.format(e.finishedAt)]
            return [String(e.epoch)] + logs + timing
        }
        return document([header] + rows)
    }

    /// Every step metric point, in key and step order.
    static func metrics(_ points: [MetricPoint]) -> String {
        document([["key", "step", "wall_time", "value"]] + points.map {
            [text($0.key), String($0.step), number($0.wallTime), number($0.value)]
        })
    }

    /// A download's file name from a job name: letters, digits, `.`, `-` and `_` kept, anything else (quotes,
    /// slashes, spaces, control characters) `_`, so the `Content-Disposition` header is safe to quote.
    static func fileName(_ jobName: String, _ suffix: String) -> String {
        let safe = String(jobName.unicodeScalars.prefix(100).map { s -> Character in
            s.isASCII && (CharacterSet.alphanumerics.contains(s) || "._-".unicodeScalars.contains(s)) ? Character(s) : "_"
        })
        let base = safe.drop { $0 == "." }
        return (base.isEmpty ? "job" : String(base)) + "-" + suffix + ".csv"
    }
}
