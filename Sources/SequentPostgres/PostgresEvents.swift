import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A job event carried between machines: what the service's event hub publishes (`state`, `progress`, `epoch`, …)
/// with its JSON `data`.
public struct JobEvent: Sendable, Equatable {
    public var jobID: String
    public var name: String
    public var data: String

    public init(jobID: String, name: String, data: String) {
        self.jobID = jobID
        self.name = name
        self.data = data
    }
}

/// Job events over NOTIFY on one channel. The payload is `i\n<job id>\n<name>\n<data>` when that fits in
/// `maxInlinePayload` bytes; otherwise the event is stored in the `events` table and the payload is
/// `r\n<job id>\n<name>\n<row id>`, which the listener reads back (PostgreSQL caps a payload at 8000 bytes).
/// Stored events older than `storedEventRetention` are deleted as new ones are stored.
extension PostgresStore {
    public static let eventChannel = "sequent_events"
    /// Bytes of UTF-8 payload sent inline; the server's limit is 8000 including the terminator.
    public static let maxInlinePayload = 7900
    /// Listeners fetch a stored event as soon as its notification arrives; ten minutes covers any backlog.
    public static let storedEventRetention: Double = 600

    /// Publishes an event to every `PostgresEventListener` of the database (including this process's). Throws
    /// `.misuse` when the job id or name contains a newline (they delimit the payload).
    public func notifyEvent(jobID: String, name: String, data: String) throws {
        guard !jobID.contains("\n"), !name.contains("\n") else {
            throw PostgresError(kind: .misuse, message: "event job ids and names must not contain newlines")
        }
        let inline = "i\n\(jobID)\n\(name)\n\(data)"
        if inline.utf8.count <= Self.maxInlinePayload {
            try query("SELECT pg_notify($1, $2)", [.text(Self.eventChannel), .text(inline)])
            return
        }
        try transaction { c in
            try c.execute("DELETE FROM events WHERE created_at < now() - make_interval(secs => $1)",
                          [.double(Self.storedEventRetention)])
            let id = try c.query("INSERT INTO events (job_id, name, data) VALUES ($1, $2, $3) RETURNING id",
                                 [.text(jobID), .text(name), .text(data)]).first?["id"].int ?? 0
            // Sent at COMMIT, so a listener never looks for a row that is not there yet.
            try c.execute("SELECT pg_notify($1, $2)", [.text(Self.eventChannel), .text("r\n\(jobID)\n\(name)\n\(id)")])
        }
    }
}

/// A thread that LISTENs for job events on its own connection and hands each to `onEvent`, in the order sent.
/// When the connection breaks it reconnects (retrying every second while the server is down) and calls
/// `onReconnect`: events sent meanwhile are lost, so a consumer should re-read the state it shows. Call `stop()`
/// when done: the thread keeps the listener alive until then.
public final class PostgresEventListener: @unchecked Sendable {
    private let connection: PostgresConnection
    private let onEvent: @Sendable (JobEvent) -> Void
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
                onEvent: @escaping @Sendable (JobEvent) -> Void) throws {
        connection = try PostgresConnection(url: url)
        try connection.listen(PostgresStore.eventChannel)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw PostgresError(kind: .other, message: "pipe failed: errno \(errno)") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        self.onEvent = onEvent
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
                    if let event = try decode(n.payload) { onEvent(event) }
                }
            } catch {
                // The server went away: wait a second (or for stop) before the next attempt reconnects.
                var fd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
                _ = poll(&fd, 1, 1000)
            }
        }
    }

    private func decode(_ payload: String) throws -> JobEvent? {
        let parts = payload.split(separator: "\n", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4 else { return nil }
        switch parts[0] {
        case "i": return JobEvent(jobID: parts[1], name: parts[2], data: parts[3])
        case "r":
            guard let id = Int64(parts[3]),
                  let row = try connection.query("SELECT data FROM events WHERE id = $1", [.int(id)], idempotent: true).first
            else { return nil }
            return JobEvent(jobID: parts[1], name: parts[2], data: row["data"].text ?? "")
        default: return nil
        }
    }
}

/// Lets the thread's closure reach the listener without the closure keeping it alive before `init` finishes.
private final class WeakBox: @unchecked Sendable {
    weak var listener: PostgresEventListener?
}
