import Foundation
import SequentNN
import SequentStore

/// JSON renderings of stored records, as DESIGN.md §3 defines them.
enum JobView {
    static func json(_ job: JobRecord, service: TrainingService?) -> JSONValue {
        func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamp.format($0)) } ?? .null }
        var progress = job.progressJSON.flatMap { try? JSONValue.parse($0) } ?? .null
        var metrics = job.metricsJSON.flatMap { try? JSONValue.parse($0) } ?? .object([:])
        // Live figures are fresher while the job runs; once it has finished, the stored record is final.
        if !job.state.isFinished, let live = service?.liveState(job.id) {
            if !live.progress.isEmpty { progress = .object(live.progress) }
            if !live.metrics.isEmpty { metrics = .object(live.metrics.mapValues { .number($0) }) }
        }
        var o: [String: JSONValue] = [
            "id": .string(job.id), "name": .string(job.name), "state": .string(job.state.rawValue),
            "created_at": date(job.createdAt), "started_at": date(job.startedAt), "finished_at": date(job.finishedAt),
            "progress": progress, "metrics": metrics,
            "stop_reason": job.stopReason.map { .string($0) } ?? .null, "error": job.error.map { .string($0) } ?? .null,
            "model_id": job.modelID.map { .string($0) } ?? .null,
            // Who trains it, while a worker holds it: the machine and process to look at.
            "worker": job.state.isClaimed ? job.worker.map {
                ["id": .string($0.id), "host": .string($0.host), "pid": .number(Double($0.pid))]
            } ?? .null : .null,
            "checkpoint_epoch": .number(Double(job.checkpointEpoch)),
            "warnings": job.warningsJSON.flatMap { try? JSONValue.parse($0) } ?? .null,
            "spec": (try? JSONValue.parse(job.specJSON)) ?? .null,
        ]
        o["note"] = job.note.map { .string($0) } ?? .null
        return .object(o)
    }
}

enum EpochView {
    static func json(_ e: SequentStore.EpochRecord) -> JSONValue {
        var o: [String: JSONValue] = ["epoch": .number(Double(e.epoch)), "learning_rate": .number(e.learningRate),
                                      "duration_seconds": .number(e.durationSeconds),
                                      "samples_per_second": .number(e.samplesPerSecond.rounded()),
                                      "finished_at": .string(Timestamp.format(e.finishedAt))]
        for (k, v) in e.logs { o[k] = .number(v) }
        return .object(o)
    }
}

enum ModelView {
    static func json(_ m: ModelRecord) -> JSONValue {
        var o: [String: JSONValue] = (try? JSONValue.parse(m.metadataJSON))?.objectValue ?? [:]
        o["id"] = .string(m.id)
        // An imported model has no job.
        o["job_id"] = m.jobID.isEmpty ? .null : .string(m.jobID)
        o["name"] = .string(m.name)
        o["created_at"] = .string(Timestamp.format(m.createdAt))
        o["sha256"] = .string(m.sha256)
        return .object(o)
    }
}
