import Foundation
import SequentHTTP
import SequentNN
import SequentStore

/// Serves models' evaluations: the one stored with the model, others computed on request and kept in memory.
/// Computing needs the model's data as it trained on it (the job's spec opens it again) and a copy of the model
/// of its own (the serving copy runs single predictions); both are kept for the last model asked about only, as
/// the data may be large.
final class EvaluationService: @unchecked Sendable {
    let service: TrainingService
    /// Reports kept per (model, split), at most `limit`: the oldest goes first.
    let limit: Int
    private let lock = NSLock()
    private var reports: [String: (report: JSONValue, samples: SamplePredictions)] = [:]
    private var order: [String] = []
    /// Stored sample predictions already read, by model id (emptied when `limit` is reached: they are re-read).
    private var storedSampleCache: [String: SamplePredictions] = [:]
    private var context: Context?

    /// A model with the data it was trained on.
    final class Context {
        let modelID: String
        let run: TrainingRun
        let model: Sequential
        /// Links to the dataset folders (stores that keep them elsewhere), removed with the context.
        let scratch: URL

        init(modelID: String, run: TrainingRun, model: Sequential, scratch: URL) {
            self.modelID = modelID
            self.run = run
            self.model = model
            self.scratch = scratch
        }

        deinit { try? FileManager.default.removeItem(at: scratch) }
    }

    init(service: TrainingService, limit: Int = 32) {
        self.service = service
        self.limit = limit
    }

    func record(_ id: String) throws -> ModelRecord {
        guard let record = try service.store.model(id: id) ?? service.store.latestModel(named: id) else {
            throw ServiceError.notFound("model", id)
        }
        return record
    }

    /// The evaluation stored with the model when `split` is nil or is its split; else (or for a model saved before
    /// evaluations were stored) one computed now, on `split` or the split the model was evaluated on after training.
    func evaluation(model id: String, split: String?) throws -> JSONValue {
        try evaluated(record(id), split: split, needSamples: false).report
    }

    /// A cell's page: where it starts (past the end is an empty page) and how many samples it lists.
    static let cellOffsets = 0...Int(Int32.max)
    static let cellLimits = 1...500

    /// The samples of one confusion-matrix cell (true class `truth`, predicted class `predicted`, as indices), the
    /// most confident first, `limit` from `offset`: the right predictions (the diagonal) as well as the wrong.
    func cell(model id: String, truth: String, predicted: String, split: String?, query: [String: String]) throws
        -> JSONValue
    {
        let record = try record(id)
        let offset = try API.intQuery(query, "offset", default: 0, range: Self.cellOffsets)
        let limit = try API.intQuery(query, "limit", default: 48, range: Self.cellLimits)
        let (report, samples) = try evaluated(record, split: split, needSamples: true)
        guard let samples else { throw ServiceError(409, "data_unavailable", "model \(record.id) has no sample predictions") }
        let names = report["classes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        func index(_ text: String, _ what: String) throws -> Int {
            guard let k = Int(text), (0..<samples.classes).contains(k) else {
                throw ServiceError(404, "not_found",
                                   "\(what) class \"\(text)\" is not a class index of this model (0…\(samples.classes - 1))")
            }
            return k
        }
        let t = try index(truth, "true"), p = try index(predicted, "predicted")
        let members = samples.cell(truth: t, predicted: p)
        let page = members.dropFirst(min(offset, members.count)).prefix(limit)
        func name(_ k: Int) -> String { k < names.count ? names[k] : "class \(k)" }
        return ["split": .string(samples.split), "true": .number(Double(t)), "predicted": .number(Double(p)),
                "true_label": .string(name(t)), "predicted_label": .string(name(p)),
                "count": .number(Double(members.count)), "offset": .number(Double(offset)), "limit": .number(Double(limit)),
                "samples": .array(page.map { i in
                    ["index": .number(Double(i)), "probability": .number((Double(samples.probability[i]) * 1e6).rounded() / 1e6),
                     "image": .string(ModelEvaluation.imagePath(model: record.id, split: samples.split, index: i))]
                })]
    }

    /// The report for `split` and, when `needSamples`, every sample's prediction: the stored ones when they are of
    /// that split, else computed now and kept.
    private func evaluated(_ record: ModelRecord, split: String?, needSamples: Bool) throws
        -> (report: JSONValue, samples: SamplePredictions?)
    {
        if let split { try ModelEvaluation.check(split: split) }
        let stored = try stored(record)
        let storedSplit = stored?["split"]?.stringValue
        if let stored, split == nil || storedSplit == split {
            if !needSamples { return (stored, nil) }
            if let samples = try storedSamples(record) { return (stored, samples) }
        }
        return try lock.withLock {
            let c = try context(for: record)
            let split = split ?? storedSplit ?? ModelEvaluation.defaultSplit(c.run)
            let key = record.id + "/" + split
            if let cached = reports[key] { return (cached.report, cached.samples) }
            let computed = try ModelEvaluation.evaluate(
                model: c.model, data: ModelEvaluation.data(c.run, split: split), split: split,
                classNames: c.run.classNames, loss: nil,
                imageURL: { ModelEvaluation.imagePath(model: record.id, split: split, index: $0) })
            keep(key, computed)
            return (computed.report, computed.samples)
        }
    }

