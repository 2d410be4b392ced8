import Foundation
import SequentData
import SequentNN
import SequentStore

/// A trained model ready to answer: weights in memory, class names, preprocessing, and a batcher.
public final class LoadedModel: @unchecked Sendable {
    public let id: String
    public let name: String
    public let model: Sequential
    public let classNames: [String]
    public let preprocessing: Preprocessing
    let batcher: PredictBatcher
    /// The model's outputs are scores, not probabilities: it was compiled with a `from_logits` loss and its last
    /// layer has no softmax/sigmoid of its own. Predictions turn them into probabilities (`probabilities(_:)`).
    public let outputsLogits: Bool
    /// Bytes of weights, for the cache's budget.
    public var bytes: Int { model.parameterCount * 4 }

    /// `specLoss` supplies the job spec's `compile.loss` for a model saved without compile settings (every
    /// model Sequent trains has them; an archive copied in by hand may not). `directory` is the model's folder.
    init(record: ModelRecord, directory: URL, maxBatch: Int, specLoss: () -> JSONValue? = { nil }) throws {
        let loaded = try ModelArchive.load(from: directory)
        id = record.id
        name = record.name
        model = loaded.model
        model.threads = 1
        let meta = loaded.metadata
        classNames = meta["class_names"]?.arrayValue?.compactMap(\.stringValue)
            ?? (0..<model.outputWidth).map { "class \($0)" }
        let shape = model.inputShape
        let pre = meta["preprocessing"]
        let (h, w, c) = shape.count == 3 ? (shape[0], shape[1], shape[2]) : (28, 28, 1)
        preprocessing = Preprocessing(height: h, width: w, channels: c,
                                      rescale: Float(pre?["rescale"]?.doubleValue ?? 1.0 / 255.0),
                                      background: Preprocessing.Background(rawValue: pre?["background"]?.stringValue ?? "dark") ?? .dark,
                                      interpolation: Preprocessing.Interpolation(rawValue: pre?["interpolation"]?.stringValue ?? "") ?? .bilinear)
        batcher = PredictBatcher(model: model, maxBatch: maxBatch)
        // An imported Keras model says itself (its compile config's loss, read at import).
        outputsLogits = meta["outputs_logits"]?.boolValue ?? Self.outputsLogits(model, fromLogits: model.loss?.fromLogits
            ?? specLoss().flatMap { try? makeLoss($0).fromLogits } ?? false)
    }

    /// Whether `model` outputs scores rather than probabilities, given whether its loss is `from_logits`: a
    /// from_logits loss on a softmax/sigmoid layer (Keras warns about it) still outputs probabilities.
    static func outputsLogits(_ model: Sequential, fromLogits: Bool) -> Bool {
        let last = model.layers.last?.activation ?? .linear
        return fromLogits && last != .softmax && last != .sigmoid
    }

    /// True for a one-unit output (binary classification).
    public var isBinary: Bool { model.outputWidth == 1 }

    /// The model's output as probabilities: a logits model's scores go through softmax (several classes) or
    /// sigmoid (one unit), as `tf.nn.softmax(model(x))` would; other models' outputs are returned as they are.
    public func probabilities(_ output: [Float]) -> [Double] { Self.probabilities(output, logits: outputsLogits) }

