import Foundation

/// Serialises a response's status line and headers, adding the framing and housekeeping headers.
enum ResponseHead {
    /// 1xx, 204 and 304 responses never carry a body (RFC 9110 §6.4.1), so they get no framing headers either.
    static func allowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    /// - Parameters:
    ///   - bodyLength: the `Content-Length` to send (the GET body's length for HEAD); nil for a stream.
    ///   - chunked: send `Transfer-Encoding: chunked` (streams to HTTP/1.1 clients).
    static func encode(_ response: HTTPResponse, bodyLength: Int?, chunked: Bool, keepAlive: Bool,
                       requestVersion: String) -> [UInt8] {
        var head = "HTTP/1.1 \(response.status) \(HTTPResponse.reasonPhrase(for: response.status))\r\n"
        var hasDate = false
        var hasServer = false
        for field in response.headers {
            let name = field.name
            if name.equalsIgnoringASCIICase("Content-Length") || name.equalsIgnoringASCIICase("Transfer-Encoding")
                || name.equalsIgnoringASCIICase("Connection") { continue }
            // A handler must not be able to split the response by putting a line break in a header.
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPRequestParser.isTokenByte) else { continue }
            hasDate = hasDate || name.equalsIgnoringASCIICase("Date")
            hasServer = hasServer || name.equalsIgnoringASCIICase("Server")
            let value = field.value.utf8.contains { $0 < 0x20 && $0 != 9 || $0 == 0x7F }
                ? String(field.value.map { $0.isASCII && ($0.asciiValue! < 0x20 || $0.asciiValue! == 0x7F) ? " " : $0 })
                : field.value
            head += "\(name): \(value)\r\n"
        }
        if allowsBody(response.status) {
            if chunked {
                head += "Transfer-Encoding: chunked\r\n"
            } else if let bodyLength {
                head += "Content-Length: \(bodyLength)\r\n"
            }
        }
        if !keepAlive {
            head += "Connection: close\r\n"
        } else if requestVersion == "HTTP/1.0" {
            head += "Connection: keep-alive\r\n"
        }
        if !hasDate { head += "Date: \(HTTPDate.string())\r\n" }
        if !hasServer { head += "Server: sequent\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }
}
