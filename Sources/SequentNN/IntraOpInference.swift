import CSequentSupport
import Dispatch
import Foundation

/// Intra-op parallelism for serving: one prediction's large layers split across threads.
///
/// Training and batched prediction split a batch by samples (`Trainer`); one image has nothing to split that way,
/// so `Predictor` splits inside layers instead: a Conv2D on the direct kernels (and its fused conv + ReLU + pool
/// pass) by output rows, counted over the batch; a Dense by output units, or for a single row by kernel rows
/// (each part streams its own half of the kernel, and the parts' sums are added). Conv2D parts write disjoint
/// rows with the one-thread arithmetic, so their results are the same; a single-row Dense adds in another
/// order. A layer is split only when its work pays for the fork/join: see `defaultMinimumSplitFlops`.
extension Sequential {
    /// Forward work (FLOPs over the batch) below which a layer runs on the calling thread alone: a fork/join
    /// of `concurrentPerform` costs several microseconds, as much as 1 MFLOP of direct convolution.
    static let defaultMinimumSplitFlops = 2_000_000

    /// Parts per thread. More parts than threads, taken in turn by whichever thread is free, bound what a
    /// preempted worker holds up: on a loaded machine a split into exactly two halves waited for the half a
    /// descheduled worker had started (the single-image predict of fashion-cnn took 0.41 ms on two threads
    /// against 0.15 ms on one).
    static let partsPerThread = 4

    /// The inference forward pass (`forward(_:x:n:context:)` with `.inference`) with the layers of at least
    /// `minimumSplitFlops` split across `threads` threads, in up to `threads × partsPerThread` parts.
    /// `partScratch` holds `threads × partsPerThread × partScratchStride` floats:
    /// each part's row buffers for the fused conv + pool pass (`Conv2D.pooledRowScratch`), or its Dense sums.
    func inferenceForward(_ ws: Workspace, x: UnsafeMutablePointer<Float>, n: Int, threads: Int,
                          minimumSplitFlops: Int = defaultMinimumSplitFlops, partScratch: UnsafeMutablePointer<Float>,
                          partScratchStride: Int) -> UnsafeMutablePointer<Float>
    {
        guard threads > 1 else { return forward(ws, x: x, n: n, context: .inference) }
        let parts = threads * Self.partsPerThread
        let params = parameterBlock.pointer
        var cur = x
        var i = 0
        while i < layers.count {
            let layer = layers[i], p = params + parameterOffsets[i]
            let out = layer.isReshape ? cur : ws.output(i)!
            nonisolated(unsafe) let (xs, ys, ps) = (cur, out, p)
            if n * layer.forwardFlops >= minimumSplitFlops {
                if plan.pooled[i], i + 1 < layers.count, let conv = layer as? Conv2D {
                    // The convolution's output stays unwritten, as in `forward`; the pool's buffers get the result.
                    nonisolated(unsafe) let (pooled, argmax, rowBuffers) = (ws.output(i + 1)!, ws.scratch(i + 1),
                                                                            partScratch)
                    if Self.inParts(conv.pooledRowCount(batch: n), parts: parts, threads: threads, { part, rows in
                        conv.forwardPooledRows(x: xs, y: pooled, argmax: argmax, n: n, params: ps,
                                               scratch: rowBuffers + part * partScratchStride, rows: rows)
                    }) > 0 {
                        (ws.inputs[i], ws.outputs[i], ws.inputs[i + 1], ws.outputs[i + 1]) = (cur, out, out, pooled)
                        cur = pooled
                        i += 2
                        continue
                    }
                } else if let conv = layer as? Conv2D, conv.splitsForward(plan.fusion[i]) {
                    let fusion = plan.fusion[i]
                    if Self.inParts(conv.outputRowCount(batch: n), parts: parts, threads: threads, { _, rows in
                        conv.forwardRows(x: xs, y: ys, n: n, params: ps, fusion: fusion, rows: rows)
                    }) > 0 {
                        (ws.inputs[i], ws.outputs[i]) = (cur, out)
                        cur = out
                        i += 1
                        continue
                    }
                } else if let dense = layer as? Dense {
                    if n * dense.rowsPerSample == 1 {
                        // One row: parts of the kernel's rows, summed. The product streams the kernel from memory,
                        // and measured on the 300×300 recipe's 78400 × 512 kernel, each thread reading one
                        // contiguous half was faster than both reading alternate halves of every row (which was
                        // slower than one thread: the memory streams interleave).
                        nonisolated(unsafe) let partials = partScratch
                        let units = dense.units
                        let done = Self.inParts(dense.inputs, parts: parts, threads: threads, align: 64) { part, rows in
                            dense.forwardProductRows(x: xs, y: part == 0 ? ys : partials + part * partScratchStride,
                                                     params: ps, inputs: rows)
                            return true
                        }
                        for part in 1..<max(1, done) {
                            let sums = partScratch + part * partScratchStride
                            for c in 0..<units { out[c] += sums[c] }
                        }
                    } else {
                            Self.inParts(dense.units, parts: parts, threads: threads, align: 16) { _, columns in
                            dense.forwardProduct(x: xs, y: ys, n: n, params: ps, columns: columns)
                            return true
                        }
                    }
                    dense.forwardEpilogue(y: out, n: n, params: p, scratch: ws.scratch(i), fusion: plan.fusion[i])
                    (ws.inputs[i], ws.outputs[i]) = (cur, out)
                    cur = out
                    i += 1
                    continue
                }
            }
            // Small layers, and split passes that could not run (they wrote nothing, or rows written again here).
            let end = plan.pooled[i] && i + 1 < layers.count ? i + 2 : i + 1
            cur = forward(ws, x: cur, n: n, context: .inference, layers: i..<end)
            i = end
        }
        return cur
    }

