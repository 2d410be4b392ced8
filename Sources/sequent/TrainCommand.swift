import ArgumentParser
import Foundation
import Logging
import SequentNN
import SequentService

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Run a job spec in the foreground, evaluate on the test split, save the model.")

    @Argument(help: "Job spec JSON (see config/jobs/).")
    var spec: String

    @Option(help: "Override fit.epochs.")
    var epochs: Int?

    @Option(help: "Directory to save the model in (default: data/models/<name>-<time>).")
    var output: String?

    @Option(help: "Directory with the Fashion-MNIST IDX files.")
    var fashionMnist: String = "/usr/share/datasets/fashion-mnist"

    @Option(help: "Worker threads for training (default: all cores).")
    var threads: Int?

    func run() throws {
        let logger = Logger(label: "sequent.train")
        logBLAS(logger)
        var file = try loadSpec(spec)
        if let epochs {
            guard case .object(var top) = file.value else { throw ValidationError("\(spec) is not a JSON object") }
            var fit = top["fit"]?.objectValue ?? [:]
            fit["epochs"] = .number(Double(epochs))
            top["fit"] = .object(fit)
            file.value = .object(top)
        }
        let job: JobSpec
        do { job = try JobSpec.parse(file.value) } catch let e as ConfigError {
            throw ValidationError("\(spec): \(e.message)")
        }
        let run = try TrainingRun(spec: job, sources: DataSources(fashionMNISTDirectory: fashionMnist))
        if let threads { run.model.threads = max(1, threads) }
        print(run.model.summary())
        let progress = ProgressPrinter()
        let callbacks = try job.makeCallbacks(checkpointDirectory: outputDirectory(job).appendingPathComponent("checkpoints"))
        let outcome = try run.run(callbacks: callbacks + [progress])
        if let reason = outcome.history.stopReason { print("Stopped: \(reason)") }
        if let failure = outcome.history.failure { throw ValidationError("training failed: \(failure)") }
        let keys = ["loss"] + run.model.metrics.map(\.name)
        print(keys.map { "test_\($0): \(String(format: "%.4f", outcome.test[$0] ?? .nan))" }.joined(separator: " - "))
        let dir = outputDirectory(job)
        var metadata = run.modelMetadata
        metadata["test_metrics"] = .object(outcome.test.mapValues { .number($0) })
        try ModelArchive.save(run.model, to: dir, metadata: metadata)
        print("Saved model to \(dir.path)")
    }

    func outputDirectory(_ job: JobSpec) -> URL {
        if let output { return URL(fileURLWithPath: output) }
        let stamp = ISO8601DateFormatter().string(from: Self.started).replacingOccurrences(of: ":", with: "")
        let safe = job.name.replacingOccurrences(of: " ", with: "_")
        return URL(fileURLWithPath: "data/models/\(safe)-\(stamp)")
    }

    nonisolated(unsafe) static var started = Date()
}

/// Keras-style progress: `Epoch 1/5` then `1875/1875 [====…] - 3s 1ms/step - loss: … - accuracy: …`.
/// On a terminal the bar redraws in place (at most 10 times a second); in a log it prints one line per epoch.
final class ProgressPrinter: Callback {
    private let interactive = isatty(STDOUT_FILENO) != 0
    private var lastDraw = Date.distantPast
    private var lastProgress: BatchProgress?

    func onEpochBegin(_ epoch: Int, model: Sequential) {
        lastProgress = nil
    }

    func onBatchEnd(_ progress: BatchProgress, logs: [String: Double], model: Sequential) {
        if lastProgress == nil {
            print("Epoch \(progress.epoch + 1)/\(progress.epochs)")
            fflush(nil)
        }
        lastProgress = progress
        guard interactive, progress.step < progress.steps, Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let eta = progress.secondsThisEpoch / Double(progress.step) * Double(progress.steps - progress.step)
        let line = "\(bar(progress)) - ETA: \(Int(eta.rounded()))s" + metrics(logs, model)
        FileHandle.standardOutput.write(Data(("\r" + line).utf8))
    }

    func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        guard let p = lastProgress else { return }
        let perStep = p.secondsThisEpoch / Double(max(p.step, 1))
        let stepText = perStep >= 1 ? "\(Int(perStep.rounded()))s/step"
            : perStep >= 0.001 ? "\(Int((perStep * 1000).rounded()))ms/step" : "\(Int((perStep * 1e6).rounded()))us/step"
        let line = "\(bar(p)) - \(Int(p.secondsThisEpoch.rounded()))s \(stepText)" + metrics(logs, model)
        print((interactive ? "\r" : "") + line)
        // stdout is block-buffered when redirected; a log should show each epoch as it finishes.
        fflush(nil)
    }

    private func bar(_ p: BatchProgress) -> String {
        let width = 30
        let done = p.step >= p.steps ? width : width * p.step / max(p.steps, 1)
        let arrow = p.step >= p.steps ? "" : ">"
        let fill = String(repeating: "=", count: max(0, done - arrow.count)) + arrow
        let digits = String(p.steps).count
        let count = String(repeating: " ", count: max(0, digits - String(p.step).count)) + String(p.step)
        return "\(count)/\(p.steps) [\(fill)\(String(repeating: ".", count: max(0, width - fill.count)))]"
    }

    private func metrics(_ logs: [String: Double], _ model: Sequential) -> String {
        let base = ["loss"] + model.metrics.map(\.name)
        let keys = base + base.map { "val_" + $0 }
        return keys.compactMap { k in logs[k].map { " - \(k): \(String(format: "%.4f", $0))" } }.joined()
    }
}
