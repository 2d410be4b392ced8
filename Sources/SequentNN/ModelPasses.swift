/// The forward and backward passes over the layers, on one workspace (one thread, one shard of a batch). The
/// `FusionPlan` says which layers are computed together and what each one is asked (`LayerFusion`).
extension Sequential {
    /// Forward pass of `n` samples on `ws` through `range` (all layers by default); `x` is the input of the range's
    /// first layer. Returns the output pointer of its last layer.
    ///
    /// Unless `everyOutput` is set, a Conv2D(relu) followed by 2×2 max-pooling is computed in one pass that
    /// leaves the convolution's output buffer unwritten (nothing after the forward pass reads it: the pool's
    /// backward pass needs only its own output and positions).
    @discardableResult
    func forward(_ ws: Workspace, x: UnsafeMutablePointer<Float>, n: Int, context: ForwardContext,
                 everyOutput: Bool = false, layers range: Range<Int>? = nil) -> UnsafeMutablePointer<Float>
    {
        var cur = x
        let params = parameterBlock.pointer
        var pooled = false
        for i in range ?? layers.indices {
            let layer = layers[i]
            let out = layer.isReshape ? cur : ws.output(i)!
            ws.inputs[i] = cur
            ws.outputs[i] = out
            if pooled {
                pooled = false
            } else if !everyOutput, plan.pooled[i], i + 1 < (range ?? layers.indices).upperBound,
                      let conv = layer as? Conv2D,
                      conv.forwardPooled(x: cur, y: ws.output(i + 1)!, argmax: ws.scratch(i + 1), n: n,
                                         params: params + parameterOffsets[i], scratch: ws.scratch(i)) {
                pooled = true
            } else if !layer.isReshape {
                layer.forward(x: cur, y: out, n: n, params: params + parameterOffsets[i], scratch: ws.scratch(i),
                              context: context.with(everyOutput ? plan.fusion[i].subtracting(.computesNextPool)
                                                                : plan.fusion[i]))
            }
            cur = out
        }
        return cur
    }

    /// Backward pass after `forward` on the same workspace; `ws.gradA` holds ∂loss/∂output on entry.
    func backward(_ ws: Workspace, n: Int, context: ForwardContext) {
        ws.dy = ws.gradA!.pointer
        ws.spare = ws.gradB!.pointer
        backward(ws, n: n, context: context, layers: firstTrainable..<layers.count)
    }

    /// Backward through `range` (last layer first); `ws.dy` holds the gradient of the range's output on entry
    /// and of its input on return. Nothing before the first trainable layer is computed.
    func backward(_ ws: Workspace, n: Int, context: ForwardContext, layers range: Range<Int>) {
        let params = parameterBlock.pointer, grads = ws.grads!.pointer
        var done = false
        for i in range.reversed() where i >= firstTrainable {
            if done { done = false; continue }
            let layer = layers[i]
            if layer.isReshape { continue }
            // A max-pool after a pooled Conv2D: both backward passes at once (`Conv2D.backwardPooled`).
            if i > firstTrainable, range.contains(i - 1), plan.pooled[i - 1], let conv = layers[i - 1] as? Conv2D,
               conv.backwardPooled(x: ws.inputs[i - 1], dy: ws.dy, poolY: ws.outputs[i], argmax: ws.scratch(i),
                                   dx: i - 1 > firstTrainable ? ws.spare : nil, n: n,
                                   params: params + parameterOffsets[i - 1], grads: grads + parameterOffsets[i - 1],
                                   scratch: ws.scratch(i - 1)) {
                swap(&ws.dy, &ws.spare)
                done = true
                continue
            }
            if let reg = layer.activityRegularizer {
                reg.addGradient(ws.outputs[i], ws.dy, count: n * layer.outputCount,
                                scale: 1 / Float(context.batchCount > 0 ? context.batchCount : n))
            }
            let dx: UnsafeMutablePointer<Float>? = i > firstTrainable ? ws.spare : nil
            layer.backward(x: ws.inputs[i], y: ws.outputs[i], dy: ws.dy, dx: dx, n: n,
                           params: params + parameterOffsets[i], grads: grads + parameterOffsets[i],
                           scratch: ws.scratch(i), context: context.with(plan.fusion[i]))
            swap(&ws.dy, &ws.spare)
        }
    }
}
