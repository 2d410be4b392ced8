/// Where a process keeps its records (the `store` setting, `--store`, `$SEQUENT_STORE`).
public enum StoreLocation: Sendable, Equatable {
    /// One process: SQLite (at `path`, or `<data_dir>/sequent.sqlite`) and artifacts in the data directory.
    case sqlite(path: String?)
    /// A cluster: every replica and worker shares this PostgreSQL database (records, queue, artifacts, events).
    case postgres(url: String)

    /// `sqlite`, `sqlite://PATH`, `postgres://…` or `postgresql://…`; nil for anything else.
    public init?(_ text: String) {
        if text == "sqlite" { self = .sqlite(path: nil); return }
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty else { return nil }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
            return
        }
        return nil
    }

    /// For logs: the URL without a password.
    public var redacted: String {
        switch self {
        case .sqlite(let path): return path.map { "sqlite://\($0)" } ?? "sqlite"
        case .postgres(let url):
            guard let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://"),
                  let colon = url[scheme.upperBound..<at].firstIndex(of: ":") else { return url }
            return String(url[..<colon]) + ":***" + String(url[at...])
        }
    }
}
