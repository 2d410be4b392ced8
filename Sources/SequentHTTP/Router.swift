import Foundation

/// Maps method + path to handlers. Patterns are literal segments and `{name}` parameters; a parameter may have a
/// literal prefix and/or suffix within its segment, which the TF Serving API needs: `/v1/models/{id}:predict`
/// matches `/v1/models/abc:predict` with `id = "abc"`, while `/v1/models/{id}/predict` is a different route.
///
/// Matching is on the percent-decoded `request.path`, segment by segment. When several patterns match, the most
/// specific wins, comparing segments left to right: literal, then affixed parameter, then bare parameter. So
/// `GET /v1/models/{id}:predict` is chosen over `GET /v1/models/{id}` for `/v1/models/abc:predict`.
///
/// A path belongs to the most specific pattern that matches it, whatever the method: `/v1/models/abc:predict` is the
/// TF Serving resource, so `GET` there is 405 rather than a lookup of a model called `abc:predict`. That keeps each
/// URL one resource with one set of methods, as the OpenAPI document lists them per path.
///
/// An unknown path is answered with 404; a known path with another method with 405 and an `Allow` header; `OPTIONS`
/// on a known path (without an `OPTIONS` route) with 204 and the same `Allow`. `HEAD` is served by the `GET` route
/// when there is no `HEAD` route (the server drops the body).
public final class Router: @unchecked Sendable {
    // @unchecked: `entries` is read and written only under `lock`. Routes are normally added before the server
    // starts, but the lock makes late additions safe too.

    /// A handler gets the request and the values of the pattern's `{parameters}`.
    public typealias Handler = @Sendable (HTTPRequest, [String: String]) -> HTTPResponse

    /// A registered route, as the service lists them to check its OpenAPI document.
    public struct Route: Sendable, Equatable, CustomStringConvertible {
        public var method: String
        public var pattern: String
        /// The body limit for this route; nil means the router's `defaultBodyLimit`.
        public var bodyLimit: Int?
        /// Where this route's request bodies are spooled (see `HTTPBodyPolicy.spoolDirectory`); nil keeps them in
        /// memory.
        public var spoolDirectory: URL? = nil

        public var description: String { "\(method) \(pattern)" }
    }

    /// What a path and method resolve to.
    public enum Match {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private struct Entry {
        var route: Route
        var segments: [Segment]
        var handler: Handler
        /// `segments.map(\.rank)`, computed once: it orders matching patterns from most to least specific.
        var ranks: [Int]
    }

    private enum Segment: Equatable {
        case literal(String)
        case parameter(name: String, prefix: String, suffix: String)

        /// Higher is more specific.
        var rank: Int {
            switch self {
            case .literal: 2
            case .parameter(_, let prefix, let suffix): prefix.isEmpty && suffix.isEmpty ? 0 : 1
            }
        }
    }

    /// Body limit for routes registered without one, and for requests no route matches.
    public let defaultBodyLimit: Int
    private let errorResponder: @Sendable (Int, String) -> HTTPResponse
    private let lock = NSLock()
    private var entries: [Entry] = []
    /// Indices into `entries` by segment count: a path is only compared with patterns of its own length.
    private var bySegmentCount: [Int: [Int]] = [:]

    /// - Parameters:
    ///   - defaultBodyLimit: body limit for routes registered without one.
    ///   - errorResponder: renders the router's 404 and 405 responses (`status, message`); the service passes its
    ///     JSON error format. The router adds the `Allow` header to 405 itself.
    public init(defaultBodyLimit: Int = HTTPLimits().maxBodyBytes,
                errorResponder: @escaping @Sendable (Int, String) -> HTTPResponse = HTTPResponse.plainError) {
        self.defaultBodyLimit = defaultBodyLimit
        self.errorResponder = errorResponder
    }

    /// Registers `handler` for `method` (case-insensitive) and `pattern`.
    ///
    /// A malformed pattern (not starting with `/`, unbalanced braces, two parameters in one segment, a repeated
    /// parameter name) or a duplicate method + pattern is a programming error and stops the program.
    ///
    /// With `spoolBodyTo`, request bodies are written to a file in that directory as they arrive and the handler
    /// reads `request.bodyFile` instead of `request.body`: for uploads too large to hold in memory. The directory
    /// should be on the disk the handler stores the upload on, so nothing large lands in a RAM-backed `/tmp`.
    public func add(_ method: String, _ pattern: String, bodyLimit: Int? = nil, spoolBodyTo spoolDirectory: URL? = nil,
                    handler: @escaping Handler) {
        let segments = Self.compile(pattern)
        let route = Route(method: method.uppercased(), pattern: pattern, bodyLimit: bodyLimit,
                          spoolDirectory: spoolDirectory)
        lock.lock()
        defer { lock.unlock() }
        precondition(!entries.contains { $0.route.method == route.method && $0.segments == segments },
                     "route \(route) registered twice")
        bySegmentCount[segments.count, default: []].append(entries.count)
        entries.append(Entry(route: route, segments: segments, handler: handler, ranks: segments.map(\.rank)))
    }

    /// Every registered route, in registration order.
    public var routes: [Route] {
        lock.lock()
        defer { lock.unlock() }
        return entries.map(\.route)
    }

    /// Resolves `method` and `path` without calling a handler.
    public func match(method: String, path: String) -> Match {
        switch resolve(method: method.uppercased(), path: path) {
        case .found(let entry, let parameters): .found(entry.route, parameters: parameters)
        case .methodNotAllowed(let allowed): .methodNotAllowed(allowed: allowed)
        case .notFound: .notFound
        }
    }

