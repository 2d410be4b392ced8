import ArgumentParser
import Foundation
import Logging
import SequentNN
import SequentService

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service: job queue, training workers, model registry.",
        discussion: """
            Settings come from config/sequent.json, then SEQUENT_* environment variables, then these flags. With \
            --store postgres://… several replicas (--workers 0 to serve only) and `sequent worker` processes on \
            other machines share one queue, one registry and live events.
            """)

    @OptionGroup var options: ServiceOptions
    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on (0 picks a free one).") var port: Int?
    @Option(help: "Require this bearer token on mutating routes.") var token: String?

    func run() throws {
        var logger = Logger(label: "sequent")
        logger.logLevel = .info
        logBLAS(logger)
        let c = try options.configuration([
            ("host", host.map { .string($0) }, "--host"), ("port", port.map { .number(Double($0)) }, "--port"),
            ("token", token.map { .string($0) }, "--token"),
        ])
        let service = try TrainingService(configuration: c, logger: logger)
        try service.start()
        let app = HTTPApp(service: service, logger: logger)
        try app.start()
        logger.info("listening on http://\(c.host):\(app.server.port) (store \(c.storeLocation.redacted), data in \(c.dataDirectory), \(c.workers) worker(s))")
        // Tests and scripts read the chosen port from this line when started with --port 0.
        print("sequent listening on port \(app.server.port)")
        fflush(nil)
        runUntilSignalled(service, app: app, logger: logger)
    }
}
