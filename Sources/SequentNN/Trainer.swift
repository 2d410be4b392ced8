import CSequentSupport
import Dispatch

/// Runs a model's training and evaluation steps, and batched prediction, split across worker threads.
///
/// Each batch is cut into shards, one per replica (a `Workspace` on its own thread); the replicas read the shared
/// parameters and write private gradients, which are summed into the first replica's before the optimizer
/// updates the weights, in pieces that stay in cache. The model owns one trainer (`Sequential.trainer`).
final class Trainer: @unchecked Sendable {
    unowned let model: Sequential
    private(set) var replicas: [Workspace] = []
    /// One block of the fused Dense kernel's gradient per chunk of `updateFusedDense`.
    private var fusedBlocks: FloatBuffer?

    init(model: Sequential) { self.model = model }

    /// Drops the workspaces: the layers' scratch needs change with the fusion plan.
    func reset() { replicas = [] }

    /// How many replicas to split a batch of `n` across: none of them should get too little work for the
    /// thread hop and the smaller GEMMs to pay off (measured: the dense recipe, 6 MFLOP of forward work per
    /// batch of 32, is faster on one thread; the CNNs, 170–320 MFLOP, scale to two).
    func shardCount(for n: Int) -> Int {
        let perSample = max(1, model.layers.reduce(0) { $0 + $1.forwardFlops })
        let worthwhile = max(1, (n * perSample) / 16_000_000)
        return max(1, min(model.threads, n, worthwhile))
    }

    /// The batch an evaluation or prediction over a dataset runs in: `requested`, or fewer when the replicas were
    /// made for a smaller training batch, so evaluating after training touches no more memory than training did
    /// (the results do not depend on the batch).
    func inferenceBatch(_ requested: Int) -> Int {
        guard let capacity = replicas.first?.capacity else { return requested }
        var batch = max(1, min(requested, capacity * replicas.count))
        while batch > capacity && (batch + shardCount(for: batch) - 1) / shardCount(for: batch) > capacity { batch -= 1 }
        return batch
    }

    /// Makes sure every replica can hold one shard of a batch of `n` (allocating only when it grows).
    func ensureReplicas(batch n: Int) {
        let shards = shardCount(for: n)
        let needed = (n + shards - 1) / shards
        let count = max(1, model.threads)
        if replicas.count == count, let first = replicas.first, first.capacity >= needed { return }
        let capacity = max(needed, replicas.first?.capacity ?? 0)
        replicas = (0..<count).map { _ in model.makeWorkspace(capacity: capacity, training: true) }
    }


