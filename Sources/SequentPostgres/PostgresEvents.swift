import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What one process tells the others about a job: an event (`state`, `progress`, `epoch`, … with its JSON `data`),
/// the end of its event streams, or a cancel request for its worker. `origin` names the sending `PostgresEventBus`,
/// so a bus recognises (and skips) what it sent itself.
public struct ClusterMessage: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A job event, `name` and `data` set.
        case event
        /// The job's event streams end (it finished).
        case close
        /// The worker running the job should stop it.
        case cancel
    }

    public var kind: Kind
    public var origin: String
    public var jobID: String
    public var name: String
    public var data: String

    public init(_ kind: Kind, origin: String, jobID: String, name: String = "", data: String = "") {
        self.kind = kind
        self.origin = origin
        self.jobID = jobID
        self.name = name
        self.data = data
    }
}

/// Messages over NOTIFY: events and closes on `sequent_events`, cancels on `sequent_cancels`. The payload is
/// `<tag>\n<origin>\n<job id>\n<name>\n<data>`, the tag `i` (an event inline), `c` (close) or `x` (cancel). An event
/// whose payload exceeds `maxInlinePayload` bytes is stored in the `events` table and sent as tag `r` with the row
/// id as data, which the listener reads back (PostgreSQL caps a payload at 8000 bytes). Stored events older than
/// `storedEventRetention` are deleted as new ones are stored.
extension PostgresStore {
    public static let eventChannel = "sequent_events"
    public static let cancelChannel = "sequent_cancels"
    /// Bytes of UTF-8 payload sent inline; the server's limit is 8000 including the terminator.
    public static let maxInlinePayload = 7900
    /// Listeners fetch a stored event as soon as its notification arrives; ten minutes covers any backlog.
    public static let storedEventRetention: Double = 600

    /// Sends `message` to every `PostgresEventListener` of the database (including this process's). Throws
    /// `.misuse` when the origin, job id or name contains a newline (they delimit the payload).
    public func notify(_ message: ClusterMessage) throws {
        guard ![message.origin, message.jobID, message.name].contains(where: { $0.contains("\n") }) else {
            throw PostgresError(kind: .misuse, message: "origins, job ids and event names must not contain newlines")
        }
        let channel = message.kind == .cancel ? Self.cancelChannel : Self.eventChannel
        let tag = ["event": "i", "close": "c", "cancel": "x"][message.kind.rawValue]!
        func payload(_ tag: String, _ data: String) -> String {
            "\(tag)\n\(message.origin)\n\(message.jobID)\n\(message.name)\n\(data)"
        }
        let inline = payload(tag, message.data)
        if inline.utf8.count <= Self.maxInlinePayload {
            try query("SELECT pg_notify($1, $2)", [.text(channel), .text(inline)])
            return
        }
        try transaction { c in
            try c.execute("DELETE FROM events WHERE created_at < now() - make_interval(secs => $1)",
                          [.double(Self.storedEventRetention)])
            let id = try c.query("INSERT INTO events (job_id, name, data) VALUES ($1, $2, $3) RETURNING id",
                                 [.text(message.jobID), .text(message.name), .text(message.data)]).first?["id"].int ?? 0
            // Sent at COMMIT, so a listener never looks for a row that is not there yet.
            try c.execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload("r", "\(id)"))])
        }
    }
}

/// A thread that LISTENs for cluster messages on its own connection and hands each to `onMessage`, in the order
/// sent.
/// When the connection breaks it reconnects (retrying every second while the server is down) and calls
/// `onReconnect`: events sent meanwhile are lost, so a consumer should re-read the state it shows. Call `stop()`
/// when done: the thread keeps the listener alive until then.
public final class PostgresEventListener: @unchecked Sendable {
    private let connection: PostgresConnection
    private let onMessage: @Sendable (ClusterMessage) -> Void
    private let onReconnect: @Sendable () -> Void
    private let thread: Thread
    // A pipe whose read end the listener polls with the socket: writing a byte wakes it to stop.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    /// Connects and LISTENs before returning (an event notified after `init` returns is delivered), then starts
    /// the thread.
    public init(url: String, onReconnect: @escaping @Sendable () -> Void = {},
                onMessage: @escaping @Sendable (ClusterMessage) -> Void) throws {
        connection = try PostgresConnection(url: url)
        try connection.listen(PostgresStore.eventChannel)
        try connection.listen(PostgresStore.cancelChannel)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw PostgresError(kind: .other, message: "pipe failed: errno \(errno)") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        self.onMessage = onMessage
        self.onReconnect = onReconnect
        let box = WeakBox()
        thread = Thread { box.listener?.run() }
        box.listener = self
        thread.name = "postgres-events"
        thread.start()
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Stops the thread and waits for it; no callback runs after this returns.
    public func stop() {
        lock.lock()
        let first = !stopping
        stopping = true
        lock.unlock()
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        finished.wait()
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func run() {
        defer { finished.signal() }
        var reconnects = connection.reconnects
        while !isStopping {
            do {
                try connection.reconnectIfBroken()
                if connection.reconnects != reconnects {
                    reconnects = connection.reconnects
                    onReconnect()
                }
                // The wait is long because the pipe ends it early; it bounds nothing but idle wake-ups.
                let notifications = try connection.waitForNotifications(timeout: 60, wakeDescriptor: wakeRead)
                for n in notifications where !isStopping {
                    if let message = try decode(n.payload) { onMessage(message) }
                }
            } catch {
                // The server went away: wait a second (or for stop) before the next attempt reconnects.
                var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
                _ = poll(&fd, 1, 1000)
            }
        }
    }

    private func decode(_ payload: String) throws -> ClusterMessage? {
        let parts = payload.split(separator: "\n", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5 else { return nil }
        let (origin, jobID, name) = (parts[1], parts[2], parts[3])
        switch parts[0] {
        case "i": return ClusterMessage(.event, origin: origin, jobID: jobID, name: name, data: parts[4])
        case "c": return ClusterMessage(.close, origin: origin, jobID: jobID)
        case "x": return ClusterMessage(.cancel, origin: origin, jobID: jobID)
        case "r":
            guard let id = Int64(parts[4]),
                  let row = try connection.query("SELECT data FROM events WHERE id = $1", [.int(id)], idempotent: true).first
            else { return nil }
            return ClusterMessage(.event, origin: origin, jobID: jobID, name: name, data: row["data"].text ?? "")
        default: return nil
        }
    }
}

/// Lets the thread's closure reach the listener without the closure keeping it alive before `init` finishes.
private final class WeakBox: @unchecked Sendable {
    weak var listener: PostgresEventListener?
}
