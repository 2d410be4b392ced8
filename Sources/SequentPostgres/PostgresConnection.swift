import CPostgres
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection: parameterized queries, transactions, LISTEN/NOTIFY, and one reconnect after the server
/// went away. Not thread-safe: use it from one thread at a time (`PostgresConnectionPool` hands them out).
///
/// **Reconnect rule.** Before a statement is sent outside a transaction, the connection checks whether the server
/// has already closed it (the socket is readable on an idle connection and libpq then sees end-of-file, which is
/// what a restart leaves behind). Such a statement provably never reached the server, so the connection
/// reconnects and sends it: this is safe for any statement. When the connection breaks *while* a statement is in
/// flight, the statement may or may not have run: it is retried once after reconnecting only if the caller passed
/// `idempotent: true`; otherwise `PostgresError.connectionLost` is thrown. Inside a transaction nothing is
/// retried (its earlier statements died with the connection): the error is thrown, the transaction is over, and
/// the next statement reconnects. After a reconnect the channels this connection listened to are listened to
/// again; notifications sent while it was down are lost.
public final class PostgresConnection {
    /// The URL or libpq connection string it was opened with.
    public let url: String
    private var handle: OpaquePointer?
    private var transactionOpen = false
    private var channels: Set<String> = []
    /// How many times the connection was re-established (tests and logs).
    public private(set) var reconnects = 0

    /// Opens a connection. `url` is a libpq URL, `postgres://user:password@host:port/database?param=value`
    /// (`postgresql://` too), where `?host=/some/dir` selects a Unix socket directory and any libpq parameter
    /// (`sslmode`, `connect_timeout`, `application_name`, …) may follow; a `key=value` connection string works too.
    public init(url: String) throws {
        self.url = url
        try connect()
    }

    deinit { PQfinish(handle) }

    private func connect() throws {
        PQfinish(handle)
        // expand_dbname = 1: the first "dbname" value is parsed as a URL or connection string; the fallback
        // parameters after it apply only where the URL says nothing.
        let keys = ["dbname", "fallback_application_name", "connect_timeout"]
        let values = [url, "sequent", "10"]
        handle = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw PostgresError(kind: .connectionFailed, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        // libpq prints notices (`CREATE TABLE IF NOT EXISTS … skipping`) and the FATAL a dying server sends an idle
        // connection on stderr. Errors reach callers as results; these messages would only clutter logs.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        // The store's SQL compares and returns times itself; UTC keeps any text rendering unambiguous.
        _ = try run("SET TIME ZONE 'UTC'", [], retry: false)
        for channel in channels { _ = try run("LISTEN " + quoteIdentifier(channel), [], retry: false) }
    }

    /// Drops the current connection and opens a new one with the same URL (LISTENs are re-issued).
    public func reconnect() throws {
        transactionOpen = false
        reconnects += 1
        try connect()
    }

    /// True while libpq believes the connection is up (it learns otherwise only when it next reads or writes).
    public var isConnected: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The server backend's process id (changes on reconnect).
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    // MARK: Queries

    /// Runs one statement with `$1, $2, …` parameters and returns its rows.
    ///
    /// `idempotent`: running the statement twice has the effect of running it once (a SELECT, an UPDATE that sets
    /// absolute values); only then is it retried after the connection broke mid-flight (see the type's rule).
    @discardableResult
    public func query(_ sql: String, _ params: [PostgresValue] = [], idempotent: Bool = false) throws -> [PostgresRow] {
        try ensureLive()
        return try run(sql, params, retry: idempotent && !transactionOpen)
    }

    /// `query` without the rows.
    public func execute(_ sql: String, _ params: [PostgresValue] = [], idempotent: Bool = false) throws {
        _ = try query(sql, params, idempotent: idempotent)
    }

    /// Runs several `;`-separated statements without parameters (the simple query protocol), for migrations.
    public func executeScript(_ sql: String) throws {
        try ensureLive()
        guard let result = PQexec(handle, sql) else { throw lastError() }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw error(from: result) }
    }

