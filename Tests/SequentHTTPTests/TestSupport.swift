import Foundation
import Logging
@testable import SequentHTTP
#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Collects stream writes in tests.
final class Collector: @unchecked Sendable {
    // @unchecked: `bytes` is only touched under `lock`.
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ more: [UInt8]) -> Bool {
        lock.withLock { bytes += more }
        return true
    }

    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// Records log events so tests can check the access log.
final class LogRecorder: @unchecked Sendable {
    // @unchecked: `events` is only touched under `lock`.
    private let lock = NSLock()
    private var events: [(message: String, metadata: Logger.Metadata)] = []

    func record(_ message: String, _ metadata: Logger.Metadata) {
        lock.withLock { events.append((message, metadata)) }
    }

    var entries: [(message: String, metadata: Logger.Metadata)] { lock.withLock { events } }

    var logger: Logger {
        Logger(label: "test") { _ in RecordingHandler(recorder: self) }
    }

    struct RecordingHandler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.record("\(event.message)", event.metadata ?? [:])
        }
    }
}

let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

/// Starts a server on an ephemeral port, runs `body`, and always shuts the server down.
func withServer<T>(_ configure: (inout HTTPServer.Configuration) -> Void = { _ in }, logger: Logger = quietLogger,
                   handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse,
                   _ body: (HTTPServer) throws -> T) throws -> T {
    var configuration = HTTPServer.Configuration()
    configuration.readTimeout = 2
    configuration.idleTimeout = 5
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, logger: logger, handler: handler)
    try server.start()
    defer { server.shutdown(gracePeriod: 2) }
    return try body(server)
}

/// What the test client read.
struct ClientResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A raw HTTP client on a blocking socket with receive and send timeouts, so no test can hang on it.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeout: TimeInterval = 3) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        Self.setTimeout(fd, SO_RCVTIMEO, timeout)
        Self.setTimeout(fd, SO_SNDTIMEO, timeout)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect to \(port) failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TestFailure("send failed: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    static func setTimeout(_ fd: Int32, _ name: Int32, _ seconds: TimeInterval) {
        let whole = max(0, seconds).rounded(.down)
        var tv = timeval(tv_sec: Int(whole), tv_usec: .init((max(0, seconds) - whole) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, name, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads more into the buffer; false at end of stream. Throws on timeout.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            if errno == ECONNRESET { return false }
            throw TestFailure("recv failed: \(String(cString: strerror(errno)))")
        }
        buffer += chunk[..<n]
        return n > 0
    }

    private func readLine() throws -> String {
        while true {
            if let lf = buffer.firstIndex(of: 10), lf > 0, buffer[lf - 1] == 13 {
                let line = String(decoding: buffer[..<(lf - 1)], as: UTF8.self)
                buffer.removeFirst(lf + 1)
                return line
            }
            guard try fill() else { throw TestFailure("connection closed mid-line") }
        }
    }

    private func read(count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw TestFailure("connection closed mid-body") }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    /// Everything up to and including the first occurrence of `marker`.
    func read(through marker: String) throws -> String {
        let needle = Array(marker.utf8)
        while true {
            if buffer.count >= needle.count, let start = (0...(buffer.count - needle.count)).first(where: {
                buffer[$0..<($0 + needle.count)].elementsEqual(needle)
            }) {
                defer { buffer.removeFirst(start + needle.count) }
                return String(decoding: buffer[..<(start + needle.count)], as: UTF8.self)
            }
            guard try fill() else { throw TestFailure("connection closed before \(marker.debugDescription)") }
        }
    }

    /// Status line and headers only.
    func readHead() throws -> (status: Int, headers: HTTPHeaders) {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw TestFailure("bad status line \(statusLine.debugDescription)")
        }
        var headers = HTTPHeaders()
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw TestFailure("bad header \(line)") }
            headers.add(name: String(line[..<colon]), value: String(line[line.index(after: colon)...].dropFirst()))
        }
        return (status, headers)
    }

    /// One whole response; `forHead` means it answers a HEAD request (no body whatever the headers say).
    func readResponse(forHead: Bool = false) throws -> ClientResponse {
        let (status, headers) = try readHead()
        if forHead || status == 204 || status == 304 || status < 200 {
            return ClientResponse(status: status, headers: headers, body: [])
        }
        if headers.containsToken("chunked", in: "Transfer-Encoding") {
            var body: [UInt8] = []
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw TestFailure("bad chunk size \(sizeLine)")
                }
                if size == 0 { break }
                body += try read(count: size)
                guard try read(count: 2) == [13, 10] else { throw TestFailure("chunk without CRLF") }
            }
            while try !readLine().isEmpty {}
            return ClientResponse(status: status, headers: headers, body: body)
        }
        if let length = headers["Content-Length"].flatMap({ Int($0) }) {
            return ClientResponse(status: status, headers: headers, body: try read(count: length))
        }
        return ClientResponse(status: status, headers: headers, body: try readToEnd())
    }

    /// Everything until the server closes.
    func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// True when the server has closed the connection (and sent nothing more).
    func isClosedByServer() throws -> Bool {
        try readToEnd().isEmpty
    }
}

/// Seconds `body` took.
func measure(_ body: () throws -> Void) rethrows -> TimeInterval {
    let start = Date()
    try body()
    return Date().timeIntervalSince(start)
}
