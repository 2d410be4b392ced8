import Foundation

/// Saves the model (config + weights) at the end of epochs. `path` may contain `{epoch}` (1-based,
/// `{epoch:02d}` pads) and `{<metric>:.Nf}` placeholders as Keras's `filepath` does; with `save_best_only`
/// only epochs that improve `monitor` are written.
public final class ModelCheckpoint: Callback {
    public let path: String
    public let monitor: String
    public let mode: MonitorMode
    public let saveBestOnly: Bool
    /// Extra metadata stored with each save (class names, preprocessing).
    public var metadata: [String: JSONValue]
    public private(set) var best: Double?
    public private(set) var savedPaths: [String] = []
    /// The error of the last failed save, if any (training goes on).
    public private(set) var lastError: String?

    public init(path: String, monitor: String = "val_loss", mode: MonitorMode = .auto, saveBestOnly: Bool = false,
                metadata: [String: JSONValue] = [:]) {
        self.path = path
        self.monitor = monitor
        self.mode = mode.resolved(for: monitor)
        self.saveBestOnly = saveBestOnly
        self.metadata = metadata
    }

    public func onEpochEnd(_ epoch: Int, logs: [String: Double], model: Sequential) {
        if saveBestOnly {
            guard let current = logs[monitor] else { return }
            if let best, mode == .min ? current >= best : current <= best { return }
            best = current
        }
        let target = ModelCheckpoint.expand(path, epoch: epoch + 1, logs: logs)
        do {
            try ModelArchive.save(model, to: URL(fileURLWithPath: target), metadata: metadata)
            savedPaths.append(target)
        } catch {
            lastError = "model_checkpoint: could not save \(target): \(error)"
        }
    }

    /// Fills `{epoch}`, `{epoch:03d}`, `{val_loss:.2f}`-style placeholders.
    static func expand(_ template: String, epoch: Int, logs: [String: Double]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let inner = rest[rest.index(after: open)..<close]
            let parts = inner.split(separator: ":", maxSplits: 1).map(String.init)
            let key = parts.first ?? ""
            let spec = parts.count > 1 ? parts[1] : ""
            if key == "epoch" {
                let width = Int(spec.filter(\.isNumber)) ?? 0
                let s = String(epoch)
                out += String(repeating: "0", count: max(0, width - s.count)) + s
            } else if let v = logs[key] {
                let digits = spec.hasPrefix(".") ? Int(spec.dropFirst().filter(\.isNumber)) ?? 4 : 4
                out += String(format: "%.\(digits)f", v)
            } else {
                out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
