import Foundation
import SequentStore

/// What a killed process leaves behind, removed at start-up before any worker runs: a process can die after
/// writing an artifact and before recording it (a model no record names, a checkpoint of an epoch that was never
/// committed), in the middle of a write (staging folders, `*.tmp`), or after finishing a job and before deleting
/// its checkpoints. The database is the source of truth; artifacts it does not point at go.
extension TrainingService {
    /// Returns what it removed (paths relative to the data directory for the local store), for the log.
    ///
    /// On a store other processes share, a claimed job's newest checkpoint and a just-saved model may be
    /// committed but not yet recorded by a worker elsewhere: those are left alone there (only this process's own
    /// leftovers and the checkpoints of finished or unknown jobs go).
    @discardableResult
    func sweepDataDirectory() throws -> [String] {
        var removed: [String] = []
        func remove(_ kind: ArtifactKind, _ id: String) {
            if (try? artifacts.remove(kind, id: id)) != nil { removed.append("\(kind == .model ? "models" : "checkpoints")/\(id)") }
        }
        let checkpoints = Dictionary(grouping: try artifacts.list(.checkpoint)) { String($0.prefix { $0 != "/" }) }
        for (jobID, ids) in checkpoints.sorted(by: { $0.key < $1.key }) {
            guard let job = try store.job(id: jobID), !job.state.isFinished else {
                remove(.checkpoint, jobID)
                continue
            }
            guard ownsStore || !job.state.isClaimed else { continue }
            // Only the committed epoch's checkpoint is ever read; a later one was cut short or not recorded.
            for id in ids {
                let entry = id.dropFirst(jobID.count + 1)
                if entry.hasPrefix("epoch-") && entry != "epoch-\(job.checkpointEpoch)" { remove(.checkpoint, id) }
            }
        }
        if ownsStore {
            let recorded = Set(try store.models(limit: Int.max).map(\.id))
            for id in try artifacts.list(.model) where !recorded.contains(id) { remove(.model, id) }
        }
        // Last, so that a folder removed whole above is not reported piece by piece.
        return removed + (try artifacts.removeLeftovers())
    }
}
