import ArgumentParser
import Dispatch
import Foundation
import Logging
import SequentNN
import SequentService

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service: job queue, training workers, model registry.",
        discussion: "Settings come from config/sequent.json, then SEQUENT_* environment variables, then these flags.")

    @Option(help: "Config file (default: config/sequent.json if present).")
    var config: String?
    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on (0 picks a free one).") var port: Int?
    @Option(help: "Directory for the SQLite database, models and checkpoints.") var dataDir: String?
    @Option(help: "Jobs trained at once.") var workers: Int?
    @Option(help: "Engine threads per job.") var threadsPerJob: Int?
    @Option(help: "Queued jobs beyond this are refused with 429.") var maxQueuedJobs: Int?
    @Option(help: "Models with more parameters are refused with 422.") var maxParameters: Int?
    @Option(help: "Directory with the Fashion-MNIST IDX files.") var fashionMnist: String?
    @Option(help: "Require this bearer token on mutating routes.") var token: String?

    func run() throws {
        var logger = Logger(label: "sequent")
        logger.logLevel = .info
        logBLAS(logger)
        var c: ServiceConfiguration
        do { c = try ServiceConfiguration.load(file: config) } catch let e as ConfigError { throw ValidationError(e.message) }
        do {
            if let host { try c.set("host", .string(host), source: "--host") }
            if let port { try c.set("port", .number(Double(port)), source: "--port") }
            if let dataDir { try c.set("data_dir", .string(dataDir), source: "--data-dir") }
            if let workers { try c.set("workers", .number(Double(workers)), source: "--workers") }
            if let threadsPerJob { try c.set("threads_per_job", .number(Double(threadsPerJob)), source: "--threads-per-job") }
            if let maxQueuedJobs { try c.set("max_queued_jobs", .number(Double(maxQueuedJobs)), source: "--max-queued-jobs") }
            if let maxParameters { try c.set("max_parameters", .number(Double(maxParameters)), source: "--max-parameters") }
            if let fashionMnist { try c.set("fashion_mnist_dir", .string(fashionMnist), source: "--fashion-mnist") }
            if let token { try c.set("token", .string(token), source: "--token") }
        } catch let e as ConfigError { throw ValidationError(e.message) }

        let service = try TrainingService(configuration: c, logger: logger)
        try service.start()
        let app = HTTPApp(service: service, logger: logger)
        try app.start()
        logger.info("listening on http://\(c.host):\(app.server.port) (data in \(c.dataDirectory), \(c.workers) worker(s))")
        // Tests and scripts read the chosen port from this line when started with --port 0.
        print("sequent listening on port \(app.server.port)")
        fflush(nil)

        // SIGTERM/SIGINT: stop accepting, end event streams, finish in-flight requests, then stop the workers
        // (running jobs go back to the queue and resume from their last checkpoint on the next start).
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                logger.info("signal \(sig): shutting down")
                service.events.close(jobID: nil)
                app.server.shutdown(gracePeriod: 10)
                service.shutdown(timeout: 60)
                logger.info("stopped")
                Foundation.exit(0)
            }
            source.resume()
            ServeCommand.keep.append(source)
        }
        dispatchMain()
    }

    /// Signal sources must outlive `run`.
    nonisolated(unsafe) static var keep: [DispatchSourceSignal] = []
}