    /// Runs `body` on up to `parts` contiguous parts of `0..<count` (part boundaries on multiples of `align`)
    /// concurrently, on up to `threads` threads of `InferencePool.shared` (the caller's among them). Returns the
    /// number of parts, or 0 when a part's `body` returned false.
    @discardableResult
    static func inParts(_ count: Int, parts wanted: Int, threads: Int? = nil, align: Int = 1,
                        _ body: @Sendable (_ part: Int, _ range: Range<Int>) -> Bool) -> Int {
        let parts = max(1, min(wanted, count / max(1, align)))
        if parts == 1 { return body(0, 0..<count) ? 1 : 0 }
        let blocks = (count + align - 1) / align
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: parts) { done in
            nonisolated(unsafe) let flags = done
            InferencePool.shared.run(iterations: parts, threads: threads ?? parts) { part in
                let lo = min(count, part * blocks / parts * align)
                let hi = min(count, (part + 1) * blocks / parts * align)
                flags[part] = body(part, lo..<hi)
            }
            return done.allSatisfy { $0 } ? parts : 0
        }
    }
}

/// The cores that concurrent predictions share. A prediction asks for up to its predictor's `threads` and gets
/// what is free, at least one: alone on the server it runs on every core, while other predictions run it takes
/// what is left (one thread when the server is busy). So intra-op threads cut the latency of a lone request
/// without oversubscribing the cores under load, where one thread per request is the most throughput. Work on
/// other threads (image decoding, training) is not counted: when they hold the other core, a part no worker
/// picks up is run by the calling thread after its own (`concurrentPerform` lets the caller take any
/// iteration not yet started), so a split never waits long for a core that is not there.
public final class InferenceCores: @unchecked Sendable {
    /// The process's budget: one per core.
    public static let shared = InferenceCores(count: ProcessInfo.processInfo.activeProcessorCount)
    /// Cores in the budget.
    public let count: Int
    private let lock = NSLock()
    private var inUse = 0

    public init(count: Int) { self.count = max(1, count) }

    /// Takes up to `wanted` cores (at least one, even when none are free); give them back with `release`.
    func acquire(_ wanted: Int) -> Int {
        lock.withLock {
            let granted = max(1, min(wanted, count - inUse))
            inUse += granted
            return granted
        }
    }

    func release(_ granted: Int) { lock.withLock { inUse -= granted } }

    /// Cores taken now (for tests).
    var taken: Int { lock.withLock { inUse } }
}
