import ArgumentParser
import SequentNN
import SequentService

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Print a job spec's model as Keras's model.summary() table.")

    @Argument(help: "Job spec JSON.")
    var spec: String

    func run() throws {
        let file = try loadSpec(spec)
        do {
            let job = try JobSpec.parse(file.value)
            print(try job.makeModel().summary())
        } catch let e as ConfigError {
            throw ValidationError("\(spec): \(e.message)")
        }
    }
}
