import ArgumentParser
import Dispatch
import Foundation
import Logging
import SequentNN
import SequentService

/// The settings `sequent serve` and `sequent worker` share: config file, store, data directory, training.
struct ServiceOptions: ParsableArguments {
    @Option(help: "Config file (default: config/sequent.json if present).")
    var config: String?
    @Option(help: "Where records live: sqlite (default), sqlite://PATH, or postgres://user@host:port/db for a cluster.")
    var store: String?
    @Option(help: "Directory for the SQLite database, models and checkpoints (with postgres: this machine's cache).")
    var dataDir: String?
    @Option(help: "Jobs trained at once by this process (serve: 0 serves only).") var workers: Int?
    @Option(help: "Engine threads per job.") var threadsPerJob: Int?
    @Option(help: "Queued jobs beyond this are refused with 429.") var maxQueuedJobs: Int?
    @Option(help: "Models with more parameters are refused with 422.") var maxParameters: Int?
    @Option(help: "Directory with the Fashion-MNIST IDX files.") var fashionMnist: String?
    @Option(help: "Seconds a worker's claim on a job lasts unless its heartbeat renews it.") var leaseSeconds: Double?
    @Option(help: "With postgres: keep models, checkpoints and datasets in this shared directory instead of the database.")
    var artifactsDir: String?

    /// The config file, then `SEQUENT_*`, then these flags (and `extra`, the command's own).
    func configuration(_ extra: [(key: String, value: JSONValue?, flag: String)] = []) throws -> ServiceConfiguration {
        var c: ServiceConfiguration
        do { c = try ServiceConfiguration.load(file: config) } catch let e as ConfigError { throw ValidationError(e.message) }
        let flags: [(String, JSONValue?, String)] = [
            ("store", store.map { .string($0) }, "--store"),
            ("data_dir", dataDir.map { .string($0) }, "--data-dir"),
            ("workers", workers.map { .number(Double($0)) }, "--workers"),
            ("threads_per_job", threadsPerJob.map { .number(Double($0)) }, "--threads-per-job"),
            ("max_queued_jobs", maxQueuedJobs.map { .number(Double($0)) }, "--max-queued-jobs"),
            ("max_parameters", maxParameters.map { .number(Double($0)) }, "--max-parameters"),
            ("fashion_mnist_dir", fashionMnist.map { .string($0) }, "--fashion-mnist"),
            ("lease_seconds", leaseSeconds.map { .number($0) }, "--lease-seconds"),
            ("artifacts_dir", artifactsDir.map { .string($0) }, "--artifacts-dir"),
        ] + extra.map { ($0.key, $0.value, $0.flag) }
        do {
            for (key, value, flag) in flags { if let value { try c.set(key, value, source: flag) } }
        } catch let e as ConfigError { throw ValidationError(e.message) }
        return c
    }
}

/// Stops `service` (and `app`, if it serves HTTP) gracefully on SIGTERM or SIGINT, then exits: stop accepting,
/// end event streams, finish in-flight requests, then stop the workers (running jobs go back to the queue and
/// resume from their last checkpoint, here or on another worker). Never returns.
func runUntilSignalled(_ service: TrainingService, app: HTTPApp?, logger: Logger) -> Never {
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    for sig in [SIGTERM, SIGINT] {
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            logger.info("signal \(sig): shutting down")
            service.events.close(jobID: nil)
            app?.server.shutdown(gracePeriod: 10)
            service.shutdown(timeout: 60)
            logger.info("stopped")
            Foundation.exit(0)
        }
        source.resume()
        SignalSources.keep.append(source)
    }
    dispatchMain()
}

/// Signal sources must outlive the command's `run`.
enum SignalSources {
    nonisolated(unsafe) static var keep: [DispatchSourceSignal] = []
}
