import ArgumentParser
import Foundation
import SequentData
import SequentNN
import SequentService

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Train each recipe for a fixed number of steps; print samples/s, GFLOP/s, peak RSS, the time of the evaluation stored with a model, and inference speed.",
        discussion: """
            Build with -c release. Each recipe runs in its own process so peak RSS is its own (measured after training \
            and the evaluation, before the inference figures). Inference: single-image p50/p99 through a serving \
            Predictor, one call at a time; batch-N samples/s (N = 1, 32, 256) as the batch predict route runs them \
            (one predictor, one thread, chunks of at most \(InferenceBench.servingMaxBatch)), and in JSON also through \
            the engine's multi-threaded Sequential.predict (infer_engine_b*_sps).
            """)

    @Argument(help: "Job specs to measure (default: config/jobs/fashion-*.json).")
    var specs: [String] = []

    @Option(help: "Timed training steps per recipe.")
    var steps: Int = 300

    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 30

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: "Directory with the Fashion-MNIST IDX files.")
    var fashionMnist: String = "/usr/share/datasets/fashion-mnist"

    @Option(help: "Memory for a folder dataset's decoded images (0: decode every image for every batch).")
    var imageCacheBytes: Int = 1 << 30

    @Option(help: "Single-image predictions timed for p50/p99 (0: enough for about 3 s, 100 to 2,000).")
    var latencyCalls: Int = 0

    @Option(help: "Seconds each batch throughput figure runs for.")
    var inferSeconds: Double = 1

    @Flag(help: "Print one JSON line per recipe instead of a table.")
    var json = false

    @Flag(help: .hidden)
    var child = false

    @Option(help: "Time one convolution's passes instead, direct kernels against im2col + sgemm: HxWxC:FILTERS:K.")
    var conv: [String] = []

    @Option(help: "Time one Dense layer's passes instead on a batch of 16: INPUTS:UNITS.")
    var dense: [String] = []

    func run() throws {
        if !conv.isEmpty || !dense.isEmpty {
            for shape in conv { try timeConvolution(shape) }
            for shape in dense { try timeDense(shape) }
            return
        }
        if child {
            for spec in specs { print(try measure(spec).serialized()) }
            return
        }
        var paths = specs
        if paths.isEmpty {
            let dir = "config/jobs"
            paths = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                .filter { $0.hasPrefix("fashion-") && $0.hasSuffix(".json") }.sorted().map { "\(dir)/\($0)" }
        }
        guard !paths.isEmpty else { throw ValidationError("no job specs given and none found in config/jobs") }
        #if DEBUG
        FileHandle.standardError.write(Data("warning: this is a debug build; measure with `swift build -c release`\n".utf8))
        #endif
        if !json {
            print("OpenBLAS \(BLAS.coreName), \(threads ?? ProcessInfo.processInfo.activeProcessorCount) thread(s), \(steps) steps")
            print("recipe                 batch  samples/s  GFLOP/s  MFLOP/sample  peak RSS MB  input wait s  evaluate s"
                  + "  p50 ms   p99 ms     b1/s    b32/s   b256/s  b256 GFLOP/s")
        }
        for path in paths {
            var args = ["bench", "--child", "--steps", String(steps), "--warmup", String(warmup),
                        "--fashion-mnist", fashionMnist, "--image-cache-bytes", String(imageCacheBytes),
                        "--latency-calls", String(latencyCalls), "--infer-seconds", String(inferSeconds), path]
            if let threads { args += ["--threads", String(threads)] }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            p.arguments = args
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0, let line = String(data: out, encoding: .utf8)?
                .split(separator: "\n").last, let r = try? JSONValue.parse(String(line)) else {
                throw ValidationError("benchmark of \(path) failed (exit \(p.terminationStatus))")
            }
            if json { print(r.serialized()); continue }
            func num(_ k: String) -> Double { r[k]?.doubleValue ?? .nan }
            let name = (r["recipe"]?.stringValue ?? path).padding(toLength: 22, withPad: " ", startingAt: 0)
            print(name + String(format: " %5.0f  %9.0f  %7.1f  %12.2f  %11.0f  %12.3f  %10.3f", num("batch_size"),
                                num("samples_per_second"), num("gflops"), num("mflop_per_sample"),
                                num("peak_rss_mb"), num("input_wait_seconds"), num("evaluate_seconds"))
                  + String(format: "  %6.3f  %7.3f  %7.0f  %7.0f  %7.0f  %12.1f", num("predict_one_p50_ms"),
                           num("predict_one_p99_ms"), num("infer_b1_sps"), num("infer_b32_sps"), num("infer_b256_sps"),
                           num("infer_b256_gflops")))
        }
    }

    func measure(_ path: String) throws -> JSONValue {
        let file = try loadSpec(path)
        let job = try JobSpec.parse(file.value)
        let run = try TrainingRun(spec: job, sources: DataSources(fashionMNISTDirectory: fashionMnist,
                                                                  imageCacheBytes: imageCacheBytes))
        if let threads { run.model.threads = max(1, threads) }
        var options = run.fitOptions()
        options.epochs = 1
        options.validationSplit = nil
        options.stepsPerEpoch = warmup
        try run.model.fit(data: run.trainData, options: options)
        options.stepsPerEpoch = steps
        let history = try run.model.fit(data: run.trainData, options: options)
        let sps = history.epochs.last?.samplesPerSecond ?? 0
        let flops = Double(run.model.trainingFlopsPerSample)
        // The evaluation a job stores with its model (its test or validation split; the job already knows the loss).
        let e0 = Date()
        let report: JSONValue? = run.testData == nil ? nil : try run.evaluation(loss: 0).report
        let evaluateSeconds = report == nil ? Double.nan : Date().timeIntervalSince(e0)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let trainingPeak = Double(usage.ru_maxrss) / 1024
        var bench = try InferenceBench(model: run.model, data: run.testData ?? run.trainData,
                                       maximum: InferenceBench.batchSizes.max()!)
        bench.seconds = inferSeconds
        let inference = try bench.measure(latencyCalls: latencyCalls)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        var fields: [String: JSONValue] = [
            "evaluate_seconds": .number(evaluateSeconds), "evaluate_samples": report?["samples"] ?? .null,
            "recipe": .string(job.name), "batch_size": .number(Double(job.fit.batchSize)),
            "steps": .number(Double(steps)), "threads": .number(Double(run.model.threads)),
            "samples_per_second": .number(sps), "gflops": .number(sps * flops / 1e9),
            "mflop_per_sample": .number(flops / 1e6), "peak_rss_mb": .number(trainingPeak),
            "peak_rss_after_inference_mb": .number(Double(usage.ru_maxrss) / 1024), "blas_core": .string(BLAS.coreName),
            "loss": .number(history.epochs.last?.logs["loss"] ?? .nan),
            "input_wait_seconds": .number(history.epochs.last?.inputWaitSeconds ?? .nan),
        ]
        fields.merge(inference) { _, new in new }
        // The mean of the per-call times, under the name earlier runs used.
        fields["predict_one_ms"] = inference["predict_one_mean_ms"]
        return .object(fields)
    }

    /// Best-of-N milliseconds of `body`.
    func best(_ body: () -> Void) -> Double {
        var t = Double.infinity
        for _ in 0..<max(5, steps / 10) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            t = min(t, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return t
    }

    func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        for i in 0..<count { p[i] = Float((i * 7919) % 1000) / 1000 - 0.5 }
        return p
    }

    /// Times forward and backward passes of one layer on a batch of `n`.
    func timePasses(_ layer: any Layer, input: [Int], n: Int) -> (forward: Double, kernelGrad: Double, inputGrad: Double) {
        let inCount = n * input.reduce(1, *), outCount = n * layer.outputShape.reduce(1, *)
        let x = buffer(inCount), y = buffer(outCount), dy = buffer(outCount), dx = buffer(inCount)
        let params = buffer(layer.parameterCount), grads = buffer(layer.parameterCount)
        let scratch = buffer(layer.scratchCount(batch: n))
        defer { for p in [x, y, dy, dx, params, grads, scratch] { p.deallocate() } }
        let fwd = best { layer.forward(x: x, y: y, n: n, params: params, scratch: scratch, context: .inference) }
        let dw = best {
            layer.forward(x: x, y: y, n: n, params: params, scratch: scratch, context: .inference)
            layer.backward(x: x, y: y, dy: dy, dx: nil, n: n, params: params, grads: grads, scratch: scratch,
                           context: .inference)
        } - fwd
        let both = best {
            layer.forward(x: x, y: y, n: n, params: params, scratch: scratch, context: .inference)
            layer.backward(x: x, y: y, dy: dy, dx: dx, n: n, params: params, grads: grads, scratch: scratch,
                           context: .inference)
        } - fwd
        return (fwd, dw, both - dw)
    }

    /// Best-of-N milliseconds for the forward pass, the kernel gradient alone and the input gradient of one
    /// Conv2D on a batch of 16 (one worker's share of a batch of 32), direct kernels against im2col + sgemm.
    func timeConvolution(_ shape: String) throws {
        let parts = shape.split(separator: ":").map(String.init)
        let dims = parts.first?.split(separator: "x").compactMap { Int($0) } ?? []
        guard parts.count == 3, dims.count == 3, let filters = Int(parts[1]), let k = Int(parts[2]) else {
            throw ValidationError("--conv wants HxWxC:FILTERS:K, e.g. 28x28x1:64:3")
        }
        for (kernels, label) in [(Conv2D.KernelChoice.im2col, "im2col"), (.direct, "direct"), (.winograd, "winograd")] {
            // Linear: a ReLU would add its own gradient pass over the output to the kernel gradient's time.
            let layer = try Conv2D(filters: filters, kernelSize: [k, k])
            layer.kernels = kernels
            try layer.build(inputShape: dims)
            // A shape Winograd does not cover has no Winograd row.
            if kernels == .winograd && !layer.winograd { continue }
            let t = timePasses(layer, input: dims, n: 16)
            let gflop = Double(layer.forwardFlops * 16) / 1e6
            print(String(format: "%@ %@  forward %.3f ms (%.0f GF/s)  kernel grad %.3f ms  input grad %.3f ms",
                         shape, label, t.forward, gflop / t.forward, t.kernelGrad, t.inputGrad))
        }
    }

    /// The same for one Dense layer.
    func timeDense(_ shape: String) throws {
        let parts = shape.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2 else { throw ValidationError("--dense wants INPUTS:UNITS, e.g. 18496:512") }
        let layer = try Dense(units: parts[1], activation: .relu)
        try layer.build(inputShape: [parts[0]])
        let t = timePasses(layer, input: [parts[0]], n: 16)
        let gflop = Double(layer.forwardFlops * 16) / 1e6
        print(String(format: "dense %@  forward %.3f ms (%.0f GF/s)  kernel grad %.3f ms  input grad %.3f ms",
                     shape, t.forward, gflop / t.forward, t.kernelGrad, t.inputGrad))
    }
}
