import Foundation

extension Sequential {
    /// The model table as Keras 3 prints it (`model.summary()`): name, output shapes with `None` for the batch,
    /// parameter counts, totals with their size in memory.
    public func summary() -> String {
        let header = ["Layer (type)", "Output Shape", "Param #"]
        var rows: [[String]] = layers.map { layer in
            ["\(layer.name) (\(layer.typeName))",
             "(None, " + layer.outputShape.map(String.init).joined(separator: ", ") + ")",
             Sequential.grouped(layer.parameterCount)]
        }
        rows = rows.map { r in r[1].hasSuffix(", )") ? [r[0], String(r[1].dropLast(3)) + ")", r[2]] : r }
        var widths = [31, 22, 13]
        for r in rows + [header] { for c in 0..<3 { widths[c] = max(widths[c], r[c].count) } }
        func cell(_ s: String, _ c: Int) -> String {
            let pad = String(repeating: " ", count: widths[c] - s.count)
            return c == 2 ? " " + pad + s + " " : " " + s + pad + " "
        }
        func rule(_ l: String, _ m: String, _ r: String, _ h: String) -> String {
            l + widths.map { String(repeating: h, count: $0 + 2) }.joined(separator: m) + r
        }
        var lines = ["Model: \"\(name)\""]
        lines.append(rule("┏", "┳", "┓", "━"))
        lines.append("┃" + (0..<3).map { cell(header[$0], $0) }.joined(separator: "┃") + "┃")
        lines.append(rule("┡", "╇", "┩", "━"))
        for (i, r) in rows.enumerated() {
            lines.append("│" + (0..<3).map { cell(r[$0], $0) }.joined(separator: "│") + "│")
            if i < rows.count - 1 { lines.append(rule("├", "┼", "┤", "─")) }
        }
        lines.append(rule("└", "┴", "┘", "─"))
        let trainable = trainableParameterCount, frozen = parameterCount - trainable
        lines.append(" Total params: \(Sequential.grouped(parameterCount)) (\(Sequential.memorySize(parameterCount * 4)))")
        lines.append(" Trainable params: \(Sequential.grouped(trainable)) (\(Sequential.memorySize(trainable * 4)))")
        lines.append(" Non-trainable params: \(Sequential.grouped(frozen)) (\(Sequential.memorySize(frozen * 4)))")
        return lines.joined(separator: "\n")
    }

    /// The summary as data, for the API: one entry per layer.
    public var summaryRows: [JSONValue] {
        layers.enumerated().map { i, layer in
            .object(["name": .string(layer.name), "type": .string(layer.typeName),
                     "output_shape": .ints(layer.outputShape), "params": .number(Double(layer.parameterCount)),
                     "trainable": .bool(layerTrainable[i])])
        }
    }

    /// 243786 → "243,786".
    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return String(out.reversed())
    }

    /// Bytes as Keras prints them: "952.29 KB" (powers of 1024, two decimals).
    static func memorySize(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(bytes), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return String(format: "%.2f %@", v, units[u])
    }

    /// Floating-point operations of one training sample: forward, weight gradients, and input gradients for
    /// every layer after the first trainable one (earlier layers need none).
    public var trainingFlopsPerSample: Int {
        guard let first = layers.indices.first(where: { layers[$0].parameterCount > 0 && layerTrainable[$0] }) else { return 0 }
        var total = 0
        for (i, l) in layers.enumerated() {
            total += l.forwardFlops
            if l.parameterCount > 0 && layerTrainable[i] { total += l.forwardFlops }   // weight gradient
            if i > first { total += l.forwardFlops }              // input gradient
        }
        return total
    }

    /// Floating-point operations of one sample's forward pass.
    public var forwardFlopsPerSample: Int { layers.reduce(0) { $0 + $1.forwardFlops } }

    /// Floats of activations one sample needs in training (layer outputs plus gradient buffers).
    public var activationFloatsPerSample: Int {
        let outs = layers.reduce(0) { $0 + ($1.isReshape ? 0 : $1.outputCount) }
        let widest = layers.reduce(inputCount) { max($0, $1.outputCount) }
        return outs + 2 * widest
    }
}
