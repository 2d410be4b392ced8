import ArgumentParser
import Foundation
import Logging
import SequentNN

/// The `sequent` command: train, inspect and benchmark Keras-style models.
@main
enum Entry {
    static func main() {
        // OpenBLAS picks its kernel before main runs; on CPUs it does not know this re-executes once with
        // OPENBLAS_CORETYPE set, so every command runs the fast kernels.
        BLAS.ensureNativeKernel()
        // The engine splits batches across its own threads; BLAS inside each one stays single-threaded
        // (SEQUENT_BLAS_THREADS overrides, for experiments).
        BLAS.setThreads(ProcessInfo.processInfo.environment["SEQUENT_BLAS_THREADS"].flatMap { Int($0) } ?? 1)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        SequentCommand.main()
    }
}

struct SequentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sequent",
        abstract: "Train and serve Keras-style Sequential image classifiers on the CPU.",
        subcommands: [ServeCommand.self, WorkerCommand.self, TrainCommand.self, PredictCommand.self, SummaryCommand.self, BenchCommand.self, ExportImagesCommand.self])
}

/// Reads and validates a job spec file, turning errors into one readable line.
func loadSpec(_ path: String) throws -> JobSpecFile {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
    do {
        return JobSpecFile(path: path, value: try JSONValue.parse(data))
    } catch let e as ConfigError {
        throw ValidationError("\(path) \(e.detail)")
    }
}

struct JobSpecFile {
    var path: String
    var value: JSONValue
}

/// Logs which BLAS kernel is running, loudly when it is the slow fallback.
func logBLAS(_ logger: Logger) {
    if BLAS.isFallbackKernel {
        logger.warning("OpenBLAS is using the generic \(BLAS.coreName) kernel on a CPU that supports \(BLAS.recommendedCoreType() ?? "better"): training will be several times slower. Set OPENBLAS_CORETYPE.")
    } else {
        logger.info("OpenBLAS core: \(BLAS.coreName)")
    }
}
