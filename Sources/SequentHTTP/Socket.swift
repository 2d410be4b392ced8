// Thin wrappers over the POSIX socket calls the server needs. Foundation on Linux has no socket server API, so the
// server talks to Glibc directly; everything platform-specific is kept in this file.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Socket {
    #if os(Linux)
    /// Linux reports a write to a closed connection as EPIPE instead of SIGPIPE when asked per call.
    static let sendFlags = Int32(MSG_NOSIGNAL)
    /// The peer closed its sending side; not exported by the Glibc module.
    static let pollReadHangUp: Int16 = 0x2000
    #else
    static let sendFlags: Int32 = 0
    static let pollReadHangUp: Int16 = 0
    #endif

    enum Wait {
        case readable
        case timedOut
        /// The wake descriptor became readable: the server is shutting down.
        case woken
        case failed
    }

    static var errorDescription: String {
        String(cString: strerror(errno))
    }

    /// Sends every byte; false when the peer is gone or the write timed out (SO_SNDTIMEO).
    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, sendFlags)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { sendAll(fd, $0) }
    }

    /// Waits until `fd` has data (or a hang-up), `wake` is readable, or `timeout` seconds pass.
    static func waitReadable(_ fd: Int32, wake: Int32?, timeout: TimeInterval, events: Int16 = Int16(POLLIN))
        -> Wait {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, timeout) * 1e9)
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        if let wake { fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            let remainingMs = now >= deadline
                ? 0 : Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            let rc = poll(&fds, nfds_t(fds.count), remainingMs)
            if rc < 0 {
                if errno == EINTR { continue }
                return .failed
            }
            if rc == 0 { return .timedOut }
            if fds.count > 1 && fds[1].revents != 0 { return .woken }
            return .readable
        }
    }

    /// Whether the peer has closed or reset the connection, without consuming anything it sent.
    static func peerHungUp(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: pollReadHangUp, revents: 0)
        guard poll(&p, 1, 0) > 0 else { return false }
        return p.revents & (pollReadHangUp | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)) != 0
    }

    /// Closes after an error response without destroying it: closing with unread input makes the kernel send RST,
    /// which can discard the response before the client reads it. So half-close, discard what the client is still
    /// sending for a moment, then close.
    static func lingeringClose(_ fd: Int32, timeout: TimeInterval) {
        _ = shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        var discarded = 0
        let deadline = Date(timeIntervalSinceNow: timeout)
        while discarded < 1 << 20 {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, case .readable = waitReadable(fd, wake: nil, timeout: left) else { break }
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 && !(n < 0 && errno == EINTR) { break }
            discarded += max(0, n)
        }
    }

    /// Ends both directions; blocked calls on `fd` in other threads return at once.
    static func shutdownBoth(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Bool {
        #if canImport(Glibc)
        Glibc.bind(fd, address, length) == 0
        #else
        Darwin.bind(fd, address, length) == 0
        #endif
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    static func setTimeout(_ fd: Int32, _ name: Int32, _ seconds: TimeInterval) {
        let whole = max(0, seconds).rounded(.down)
        var tv = timeval(tv_sec: Int(whole), tv_usec: .init((max(0, seconds) - whole) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, name, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Options every accepted connection gets.
    static func configureAccepted(_ fd: Int32, writeTimeout: TimeInterval) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Connections use blocking I/O. Linux does not pass the listener's O_NONBLOCK on to accepted sockets, BSDs do.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        // Responses are written whole; Nagle would only delay the last segment of each.
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        #if !os(Linux)
        setOption(fd, SOL_SOCKET, SO_NOSIGPIPE, 1)
        #endif
        // A client that stops reading must not hold a connection thread forever.
        setTimeout(fd, SO_SNDTIMEO, writeTimeout)
    }

    /// `host:port` (IPv6 as `[host]:port`) for a socket address.
    static func describe(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        guard getnameinfo(address, length, &host, socklen_t(host.count), &service, socklen_t(service.count),
                          NI_NUMERICHOST | NI_NUMERICSERV) == 0 else { return "?" }
        let h = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let s = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return h.contains(":") ? "[\(h)]:\(s)" : "\(h):\(s)"
    }

    /// The local port a socket is bound to.
    static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return 0 }
        return withUnsafePointer(to: &storage) { pointer -> Int in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin_port))
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            default:
                return 0
            }
        }
    }
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` header, built by hand: DateFormatter is slow and
/// not safe to share between connection threads.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func string(from seconds: time_t = time(nil)) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) "
            + "\(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