    /// Calls the matching handler, or answers 404 / 405, or 204 to `OPTIONS`.
    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        respond(to: request).response
    }

    /// Like `handle`, and also says which route answered (nil for 404, 405 and OPTIONS), so a caller that records
    /// per-route figures does not resolve the path a second time.
    public func respond(to request: HTTPRequest) -> (response: HTTPResponse, route: Route?) {
        switch resolve(method: request.method, path: request.path) {
        case .found(let entry, let parameters):
            return (entry.handler(request, parameters), entry.route)
        case .methodNotAllowed(let allowed) where request.method == "OPTIONS":
            return (HTTPResponse(status: 204, headers: ["Allow": allowed.joined(separator: ", ")]), nil)
        case .methodNotAllowed(let allowed):
            var response = errorResponder(405, "method \(request.method) not allowed for \(request.path)")
            response.headers["Allow"] = allowed.joined(separator: ", ")
            return (response, nil)
        case .notFound:
            return (errorResponder(404, "no route for \(request.path)"), nil)
        }
    }

    /// The largest body the route for `method` and `path` accepts; pass this to `HTTPServer.Configuration.bodyLimit`
    /// so oversized uploads are refused with 413 before they are read.
    public func bodyLimit(method: String, path: String) -> Int {
        bodyPolicy(method: method, path: path).limit
    }

    /// The body limit and spool directory of the route for `method` and `path`, in one lookup; pass this to
    /// `HTTPServer.Configuration.bodyPolicy` so oversized uploads are refused with 413 before they are read and
    /// spooling routes get their bodies on disk.
    public func bodyPolicy(method: String, path: String) -> HTTPBodyPolicy {
        if case .found(let entry, _) = resolve(method: method.uppercased(), path: path) {
            return HTTPBodyPolicy(limit: entry.route.bodyLimit ?? defaultBodyLimit,
                                  spoolDirectory: entry.route.spoolDirectory)
        }
        return HTTPBodyPolicy(limit: defaultBodyLimit)
    }

    private enum Resolution {
        case found(Entry, [String: String])
        case methodNotAllowed([String])
        case notFound
    }

    private func resolve(method: String, path: String) -> Resolution {
        let pathSegments = Self.split(path)
        lock.lock()
        let entries = self.entries
        let candidates = bySegmentCount[pathSegments.count] ?? []
        lock.unlock()
        // The resource: every matching pattern as specific as the most specific one (the same shape, registered
        // per method). Parameters are extracted only for the one that answers.
        var resource: [Int] = []
        var bestRanks: [Int] = []
        for index in candidates where Self.match(entries[index].segments, pathSegments) != nil {
            let ranks = entries[index].ranks
            if resource.isEmpty || bestRanks.lexicographicallyPrecedes(ranks) {
                resource = [index]
                bestRanks = ranks
            } else if ranks == bestRanks {
                resource.append(index)
            }
        }
        guard !resource.isEmpty else { return .notFound }
        for candidate in method == "HEAD" ? ["HEAD", "GET"] : [method] {
            if let found = resource.first(where: { entries[$0].route.method == candidate }) {
                return .found(entries[found], Self.match(entries[found].segments, pathSegments) ?? [:])
            }
        }
        var allowed = Set(resource.map { entries[$0].route.method })
        allowed.insert("OPTIONS")
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return .methodNotAllowed(allowed.sorted())
    }

    private static func match(_ pattern: [Segment], _ path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(pattern, path) {
            switch segment {
            // Byte-wise comparison: Character comparison would treat canonically equivalent spellings as equal and
            // could then cut the value inside a character.
            case .literal(let literal):
                guard value.utf8.elementsEqual(literal.utf8) else { return nil }
            case .parameter(let name, let prefix, let suffix):
                let bytes = value.utf8
                // The parameter itself must not be empty: `/v1/jobs/` is not `/v1/jobs/{id}`.
                guard bytes.count > prefix.utf8.count + suffix.utf8.count, bytes.starts(with: prefix.utf8),
                      bytes.reversed().starts(with: suffix.utf8.reversed()) else { return nil }
                let start = bytes.index(bytes.startIndex, offsetBy: prefix.utf8.count)
                let end = bytes.index(bytes.endIndex, offsetBy: -suffix.utf8.count)
                parameters[name] = String(decoding: bytes[start..<end], as: UTF8.self)
            }
        }
        return parameters
    }

    /// `/a/b` → ["a", "b"]; `/` → [""]; a trailing slash gives a final empty segment, so it is a different path.
    private static func split(_ path: String) -> [Substring] {
        Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
    }

    private static func compile(_ pattern: String) -> [Segment] {
        precondition(pattern.hasPrefix("/"), "route pattern must start with '/': \(pattern)")
        var names = Set<String>()
        return split(pattern).map { raw in
            guard let open = raw.firstIndex(of: "{") else {
                precondition(!raw.contains("}"), "unbalanced '}' in route pattern \(pattern)")
                return .literal(String(raw))
            }
            guard let close = raw[open...].firstIndex(of: "}") else {
                preconditionFailure("unbalanced '{' in route pattern \(pattern)")
            }
            let name = String(raw[raw.index(after: open)..<close])
            let prefix = String(raw[..<open])
            let suffix = String(raw[raw.index(after: close)...])
            precondition(!name.isEmpty && !name.contains("{"), "bad parameter name in route pattern \(pattern)")
            precondition(!prefix.contains("}") && !suffix.contains("{") && !suffix.contains("}"),
                         "one parameter per segment in route pattern \(pattern)")
            precondition(names.insert(name).inserted, "parameter {\(name)} repeated in route pattern \(pattern)")
            return .parameter(name: name, prefix: prefix, suffix: suffix)
        }
    }
}