    /// The large Dense layer's backward products and optimizer step, over the whole batch, in blocks of kernel
    /// rows spread across the threads. Each block is read once for the input gradients of every shard, then its
    /// gradient (summed over the shards inside the GEMM, never stored per shard) is computed and applied while
    /// it is in cache. With per-shard kernel gradients each shard writes all of them (38 MB for the 150×150
    /// recipe), and they are summed and read again. Returns the kernel's range in the parameter block, which
    /// the regular update then skips.
    private func updateFusedDense(_ index: Int, n: Int, shards: Int, optimizer: any Optimizer) -> Range<Int> {
        let dense = model.layers[index] as! Dense
        let (inputs, units) = (dense.inputs, dense.units)
        let offset = model.parameterOffsets[index]
        let per = (n + shards - 1) / shards
        nonisolated(unsafe) let params = model.parameterBlock.pointer
        let shardRows = (0..<shards).map { s in max(0, min(n, (s + 1) * per) - s * per) }
        nonisolated(unsafe) let xs = (0..<shards).map { replicas[$0].inputs[index] }
        nonisolated(unsafe) let dys = (0..<shards).map { replicas[$0].dy }
        nonisolated(unsafe) let dxs = (0..<shards).map { replicas[$0].spare }
        let needsDx = index > model.firstTrainable
        let regs = model.regularizedWeights
        let block = 64, blocks = (inputs + block - 1) / block
        let chunks = min(blocks, max(1, model.threads) * 8)
        // Each block's gradient lives only in its chunk's slot, from its GEMM to its update: the kernel's whole
        // gradient is never stored (153 MB of pages for the 300×300 recipe, touched every step).
        if (fusedBlocks?.count ?? 0) < chunks * block * units { fusedBlocks = FloatBuffer(count: chunks * block * units) }
        nonisolated(unsafe) let slots = fusedBlocks!.pointer
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            sequent_enable_flush_to_zero()
            let w = params + offset, slot = slots + c * block * units
            for b in (c * blocks / chunks)..<((c + 1) * blocks / chunks) {
                let k0 = b * block, rows = min(block, inputs - k0)
                for s in 0..<shards where shardRows[s] > 0 {
                    // dX_s[:, k0..] = dY_s · W[k0.., :]ᵀ, from the block's rows before they are updated.
                    if needsDx {
                        BLAS.sgemm(transB: true, m: shardRows[s], n: rows, k: units, a: dys[s], lda: units,
                                   b: w + k0 * units, ldb: units, beta: 0, c: dxs[s] + k0, ldc: inputs)
                    }
                    // dW[k0.., :] (+)= X_s[:, k0..]ᵀ · dY_s
                    BLAS.sgemm(transA: true, m: rows, n: units, k: shardRows[s], a: xs[s] + k0, lda: inputs,
                               b: dys[s], ldb: units, beta: s == 0 ? 0 : 1, c: slot, ldc: units)
                }
                let range = (offset + k0 * units)..<(offset + (k0 + rows) * units)
                // The optimizer and the regularizers index gradients like parameters (`grads[i]`, i in range), so
                // they get the slot as the base such an index lands in; only `range` is ever read through it.
                let g = slot - range.lowerBound
                if !regs.isEmpty { Sequential.addRegularization(regs, params: params, grads: g, range: range) }
                optimizer.step(params: params, grads: g, range: range)
            }
        }
        for s in 0..<shards { swap(&replicas[s].dy, &replicas[s].spare) }
        return offset..<(offset + inputs * units)
    }


    private func forEachShard(_ n: Int, _ body: @escaping @Sendable (Int, Range<Int>) -> Void) {
        let shards = shardCount(for: n)
        let per = (n + shards - 1) / shards
        // Every thread that computes flushes denormals (see sequent_support.h); setting the flag costs
        // one instruction, so it is simply done on each entry.
        sequent_enable_flush_to_zero()
        if shards == 1 { body(0, 0..<n); return }
        DispatchQueue.concurrentPerform(iterations: shards) { s in
            sequent_enable_flush_to_zero()
            let lo = s * per, hi = min(n, lo + per)
            if lo < hi { body(s, lo..<hi) }
        }
    }

    /// Splits `0..<count` into `threads` ranges and runs them in parallel (elementwise block operations).
    private func parallelRanges(_ count: Int, _ body: @escaping @Sendable (Range<Int>) -> Void) {
        // Below a few hundred thousand parameters the vectorised update takes tens of microseconds, less than
        // the thread hop would.
        let parts = count >= 1 << 20 ? max(1, model.threads) : 1
        sequent_enable_flush_to_zero()
        if parts == 1 { body(0..<count); return }
        let per = (count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            sequent_enable_flush_to_zero()
            let lo = p * per, hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }


    /// One optimisation step on a batch (`train_on_batch`): forward, loss, backward, gradient reduction,
    /// optimizer update. `x` is `[n, input…]`, `y` is `[n, targetWidth]`. `step` seeds dropout.
    /// `classWeight` (Keras's `fit(class_weight=)`) weights each sample's loss and gradient by its label's
    /// weight (1 for a label not in it); the loss is still divided by `n` (`sum_over_batch_size`), and metrics
    /// are unweighted, as Keras 3's `metrics` (not `weighted_metrics`) are.
    func trainStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int, step: Int,
                          classWeight: [Int: Float]? = nil) -> Sequential.BatchResult {
        guard let optimizer = model.optimizer, let loss = model.loss else { preconditionFailure("compile the model before training") }
        optimizer.prepare(parameterCount: model.parameterCount)
        ensureReplicas(batch: n)
        let width = model.outputWidth, tw = loss.targetWidth(outputWidth: width), inCount = model.inputCount
        var stepContext = ForwardContext(training: true, seed: SeededGenerator.mix(model.seed ^ UInt64(step)), sampleOffset: 0)
        stepContext.batchCount = n
        stepContext.step = step
        let context = stepContext
        let gradScale = 1 / Float(n)
        // Keras adds the penalty of the weights the batch saw, before the update.
        let penalty = model.regularizedWeights.isEmpty ? 0 : model.regularizationPenalty()
        // The shards read disjoint rows of x and y; the pointers outlive the call.
        nonisolated(unsafe) let x = x, y = y
        // Norm clipping needs every gradient complete before any update, which the fused path's
        // compute-and-apply-per-block order cannot give.
        let clipsByNorm = optimizer.options.clipsByNorm
        let big = clipsByNorm ? nil : model.plan.largeDense
        let coupled = model.plan.batchCoupled
        let first = model.firstTrainable, count = model.layers.count
        /// The context of shard `range`.
        @Sendable func shardContext(_ range: Range<Int>) -> ForwardContext {
            var ctx = context
            ctx.sampleOffset = range.lowerBound
            return ctx
        }
        // Forward, in segments that end at each BatchNormalization in training (the whole model when there is
        // none): the shards compute their moments, the batch's statistics are combined here, and the next
        // segment normalises with them.
        var resume: Int? = nil
        for b in coupled {
            let from = resume.map { $0 + 1 } ?? 0, after = resume
            forEachShard(n) { [self, model] s, range in
                let ws = replicas[s]
                let input = resumeForward(ws, after: after, x: x + range.lowerBound * inCount, n: range.count)
                let end = model.forward(ws, x: input, n: range.count, context: shardContext(range), layers: from..<b)
                ws.inputs[b] = end
                ws.outputs[b] = ws.output(b)!
                (model.layers[b] as! BatchNormalization).partialMoments(x: end, n: range.count, scratch: ws.scratch(b))
            }
            combineMoments(layer: b, n: n)
            resume = b
        }
        let from = resume.map { $0 + 1 } ?? 0, after = resume
        // The last segment, the loss, and the backward pass down to the last BatchNormalization to be trained.
        let lastCoupled = coupled.last { $0 >= first }
        forEachShard(n) { [self, model] s, range in
            let ws = replicas[s]
            let ctx = shardContext(range)
            let input = resumeForward(ws, after: after, x: x + range.lowerBound * inCount, n: range.count)
            let out = model.forward(ws, x: input, n: range.count, context: ctx, layers: from..<count)
            evaluateLoss(ws, output: out, target: y + range.lowerBound * tw, n: range.count, loss: loss,
                         classWeight: classWeight, gradScale: gradScale)
            ws.dy = ws.gradA!.pointer
            ws.spare = ws.gradB!.pointer
            if let b = lastCoupled {
                model.backward(ws, n: range.count, context: ctx, layers: (b + 1)..<count)
                (model.layers[b] as! BatchNormalization).partialGradientSums(x: ws.inputs[b], dy: ws.dy, n: range.count,
                                                                            scratch: ws.scratch(b))
                return
            }
            guard let big else {
                model.backward(ws, n: range.count, context: ctx, layers: first..<count)
                return
            }
            model.backward(ws, n: range.count, context: ctx, layers: (big + 1)..<count)
            (model.layers[big] as! Dense).backwardPrologue(y: ws.outputs[big], dy: ws.dy, n: range.count,
                                                           grads: ws.grads!.pointer + model.parameterOffsets[big],
                                                           scratch: ws.scratch(big), fusion: model.plan.fusion[big])
        }
        // Backward through each BatchNormalization with the batch's sums, then on to the next one down.
        let trained = coupled.filter { $0 >= first }
        for (k, b) in trained.enumerated().reversed() {
            let sums = combineGradientSums(layer: b, n: n)
            let below = k > 0 ? trained[k - 1] : nil
            let bn = model.layers[b] as! BatchNormalization
            let total = bn.rows(n)
            forEachShard(n) { [self, model] s, range in
                let ws = replicas[s]
                let ctx = shardContext(range)
                bn.trainingBackward(x: ws.inputs[b], dy: ws.dy, dx: b > first ? ws.spare : nil, n: range.count,
                                    params: model.parameterBlock.pointer + model.parameterOffsets[b],
                                    grads: ws.grads!.pointer + model.parameterOffsets[b], scratch: ws.scratch(b),
                                    batchSums: sums, total: total)
                swap(&ws.dy, &ws.spare)
                model.backward(ws, n: range.count, context: ctx, layers: ((below ?? (first - 1)) + 1)..<b)
                if let below {
                    (model.layers[below] as! BatchNormalization).partialGradientSums(
                        x: ws.inputs[below], dy: ws.dy, n: range.count, scratch: ws.scratch(below))
                }
            }
        }
        let shards = shardCount(for: n)
        var skip = 0..<0
        if let big {
            skip = updateFusedDense(big, n: n, shards: shards, optimizer: optimizer)
            forEachShard(n) { [self, model] s, range in
                var ctx = context
                ctx.sampleOffset = range.lowerBound
                model.backward(replicas[s], n: range.count, context: ctx, layers: model.firstTrainable..<big)
            }
        }
        let grads = replicas[0].grads!.pointer
        let params = model.parameterBlock.pointer
        let others = replicas[1..<shards].map { $0.grads!.pointer }
        nonisolated(unsafe) let g = grads
        nonisolated(unsafe) let p = params
        nonisolated(unsafe) let o = others
        // The trainable weights, less the fused layer's kernel, which is already updated.
        let active = model.trainableRanges.flatMap { r -> [Range<Int>] in
            guard r.overlaps(skip) else { return [r] }
            return [r.lowerBound..<skip.lowerBound, skip.upperBound..<r.upperBound].filter { !$0.isEmpty }
        }
        let regs = model.regularizedWeights
        // With norm clipping: a first pass completes the gradients, then they are rescaled, then a second
        // pass updates. Without it the two passes are one, per piece.
        let passes = clipsByNorm ? [false, true] : [true]
        for updating in passes {
            if updating && clipsByNorm {
                clipGradientNorms(g, variables: model.trainableVariables, options: optimizer.options)
            }
            parallelRanges(model.parameterCount) { range in
                for r in active where r.overlaps(range) {
                    // In pieces that stay in L2 between the sum and the update, so the summed gradient is not
                    // written out to memory and read back.
                    var lo = max(r.lowerBound, range.lowerBound)
                    let hi = min(r.upperBound, range.upperBound)
                    while lo < hi {
                        let piece = lo..<min(hi, lo + 16_384)
                        if !clipsByNorm || !updating {
                            for other in o { for i in piece { g[i] += other[i] } }
                            if !regs.isEmpty { Sequential.addRegularization(regs, params: p, grads: g, range: piece) }
                        }
                        if updating { optimizer.step(params: p, grads: g, range: piece) }
                        lo = piece.upperBound
                    }
                }
            }
        }
        optimizer.iterations += 1
        var result = Sequential.BatchResult(lossSum: penalty * Double(n), metricSums: Array(repeating: 0, count: model.metrics.count), count: n)
        for ws in replicas[0..<shards] {
            result.lossSum += ws.lossSum
            for k in 0..<model.metrics.count { result.metricSums[k] += ws.metricSums[k] }
        }
        return result
    }

    /// The input of a segment of the training forward pass on `ws`: the shard's rows of `x` for the first
    /// segment; otherwise the output of BatchNormalization `after`, whose batch statistics are now known,
    /// normalised here.
    private func resumeForward(_ ws: Workspace, after from: Int?, x: UnsafePointer<Float>, n: Int) -> UnsafeMutablePointer<Float> {
        guard let from else { return UnsafeMutablePointer(mutating: x) }
        let bn = model.layers[from] as! BatchNormalization
        bn.normalizeWithStoredStatistics(x: ws.inputs[from], y: ws.outputs[from], n: n,
                                         params: model.parameterBlock.pointer + model.parameterOffsets[from],
                                         scratch: ws.scratch(from))
        return ws.outputs[from]
    }

    /// Combines the shards' moments at BatchNormalization `b`, moves its moving statistics, and hands every
    /// shard the batch's statistics.
    private func combineMoments(layer b: Int, n: Int) {
        let bn = model.layers[b] as! BatchNormalization
        let shards = shardCount(for: n), per = (n + shards - 1) / shards
        let counts = (0..<shards).map { bn.rows(max(0, min(n, (($0 + 1) * per)) - $0 * per)) }
        let stats = bn.combine(replicas[0..<shards].map { UnsafePointer(bn.momentsBuffer($0.scratch(b))) }, counts: counts)
        bn.updateMovingStatistics(params: model.parameterBlock.pointer + model.parameterOffsets[b],
                                  mean: stats.mean, variance: stats.variance)
        for ws in replicas[0..<shards] { bn.setStatistics(mean: stats.mean, variance: stats.variance, scratch: ws.scratch(b)) }
    }

    /// The batch's Σdy and Σdy·x̂ per channel at BatchNormalization `b`, from the shards' partial sums.
    private func combineGradientSums(layer b: Int, n: Int) -> [Double] {
        let bn = model.layers[b] as! BatchNormalization
        var sums = [Double](repeating: 0, count: 2 * bn.channels)
        for ws in replicas[0..<shardCount(for: n)] {
            let p = bn.gradientSumsBuffer(ws.scratch(b))
            for i in sums.indices { sums[i] += p[i] }
        }
        return sums
    }

    /// Loss and metrics of one shard's output, and the loss gradient into `ws.gradA`.
    /// With `classWeight`, row by row, so each sample's gradient carries its own weight; the unweighted default
    /// keeps the one batched (and fused softmax/sigmoid) call.
    private func evaluateLoss(_ ws: Workspace, output out: UnsafeMutablePointer<Float>, target ys: UnsafePointer<Float>,
                              n: Int, loss: any Loss, classWeight: [Int: Float]?, gradScale: Float) {
        let width = model.outputWidth, tw = loss.targetWidth(outputWidth: width), logits = model.outputIsLogits
        if let classWeight {
            let g = ws.gradA!.pointer
            var sum = 0.0
            for r in 0..<n {
                let w = classWeight[Sequential.classIndex(ys + r * tw, targetWidth: tw)] ?? 1
                sum += Double(w) * loss.evaluate(output: out + r * width, target: ys + r * tw, n: 1, width: width,
                                                 logits: logits, grad: g + r * width, gradScale: gradScale * w)
            }
            ws.lossSum = sum
        } else {
            ws.lossSum = loss.evaluate(output: out, target: ys, n: n, width: width, logits: logits,
                                       grad: ws.gradA!.pointer, gradScale: gradScale)
        }
        ws.lossSum += model.activityPenalty(ws, n: n)
        ws.metricSums = model.metrics.map {
            $0.evaluate(output: out, target: ys, n: n, width: width, targetWidth: tw, logits: logits)
        }
    }

    /// Loss and metrics of a batch without training (used by `evaluate` and validation).
    func testStep(x: UnsafePointer<Float>, y: UnsafePointer<Float>, n: Int) -> Sequential.BatchResult {
        guard let loss = model.loss else { preconditionFailure("compile the model before evaluating") }
        ensureReplicas(batch: n)
        let width = model.outputWidth, tw = loss.targetWidth(outputWidth: width), inCount = model.inputCount
        let logits = model.outputIsLogits
        nonisolated(unsafe) let x = x, y = y
        forEachShard(n) { [self, model] s, range in
            let ws = replicas[s]
            let xs = UnsafeMutablePointer(mutating: x + range.lowerBound * inCount)
            let ys = y + range.lowerBound * tw
            let out = model.forward(ws, x: xs, n: range.count, context: .inference)
            ws.lossSum = loss.evaluate(output: out, target: ys, n: range.count, width: width, logits: logits,
                                       grad: nil, gradScale: 0) + model.activityPenalty(ws, n: range.count)
            ws.metricSums = model.metrics.map { $0.evaluate(output: out, target: ys, n: range.count, width: width, targetWidth: tw, logits: logits) }
        }
        // Keras's validation loss includes the regularization penalty too.
        let penalty = model.regularizedWeights.isEmpty ? 0 : model.regularizationPenalty()
        var result = Sequential.BatchResult(lossSum: penalty * Double(n), metricSums: Array(repeating: 0, count: model.metrics.count), count: n)
        for ws in replicas[0..<shardCount(for: n)] {
            result.lossSum += ws.lossSum
            for k in 0..<model.metrics.count { result.metricSums[k] += ws.metricSums[k] }
        }
        return result
    }

    /// Model outputs for `n` samples at `x` into `out`, in batches of `batchSize`, with a deferred output
    /// activation applied (`Sequential.predict`).
    func predict(_ x: UnsafePointer<Float>, n: Int, batchSize: Int, into out: UnsafeMutablePointer<Float>) {
        let width = model.outputWidth, inCount = model.inputCount
        ensureReplicas(batch: min(batchSize, max(n, 1)))
        let last = model.layers.last!
        let deferred = model.plan.defersOutputActivation ? last.activation : nil
        nonisolated(unsafe) let xp = x, op = out
        var lo = 0
        while lo < n {
            let count = min(batchSize, n - lo)
            let base = lo
            forEachShard(count) { [self, model] s, range in
                let start = base + range.lowerBound
                let y = model.forward(replicas[s], x: UnsafeMutablePointer(mutating: xp + start * inCount),
                                      n: range.count, context: .inference)
                let dst = op + start * width
                dst.update(from: y, count: range.count * width)
                deferred?.apply(dst, rows: range.count, width: width)
            }
            lo += count
        }
    }
}
