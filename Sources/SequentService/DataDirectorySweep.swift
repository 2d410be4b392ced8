import Foundation
import SequentStore

/// What a killed process leaves in the data directory, removed at start-up before any worker runs: a process
/// can die after writing a file and before recording it (a model folder no record names, a checkpoint of an
/// epoch that was never committed), in the middle of a write (`*.tmp`), or after finishing a job and before
/// deleting its checkpoints. The database is the source of truth; files it does not point at go.
extension TrainingService {
    /// Returns the paths it removed (relative to the data directory), for the log.
    @discardableResult
    func sweepDataDirectory() throws -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        func remove(_ url: URL) {
            if (try? fm.removeItem(at: url)) != nil {
                let base = dataDirectory.path + "/"
                removed.append(url.path.hasPrefix(base) ? String(url.path.dropFirst(base.count)) : url.path)
            }
        }
        func children(_ url: URL) -> [URL] {
            (try? fm.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? []
        }

        let checkpoints = dataDirectory.appendingPathComponent("checkpoints")
        for dir in children(checkpoints) {
            guard let job = try store.job(id: dir.lastPathComponent), !job.state.isFinished else {
                remove(dir)
                continue
            }
            // Only the committed epoch's checkpoint is ever read; a later one was cut short or not recorded.
            for entry in children(dir) where entry.lastPathComponent.hasPrefix("epoch-")
                && entry.lastPathComponent != "epoch-\(job.checkpointEpoch)" {
                remove(entry)
            }
        }

        let recorded = Set(try store.models(limit: Int.max).map { URL(fileURLWithPath: $0.path).lastPathComponent })
        for dir in children(dataDirectory.appendingPathComponent("models")) {
            if !recorded.contains(dir.lastPathComponent) { remove(dir) }
        }

        for root in [checkpoints, dataDirectory.appendingPathComponent("models")] {
            let walk = fm.enumerator(at: root, includingPropertiesForKeys: nil)
            while let url = walk?.nextObject() as? URL {
                if url.pathExtension == "tmp" { remove(url) }
            }
        }
        return removed
    }
}