    /// Keeps a computed report (called with `lock` held); the oldest goes when there are more than `limit`.
    private func keep(_ key: String, _ value: (report: JSONValue, samples: SamplePredictions)) {
        if reports.updateValue(value, forKey: key) == nil { order.append(key) }
        if order.count > limit { reports.removeValue(forKey: order.removeFirst()) }
    }

    /// The PNG of sample `index` of `split`.
    func image(model id: String, split: String, index: String) throws -> [UInt8] {
        try ModelEvaluation.check(split: split)
        let record = try record(id)
        guard let i = Int(index), i >= 0 else {
            throw ServiceError(404, "not_found", "\"\(index)\" is not a sample index (0, 1, …)")
        }
        return try lock.withLock { try ModelEvaluation.thumbnail(run: context(for: record).run, split: split, index: i) }
    }

    /// `evaluation.json` from the model's artifact folder, nil for a model saved without one.
    func stored(_ record: ModelRecord) throws -> JSONValue? {
        try storedFile(record, ModelEvaluation.file)
    }

    /// The stored sample predictions, nil for a model saved without them or with a file that does not read as them.
    func storedSamples(_ record: ModelRecord) throws -> SamplePredictions? {
        if let cached = lock.withLock({ storedSampleCache[record.id] }) { return cached }
        guard let json = try? storedFile(record, ModelEvaluation.samplesFile), let samples = SamplePredictions(json: json)
        else { return nil }
        lock.withLock {
            if storedSampleCache.count >= limit { storedSampleCache.removeAll() }
            storedSampleCache[record.id] = samples
        }
        return samples
    }

    private func storedFile(_ record: ModelRecord, _ name: String) throws -> JSONValue? {
        let folder = try service.artifacts.open(.model, id: record.id, sha256: record.artifactSHA256)
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { return nil }
        return try JSONValue.parse(data)
    }

    /// The model and its data, opened again from its job's spec (called with `lock` held).
    private func context(for record: ModelRecord) throws -> Context {
        if let context, context.modelID == record.id { return context }
        context = nil   // free the previous model's data first
        guard !record.jobID.isEmpty else {
            throw ServiceError(409, "data_unavailable", "model \(record.id) was imported, not trained here: there is no dataset to evaluate it on")
        }
        guard let job = try service.store.job(id: record.jobID) else {
            throw ServiceError(409, "data_unavailable", "the job \(record.jobID) of model \(record.id) is no longer recorded, so its data is unknown")
        }
        let spec = try JobSpec.parse(try JSONValue.parse(job.specJSON))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-evaluation-\(UUID().uuidString)")
        let run: TrainingRun
        do {
            var sources = service.dataSources
            sources.datasetsRoot = try service.datasetsRoot(for: spec, scratch: scratch)
            run = try TrainingRun(spec: spec, sources: sources)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw ServiceError(409, "data_unavailable", "the data model \(record.id) was trained on cannot be read: \(error)")
        }
        let folder = try service.artifacts.open(.model, id: record.id, sha256: record.artifactSHA256)
        let model = try ModelArchive.load(from: folder).model
        model.threads = service.configuration.threadsPerJob
        let opened = Context(modelID: record.id, run: run, model: model, scratch: scratch)
        context = opened
        return opened
    }
}

extension HTTPApp {
    func registerEvaluationRoutes() {
        let evaluations = EvaluationService(service: service)
        route("GET", "/v1/models/{id}/evaluation") { request, p in
            APIResult(200, try evaluations.evaluation(model: p["id"]!, split: request.query["split"]))
        }
        route("GET", "/v1/models/{id}/evaluation/cells/{true}/{predicted}") { request, p in
            APIResult(200, try evaluations.cell(model: p["id"]!, truth: p["true"]!, predicted: p["predicted"]!,
                                                split: request.query["split"], query: request.query))
        }
        let logger = self.logger
        router.add("GET", "/v1/models/{id}/evaluation/images/{split}/{index}.png") { request, p in
            HTTPApp.answering(request, logger: logger) {
                let png = try evaluations.image(model: p["id"]!, split: p["split"]!, index: p["index"]!)
                return HTTPResponse(status: 200, headers: ["Content-Type": "image/png", "Cache-Control": "max-age=3600"],
                                    body: png)
            }
        }
    }
}
