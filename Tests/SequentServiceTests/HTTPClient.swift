import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import SequentNN

/// A minimal blocking HTTP/1.1 client over a real TCP socket (one request per connection, `Connection:
/// close`), with timeouts so a broken server fails the test instead of hanging it.
struct HTTPClient {
    let port: Int
    var token: String?

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSONValue { (try? JSONValue.parse(Data(body))) ?? .null }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    func request(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json",
                 timeout: TimeInterval = 10) throws -> Response {
        try request(method, path, bodyBytes: body.map { Array($0.utf8) }, contentType: contentType, timeout: timeout)
    }

    /// With `chunkSize`, the body is sent with `Transfer-Encoding: chunked` in chunks of that size. A server that
    /// refuses the body part-way (413) may close before all of it is sent: the response is still read.
    /// `framesEmptyPost: false` sends a bodiless POST with neither Content-Length nor Transfer-Encoding, as
    /// `curl -X POST` does.
    func request(_ method: String, _ path: String, bodyBytes body: [UInt8]?, contentType: String = "application/json",
                 headers extra: [String: String] = [:], chunkSize: Int? = nil, framesEmptyPost: Bool = true,
                 timeout: TimeInterval = 10) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw Failure(description: "connect to port \(port) failed: errno \(errno)") }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        var payload = body ?? []
        if let chunkSize {
            head += "Content-Type: \(contentType)\r\nTransfer-Encoding: chunked\r\n"
            var framed: [UInt8] = []
            for start in stride(from: 0, to: payload.count, by: chunkSize) {
                let chunk = payload[start..<min(start + chunkSize, payload.count)]
                framed += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + [13, 10]
            }
            payload = framed + Array("0\r\n\r\n".utf8)
        } else if body != nil || (method == "POST" && framesEmptyPost) {
            head += "Content-Type: \(contentType)\r\nContent-Length: \(payload.count)\r\n"
        }
        let bytes = Array((head + "\r\n").utf8) + payload
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }  // refused mid-body: read what the server said
            sent += n
        }
        var raw = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || n < 0 && errno == ECONNRESET && !raw.isEmpty { break }  // a reset after a refusal
            guard n > 0 else { throw Failure(description: "recv failed or timed out (errno \(errno))") }
            raw += buf[0..<n]
        }
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw Failure(description: "no response head") }
        let headText = String(decoding: raw[..<split.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line") }
        var headers: [String: String] = [:]
        for l in lines {
            if let c = l.firstIndex(of: ":") {
                headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
            }
        }
        var body = Array(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = Self.dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](), i = 0
        while i < data.count {
            guard let lineEnd = data[i...].firstRange(of: Array("\r\n".utf8)) else { break }
            let sizeText = String(decoding: data[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            out += data[start..<min(start + size, data.count)]
            i = start + size + 2
        }
        return out
    }
}