    /// Transaction isolation levels.
    public enum IsolationLevel: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` in one transaction, committing when it returns and rolling back when it throws. Transactions
    /// do not nest. A `.serializationFailure` or `.deadlock` error means the whole call may be retried; a
    /// `.connectionLost` thrown by the COMMIT means its outcome is unknown.
    public func withTransaction<T>(isolation: IsolationLevel = .readCommitted,
                                   _ body: (PostgresConnection) throws -> T) throws -> T {
        guard !transactionOpen else { throw PostgresError(kind: .misuse, message: "transactions do not nest") }
        try execute("BEGIN ISOLATION LEVEL " + isolation.rawValue)
        transactionOpen = true
        do {
            let result = try body(self)
            try execute("COMMIT")
            transactionOpen = false
            return result
        } catch {
            if transactionOpen, isConnected { _ = try? run("ROLLBACK", [], retry: false) }
            transactionOpen = false
            throw error
        }
    }

    /// Whether a transaction opened by `withTransaction` is in progress.
    public var inTransaction: Bool { transactionOpen }

    // MARK: LISTEN / NOTIFY

    /// Starts receiving NOTIFYs on `channel` (kept across reconnects).
    public func listen(_ channel: String) throws {
        try execute("LISTEN " + quoteIdentifier(channel))
        channels.insert(channel)
    }

    /// Stops receiving NOTIFYs on `channel`.
    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN " + quoteIdentifier(channel))
        channels.remove(channel)
    }

    /// Sends `payload` (under 8000 bytes, the server's limit) to every connection listening on `channel`; inside a
    /// transaction it is delivered at COMMIT.
    public func notify(_ channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// Waits up to `timeout` seconds for notifications and returns those that arrived (empty on timeout). Sleeps in
    /// `poll` on the connection's socket: no busy loop. `wakeDescriptor`, when given, is polled too and ends the
    /// wait early when readable (a pipe another thread writes to in order to stop a listener).
    /// Throws `.connectionLost` when the server closed the connection; the next call reconnects and re-LISTENs.
    public func waitForNotifications(timeout: Double, wakeDescriptor: Int32? = nil) throws -> [PostgresNotification] {
        try ensureLive()
        guard let handle else { throw lastError() }
        var received = drainNotifications()
        let deadline = Date().addingTimeInterval(timeout)
        while received.isEmpty {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { break }
            var fds = [pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)]
            if let wakeDescriptor { fds.append(pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining * 1000, Double(Int32.max)).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw PostgresError(kind: .other, message: "poll failed: errno \(errno)")
            }
            if ready == 0 { break }
            if fds[0].revents != 0 {
                guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else {
                    throw PostgresError(kind: .connectionLost, message: errorMessage())
                }
                received = drainNotifications()
            }
            if fds.count > 1, fds[1].revents != 0 { break }
        }
        return received
    }

    private func drainNotifications() -> [PostgresNotification] {
        var out: [PostgresNotification] = []
        while let n = PQnotifies(handle) {
            out.append(PostgresNotification(channel: String(cString: n.pointee.relname),
                                            payload: String(cString: n.pointee.extra), senderPID: n.pointee.be_pid))
            PQfreemem(n)
        }
        return out
    }

    // MARK: Quoting

    /// `name` as a double-quoted SQL identifier (for LISTEN, which takes no parameters).
    public func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Reconnects now if the connection is found dead (see the type's rule); a live connection is left alone.
    public func reconnectIfBroken() throws {
        try ensureLive()
    }

    // MARK: Internals

    /// Reconnects before sending when the connection is known or found to be dead: a statement sent after this
    /// check either reaches the live server or fails in flight.
    private func ensureLive() throws {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            if transactionOpen {
                transactionOpen = false
                throw PostgresError(kind: .connectionLost, message: "the connection broke during a transaction")
            }
            try reconnect()
            return
        }
        guard !transactionOpen else { return }
        // On an idle connection the server sends nothing unprompted except NOTIFYs, notices and, when it shuts
        // down, a FATAL message followed by end-of-file. Reading what is there tells a dead socket from a live one.
        for _ in 0..<4 {
            var fd = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&fd, 1, 0) > 0 else { return }
            if PQconsumeInput(handle) == 0 || PQstatus(handle) != CONNECTION_OK {
                try reconnect()
                return
            }
            // Input that is not a whole message leaves the socket unreadable afterwards: the loop ends.
        }
    }

    /// Sends one statement with PQexecParams; `retry` allows one reconnect-and-resend after an in-flight failure.
    private func run(_ sql: String, _ params: [PostgresValue], retry: Bool) throws -> [PostgresRow] {
        do {
            return try send(sql, params)
        } catch let error as PostgresError where error.kind == .connectionLost {
            if transactionOpen { transactionOpen = false; throw error }
            guard retry else { throw error }
            try reconnect()
            return try send(sql, params)
        }
    }

    private func send(_ sql: String, _ params: [PostgresValue]) throws -> [PostgresRow] {
        // Parameter bytes live in malloc'd buffers for the duration of the call; NULL is a nil pointer.
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer { buffers.forEach { free($0) } }
        for p in params {
            switch p {
            case .null: buffers.append(nil); lengths.append(0); formats.append(0)
            case .bool(let v): buffers.append(strdup(v ? "t" : "f")); lengths.append(0); formats.append(0)
            case .int(let v): buffers.append(strdup(String(v))); lengths.append(0); formats.append(0)
            case .double(let v): buffers.append(strdup(v.isFinite ? "\(v)" : (v.isNaN ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"))))
                lengths.append(0); formats.append(0)
            case .text(let v): buffers.append(strdup(v)); lengths.append(0); formats.append(0)
            case .bytes(let v):
                let buffer = malloc(max(v.count, 1))!.assumingMemoryBound(to: CChar.self)
                v.withUnsafeBytes { raw in if let base = raw.baseAddress { memcpy(buffer, base, v.count) } }
                buffers.append(buffer); lengths.append(Int32(v.count)); formats.append(1)
            }
        }
        let result: OpaquePointer? = buffers.withUnsafeBufferPointer { values in
            values.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(values.count, 1)) { v in
                PQexecParams(handle, sql, Int32(params.count), nil, params.isEmpty ? nil : v, lengths, formats, 0)
            }
        }
        guard let result else { throw lastError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY: return []
        case PGRES_TUPLES_OK: return rows(of: result)
        default: throw error(from: result)
        }
    }

    private func rows(of result: OpaquePointer) -> [PostgresRow] {
        let count = Int(PQntuples(result)), columns = Int(PQnfields(result))
        let names = (0..<columns).map { String(cString: PQfname(result, Int32($0))) }
        let types = (0..<columns).map { PQftype(result, Int32($0)) }
        var out: [PostgresRow] = []
        out.reserveCapacity(count)
        for r in 0..<count {
            var values: [String: PostgresValue] = [:]
            for c in 0..<columns {
                let row = Int32(r), col = Int32(c)
                guard PQgetisnull(result, row, col) == 0 else { values[names[c]] = .null; continue }
                let raw = PQgetvalue(result, row, col)!
                values[names[c]] = Self.decode(raw, type: types[c])
            }
            out.append(PostgresRow(values: values))
        }
        return out
    }

    /// Text-format value of a column of type OID `type` (pg_type.dat: bool 16, bytea 17, int8 20, int2 21, int4 23,
    /// oid 26, float4 700, float8 701, numeric 1700).
    private static func decode(_ raw: UnsafePointer<CChar>, type: Oid) -> PostgresValue {
        switch type {
        case 16: return .bool(raw.pointee == CChar(UInt8(ascii: "t")))
        case 20, 21, 23, 26: return Int64(String(cString: raw)).map { .int($0) } ?? .text(String(cString: raw))
        case 700, 701, 1700: return Double(String(cString: raw)).map { .double($0) } ?? .text(String(cString: raw))
        case 17:
            var length = 0
            guard let bytes = raw.withMemoryRebound(to: UInt8.self, capacity: 1, { PQunescapeBytea($0, &length) }) else {
                return .null
            }
            defer { PQfreemem(bytes) }
            return .bytes(Data(bytes: bytes, count: length))
        default: return .text(String(cString: raw))
        }
    }

    private func errorMessage() -> String {
        handle.map { String(cString: PQerrorMessage($0)).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "no connection"
    }

    private func lastError() -> PostgresError {
        PostgresError(sqlState: nil, message: errorMessage(), connectionBad: handle.map { PQstatus($0) != CONNECTION_OK } ?? true)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        // PG_DIAG_SQLSTATE is the character literal 'C' (postgres_ext.h), a macro Swift does not import.
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(sqlState: state, message: message,
                             connectionBad: handle.map { PQstatus($0) != CONNECTION_OK } ?? true)
    }
}

/// Calls `body` with a C array of C strings that lives for the call (a NULL-terminated array, as libpq's
/// keyword/value lists want).
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { copies.forEach { free($0) } }
    return copies.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: copies.count) { body($0) }
    }
}
