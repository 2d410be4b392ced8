import ArgumentParser
import Foundation
import Logging
import SequentNN
import SequentService

/// A training worker without HTTP: claims jobs from the shared store, trains them, records epochs, checkpoints and
/// models there. Run any number, on any machine, against one PostgreSQL.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train jobs from a shared store (--store postgres://…), without serving HTTP.",
        discussion: """
            Each claimed job carries a lease that this process's heartbeat renews; if the process dies, the lease \
            lapses and another worker resumes the job from its last checkpoint.
            """)

    @OptionGroup var options: ServiceOptions

    func run() throws {
        var logger = Logger(label: "sequent-worker")
        logger.logLevel = .info
        logBLAS(logger)
        let c = try options.configuration()
        guard c.workers > 0 else { throw ValidationError("--workers must be at least 1 for a worker") }
        if case .sqlite = c.storeLocation {
            logger.warning("a worker on SQLite shares nothing with other machines; use --store postgres://… for a cluster")
        }
        let service = try TrainingService(configuration: c, logger: logger)
        try service.start()
        logger.info("worker started (store \(c.storeLocation.redacted), \(c.workers) job(s) at once, pid \(ProcessInfo.processInfo.processIdentifier))")
        // Scripts wait for this line before they submit work or kill the process.
        print("sequent worker ready pid \(ProcessInfo.processInfo.processIdentifier)")
        fflush(nil)
        runUntilSignalled(service, app: nil, logger: logger)
    }
}
