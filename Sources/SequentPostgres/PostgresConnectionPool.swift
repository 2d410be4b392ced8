import Foundation

/// A few connections shared by threads: each call borrows one for its duration, so a transaction runs on one
/// connection, and waits when all are lent. Connections are opened on demand, up to `size`.
public final class PostgresConnectionPool: @unchecked Sendable {
    public let url: String
    public let size: Int
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var idle: [PostgresConnection] = []
    private var opened = 0

    /// Opens one connection right away, so a wrong URL or an unreachable server fails here, not on first use.
    public init(url: String, size: Int = 4) throws {
        precondition(size >= 1, "a pool needs at least one connection")
        self.url = url
        self.size = size
        idle = [try PostgresConnection(url: url)]
        opened = 1
    }

    /// Runs `body` with a connection no other thread uses meanwhile. A connection that broke is returned too: it
    /// reconnects on its next statement.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let connection = try borrow()
        defer {
            condition.lock()
            idle.append(connection)
            condition.signal()
            condition.unlock()
        }
        return try body(connection)
    }

    private func borrow() throws -> PostgresConnection {
        condition.lock()
        while idle.isEmpty && opened >= size { condition.wait() }
        if let connection = idle.popLast() {
            condition.unlock()
            return connection
        }
        opened += 1
        condition.unlock()
        do {
            return try PostgresConnection(url: url)
        } catch {
            condition.lock()
            opened -= 1
            condition.signal()
            condition.unlock()
            throw error
        }
    }
}
