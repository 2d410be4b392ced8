import CSequentSupport

/// Conv2D's forward pass in row slices, for intra-op parallel inference (`Sequential.inferenceForward`): threads
/// compute disjoint output rows of one batch on the direct kernels. Rows are counted over the batch (`n · OH`, or
/// `n · (OH / 2)` pooled rows), so one sample and a few split alike.
extension Conv2D {
    /// Output rows of a batch of `n`.
    func outputRowCount(batch n: Int) -> Int { n * g.oh }

    /// Pooled output rows of a batch of `n` for `forwardPooledRows`.
    func pooledRowCount(batch n: Int) -> Int { n * (g.oh / 2) }

    /// Floats of scratch one concurrent slice of `forwardPooledRows` needs (two convolution rows).
    var pooledRowScratch: Int { sequent_conv2d_forward_maxpool2_scratch(g.w, g.kw, filters) }

    /// Whether `forwardRows` can compute the forward pass under `fusion`: on the direct kernels, with an
    /// activation they apply themselves (ReLU) or none, so no slice has a pass over the whole output left.
    func splitsForward(_ fusion: LayerFusion) -> Bool {
        let act = fusion.contains(.defersActivation) ? Activation.linear : activation
        return directForward && (act == .relu || act == .linear)
    }

    /// Output rows `rows` of `forward` (when `splitsForward(fusion)`); false, doing nothing, when the kernels
    /// cannot.
    func forwardRows(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, params: UnsafePointer<Float>,
                     fusion: LayerFusion, rows: Range<Int>) -> Bool {
        let relu: Int32 = !fusion.contains(.defersActivation) && activation == .relu ? 1 : 0
        let bias = useBias ? params + g.kh * g.kw * g.c * filters : nil
        return sequent_conv2d_forward_rows(x, params, bias, y, n, g.h, g.w, g.c, g.kh, g.kw, filters, relu,
                                           rows.lowerBound, rows.upperBound) != 0
    }

    /// Pooled rows `rows` of `forwardPooled`, with its own `scratch` of `pooledRowScratch` floats.
    func forwardPooledRows(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Float>,
                           n: Int, params: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                           rows: Range<Int>) -> Bool {
        let bias = useBias ? params + g.kh * g.kw * g.c * filters : nil
        return argmax.withMemoryRebound(to: UInt8.self, capacity: n * (g.oh / 2) * (g.ow / 2) * filters) { arg in
            sequent_conv2d_forward_maxpool2_rows(x, params, bias, y, arg, scratch, n, g.h, g.w, g.c, g.kh, g.kw,
                                                 filters, 1, rows.lowerBound, rows.upperBound) != 0
        }
    }
}