    /// `output` as probabilities when it is `logits` (see `probabilities(_:)`), else as it is.
    static func probabilities(_ output: some Collection<Float>, logits: Bool) -> [Double] {
        guard logits else { return output.map(Double.init) }
        if output.count == 1 { return [1 / (1 + Foundation.exp(-Double(output.first!)))] }
        // Shifted by the maximum so that large logits cannot overflow exp.
        let m = Double(output.max() ?? 0)
        let e = output.map { Foundation.exp(Double($0) - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}

/// Runs concurrent predictions of one model in shared batches without a dedicated thread: a request that
/// finds no batch running becomes the leader, takes everything queued (up to `maxBatch`), runs one forward
/// pass and hands out the results; requests arriving meanwhile wait and form the next batch. Under load this
/// batches naturally; alone, a request pays no waiting time.
final class PredictBatcher: @unchecked Sendable {
    final class Item {
        let input: [Float]
        var output: [Float]?
        init(_ input: [Float]) { self.input = input }
    }

    private let model: Sequential
    private let maxBatch: Int
    private let condition = NSCondition()
    private var pending: [Item] = []
    private var running = false
    private let predictor: Predictor
    private let staging: UnsafeMutablePointer<Float>

    init(model: Sequential, maxBatch: Int) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        // One batch runs at a time per model; it splits its large layers across every core that no other
        // model's prediction holds (`InferenceCores`): a lone request gets all of them, a busy server one each.
        predictor = model.makePredictor(maxBatch: self.maxBatch, threads: ProcessInfo.processInfo.activeProcessorCount)
        staging = .allocate(capacity: self.maxBatch * model.inputCount)
    }

    deinit { staging.deallocate() }

    /// Model outputs for several inputs (each `inputCount` floats), in order.
    func predict(_ inputs: [[Float]]) -> [[Float]] {
        let items = inputs.map(Item.init)
        condition.lock()
        pending.append(contentsOf: items)
        while items.contains(where: { $0.output == nil }) {
            if running {
                condition.wait()
                continue
            }
            running = true
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            condition.unlock()
            let n = model.inputCount, width = model.outputWidth
            for (i, item) in batch.enumerated() {
                item.input.withUnsafeBufferPointer { (staging + i * n).update(from: $0.baseAddress!, count: n) }
            }
            let out = predictor.predict(staging, n: batch.count)
            for (i, item) in batch.enumerated() { item.output = Array(out[(i * width)..<((i + 1) * width)]) }
            condition.lock()
            running = false
            condition.broadcast()
        }
        condition.unlock()
        return items.map { $0.output! }
    }
}

/// Loaded models, least recently used evicted first once their weights exceed `budgetBytes`.
public final class ModelCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (model: LoadedModel, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    private var loading: [String: NSCondition] = [:]
    public let budgetBytes: Int
    let maxBatch: Int

    public init(budgetBytes: Int = 512 << 20, maxBatch: Int = 64) {
        self.budgetBytes = budgetBytes
        self.maxBatch = maxBatch
    }

    public var count: Int { lock.withLock { entries.count } }

    /// Forgets a model (it was deleted), freeing its weights.
    public func remove(id: String) { lock.withLock { entries[id] = nil } }

    /// The loaded model for `record`, loading it (once, even under concurrent requests) if needed.
    /// `specLoss` is read only when the saved model has no compile settings (see `LoadedModel`); `directory`
    /// only on a miss (it may download the model): by default the record's `path`.
    public func model(for record: ModelRecord, directory: (() throws -> URL)? = nil,
                      specLoss: () -> JSONValue? = { nil }) throws -> LoadedModel {
        lock.lock()
        clock += 1
        if let e = entries[record.id] {
            entries[record.id] = (e.model, clock)
            lock.unlock()
            return e.model
        }
        lock.unlock()
        // Loading takes milliseconds; two simultaneous first requests may both load, and one copy wins.
        let folder = try directory?() ?? URL(fileURLWithPath: record.path)
        let loaded = try LoadedModel(record: record, directory: folder, maxBatch: maxBatch, specLoss: specLoss)
        lock.lock()
        defer { lock.unlock() }
        if let e = entries[record.id] { return e.model }
        entries[record.id] = (loaded, clock)
        var total = entries.values.reduce(0) { $0 + $1.model.bytes }
        while total > budgetBytes, entries.count > 1,
              let victim = entries.filter({ $0.key != record.id }).min(by: { $0.value.lastUse < $1.value.lastUse }) {
            total -= victim.value.model.bytes
            entries.removeValue(forKey: victim.key)
        }
        return loaded
    }
}

/// One input to classify: an image's bytes or a ready tensor, and how to name it in the answer.
public enum PredictInput: Sendable {
    case image(name: String, bytes: [UInt8])
    case tensor(name: String, values: [Float])
}

/// Classifies images and tensors with registered models, read from the artifact store (checked against the
/// digest recorded with the model).
public final class PredictService: @unchecked Sendable {
    public let store: any ServiceStore
    public let artifacts: any ArtifactStore
    public let cache: ModelCache
    public let maxPixels: Int

    public init(store: any ServiceStore, artifacts: any ArtifactStore, cache: ModelCache = ModelCache(),
                maxPixels: Int = 40_000_000) {
        self.store = store
        self.artifacts = artifacts
        self.cache = cache
        self.maxPixels = maxPixels
    }

    /// The model by id, or by job name (its newest model).
    public func model(_ idOrName: String) throws -> LoadedModel {
        guard let record = try store.model(id: idOrName) ?? store.latestModel(named: idOrName) else {
            throw ServiceError.notFound("model", idOrName)
        }
        let store = self.store
        // Only a model saved without compile settings needs its job's spec to know whether it outputs logits.
        let specLoss = { () -> JSONValue? in
            guard let job = try? store.job(id: record.jobID), let spec = try? JSONValue.parse(Data(job.specJSON.utf8)) else { return nil }
            return spec["compile"]?["loss"]
        }
        let artifacts = self.artifacts
        let folder = { try artifacts.open(.model, id: record.id, sha256: record.artifactSHA256) }
        do { return try cache.model(for: record, directory: folder, specLoss: specLoss) } catch {
            throw ServiceError(500, "model_unavailable", "model \(record.id) cannot be loaded: \(error)")
        }
    }

    /// Decodes and preprocesses an input; errors name it.
    public func prepare(_ input: PredictInput, for m: LoadedModel, invert: Preprocessing.Invert) throws -> [Float] {
        try prepared(input, for: m, invert: invert).values
    }

    /// `prepare`, also saying whether an image was inverted (nil for a tensor, which is taken as it is).
    public func prepared(_ input: PredictInput, for m: LoadedModel,
                         invert: Preprocessing.Invert) throws -> (values: [Float], inverted: Bool?) {
        switch input {
        case .tensor(let name, let values):
            guard values.count == m.model.inputCount else {
                throw ServiceError(400, "invalid_instance", "\(name) has \(values.count) values, the model expects \(m.model.inputCount) (shape \(m.model.inputShape))", field: name)
            }
            guard values.allSatisfy({ $0.isFinite }) else {
                throw ServiceError(400, "invalid_instance", "\(name) contains a non-finite number", field: name)
            }
            return (values, nil)
        case .image(let name, let bytes):
            // On the request's thread, outside the batcher: one request's decode overlaps another's forward pass.
            do {
                let t = try m.preprocessing.tensor(decoding: bytes, maxPixels: maxPixels, invert: invert)
                return (t.values, t.inverted)
            } catch let e as ImageDecodingError {
                throw ServiceError(image: e, part: name)
            }
        }
    }

    /// Runs the model on prepared inputs (batched with concurrent requests).
    public func outputs(_ inputs: [[Float]], model m: LoadedModel) -> [[Float]] {
        m.batcher.predict(inputs)
    }

    /// Sequent's answer for one input: label, index, probability and the top `k` classes. A one-unit
    /// model answers with the probability of class 1 and the label it implies (> 0.5). `output` is the raw
    /// model output; a logits model's scores become probabilities first.
    public static func prediction(_ output: [Float], name: String, model m: LoadedModel, topK: Int) -> JSONValue {
        func label(_ i: Int) -> String { i < m.classNames.count ? m.classNames[i] : "class \(i)" }
        let probabilities = m.probabilities(output)
        if m.isBinary {
            let p = probabilities[0]
            let index = p > 0.5 ? 1 : 0
            let top: [JSONValue] = [(1, p), (0, 1 - p)].sorted { $0.1 > $1.1 }.prefix(max(1, min(topK, 2))).map {
                ["label": .string(label($0.0)), "class_index": .number(Double($0.0)), "probability": .number($0.1)]
            }
            return ["input": .string(name), "label": .string(label(index)), "class_index": .number(Double(index)),
                    "probability": .number(p), "top": .array(top)]
        }
        let ranked = probabilities.enumerated().sorted { $0.element > $1.element }
        let top: [JSONValue] = ranked.prefix(max(1, min(topK, probabilities.count))).map {
            ["label": .string(label($0.offset)), "class_index": .number(Double($0.offset)), "probability": .number($0.element)]
        }
        let best = ranked[0]
        return ["input": .string(name), "label": .string(label(best.offset)), "class_index": .number(Double(best.offset)),
                "probability": .number(best.element), "top": .array(top)]
    }
}
