import Foundation
import Testing
@testable import SequentNN
@testable import SequentService

/// `/openapi.json` is the contract: these tests hold it to what the running server does — the same routes, the
/// same security, the same `Allow`, the same parameter bounds. `scripts/schemathesis.sh` then fuzzes the rest.
@Suite struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch"]

    /// `METHOD /path` of every operation in the document.
    static func operations(_ document: JSONValue) -> Set<String> {
        var out = Set<String>()
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for method in (item.objectValue ?? [:]).keys where methods.contains(method) {
                out.insert("\(method.uppercased()) \(path)")
            }
        }
        return out
    }

    /// A concrete path for a templated one.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{id}", with: "nope").replacingOccurrences(of: "{name}", with: "nope")
    }

    @Test func everyRouteIsDocumentedAndEveryOperationIsARoute() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let document = try server.client.request("GET", "/openapi.json").json
        let documented = Self.operations(document)
        let routed = Set(server.app.router.routes.map { "\($0.method) \($0.pattern)" })
        let undocumented = routed.subtracting(documented).sorted(), unserved = documented.subtracting(routed).sorted()
        #expect(undocumented.isEmpty, "routes missing from /openapi.json: \(undocumented)")
        #expect(unserved.isEmpty, "documented but not served: \(unserved)")
        #expect(routed.count >= 23)
        // Links name operations that exist.
        var ids = Set<String>(), targets = Set<String>()
        for (_, item) in document["paths"]?.objectValue ?? [:] {
            for (_, op) in item.objectValue ?? [:] {
                if let id = op["operationId"]?.stringValue {
                    #expect(ids.insert(id).inserted, "operationId \(id) repeated")
                }
                for (_, response) in op["responses"]?.objectValue ?? [:] {
                    for (_, link) in response["links"]?.objectValue ?? [:] {
                        targets.insert(link["operationId"]?.stringValue ?? "")
                    }
                }
            }
        }
        #expect(!targets.isEmpty && targets.isSubset(of: ids),
                "links to unknown operations: \(targets.subtracting(ids).sorted())")
    }

    @Test func securityIsDescribedAsServed() throws {
        let open = try EndToEndTests.Server()
        let openDocument = try open.client.request("GET", "/openapi.json").json
        open.stop()
        #expect(openDocument["components"]?["securitySchemes"] == nil)
        for (_, item) in openDocument["paths"]?.objectValue ?? [:] {
            for (_, op) in item.objectValue ?? [:] { #expect(op["security"] == nil && op["responses"]?["401"] == nil) }
        }

        let server = try EndToEndTests.Server(token: "s3cret")
        defer { server.stop() }
        let document = try server.client.request("GET", "/openapi.json").json
        #expect(document["components"]?["securitySchemes"]?["bearer"]?["scheme"] == "bearer")
        var anonymous = server.client
        anonymous.token = nil
        var secured: [String] = []
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for (method, op) in item.objectValue ?? [:] where Self.methods.contains(method) {
                let declared = op["security"] != nil
                #expect(declared == (op["responses"]?["401"] != nil), "\(method) \(path): security without 401 or back")
                if declared { secured.append("\(method.uppercased()) \(path)") }
                let r = try anonymous.request(method.uppercased(), Self.concrete(path),
                                              bodyBytes: method == "get" ? nil : [])
                #expect((r.status == 401) == declared, "\(method) \(path) without a token: \(r.status)")
                if r.status == 401 { #expect(r.headers["www-authenticate"] == "Bearer") }
            }
        }
        #expect(secured.sorted() == ["DELETE /v1/datasets/{name}", "DELETE /v1/jobs/{id}", "DELETE /v1/models/{id}",
                                     "PATCH /v1/jobs/{id}", "POST /v1/datasets", "POST /v1/jobs",
                                     "POST /v1/jobs/{id}/cancel", "POST /v1/models"])
    }

    @Test func allowMatchesTheDocumentedMethods() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let document = try server.client.request("GET", "/openapi.json").json
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            var allowed = Set((item.objectValue ?? [:]).keys.filter(Self.methods.contains).map { $0.uppercased() })
            if allowed.contains("GET") { allowed.insert("HEAD") }
            allowed.insert("OPTIONS")
            let options = try server.client.request("OPTIONS", Self.concrete(path), bodyBytes: nil)
            #expect(options.status == 204, "OPTIONS \(path)")
            let advertised = Set((options.headers["allow"] ?? "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(advertised == allowed, "OPTIONS \(path): Allow \(options.headers["allow"] ?? "none")")
            let undocumented = try #require(["PUT", "PATCH", "DELETE", "POST"].first { !allowed.contains($0) })
            let refused = try server.client.request(undocumented, Self.concrete(path), bodyBytes: [])
            #expect(refused.status == 405, "\(undocumented) \(path)")
            #expect(refused.headers["allow"] == options.headers["allow"], "\(undocumented) \(path)")
        }
    }

    /// Every bounded integer query parameter of the GET routes without path parameters: the documented bounds are
    /// accepted, one past them is refused with 400 naming the parameter.
    @Test func integerBoundsAreTheServedOnes() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let document = try server.client.request("GET", "/openapi.json").json
        var checked = 0
        for (path, item) in document["paths"]?.objectValue ?? [:] where !path.contains("{") {
            for param in item["get"]?["parameters"]?.arrayValue ?? [] where param["schema"]?["type"] == "integer" {
                let name = try #require(param["name"]?.stringValue)
                let lo = try #require(param["schema"]?["minimum"]?.doubleValue)
                let hi = try #require(param["schema"]?["maximum"]?.doubleValue)
                for value in [lo, hi] {
                    let r = try server.client.request("GET", "\(path)?\(name)=\(Int64(value))")
                    #expect(r.status == 200, "\(path)?\(name)=\(Int64(value)): \(r.status) \(r.text.prefix(200))")
                }
                for value in [lo - 1, hi + 1] {
                    let r = try server.client.request("GET", "\(path)?\(name)=\(Int64(value))")
                    #expect(r.status == 400 && r.json["error"]?["field"]?.stringValue == name,
                            "\(path)?\(name)=\(Int64(value)): \(r.status)")
                }
                checked += 1
            }
        }
        #expect(checked >= 5)  // jobs limit and cursor, models limit, samples offset and count
    }
}
