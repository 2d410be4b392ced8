/// Formatting for Server-Sent Events (`text/event-stream`, WHATWG HTML §9.2).
public enum ServerSentEvents {
    public static let contentType = "text/event-stream"

    /// A comment line; sent periodically it keeps proxies from closing an idle stream and lets the server notice
    /// a departed client (the write fails).
    public static let heartbeat: [UInt8] = Array(": keep-alive\n\n".utf8)

    /// One event: `id:`, `event:`, `retry:` when given, one `data:` line per line of `data`, then a blank line.
    /// Line breaks in `name` and `id` are replaced by spaces, since they would otherwise start new fields.
    public static func event(_ name: String? = nil, data: String, id: String? = nil, retry: Int? = nil) -> [UInt8] {
        var out = ""
        if let id { out += "id: \(singleLine(id))\n" }
        if let name { out += "event: \(singleLine(name))\n" }
        if let retry { out += "retry: \(retry)\n" }
        // CRLF, CR and LF all end a line in an event stream.
        let lines = data.replacingCRLF().split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" }
        for line in lines { out += "data: \(line)\n" }
        out += "\n"
        return Array(out.utf8)
    }

    /// A streamed `200` response with the headers an event stream needs; `producer` writes `event(...)` bytes.
    public static func response(headers: HTTPHeaders = [:], producer: @escaping HTTPResponse.Producer) -> HTTPResponse {
        var all = headers
        all["Content-Type"] = contentType
        if !all.contains("Cache-Control") { all["Cache-Control"] = "no-cache" }
        // nginx buffers proxied responses by default, which would hold events back.
        if !all.contains("X-Accel-Buffering") { all["X-Accel-Buffering"] = "no" }
        return .stream(status: 200, headers: all, producer: producer)
    }

    private static func singleLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}

extension String {
    /// Swift treats "\r\n" as one Character, so normalise it before splitting on single line-break characters.
    fileprivate func replacingCRLF() -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self { out.append(c == "\r\n" ? "\n" : c) }
        return out
    }
}
