import Foundation
import Testing
@testable import SequentService

/// `POST /v1/datasets` with tar and tar.gz archives made by GNU tar, over a real socket: raw and multipart bodies,
/// chunked uploads, the body limit, and every kind of hostile archive — each refusal must name the problem and
/// leave nothing under the datasets folder (no dataset, no staging directory, no spooled body).
@Suite(.serialized) struct TarDatasetUploadTests {
    /// Runs a program in `directory`; throws when it fails.
    static func run(_ tool: String, _ arguments: [String], in directory: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.currentDirectoryURL = directory
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw HTTPClient.Failure(description: "\(tool) \(arguments) exited with \(p.terminationStatus)")
        }
    }

    /// A work directory with class folders: train/{boots,shoes} and validation/{boots,shoes}, fake images (the
    /// upload counts files; decoding is the training's business).
    static func makeTree() throws -> URL {
        let work = try TrainingServiceTests.tempDir()
        let counts = ["train/boots": 3, "train/shoes": 2, "validation/boots": 1, "validation/shoes": 1]
        for (folder, count) in counts {
            let dir = work.appendingPathComponent("tree/\(folder)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for i in 0..<count { try Data(repeating: UInt8(i), count: 100 + i).write(to: dir.appendingPathComponent("\(i).jpg")) }
        }
        return work
    }

    /// `tar <flags> out <arguments>` run in `directory`; returns the archive's bytes.
    static func tar(_ flags: String, _ arguments: [String], in directory: URL) throws -> [UInt8] {
        let out = directory.appendingPathComponent("out-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try run("/usr/bin/tar", [flags, out.path] + arguments, in: directory)
        return [UInt8](try Data(contentsOf: out))
    }

    static func form(name: String, file: [UInt8], filename: String) -> [UInt8] {
        Array("--B0\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\(name)\r\n--B0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: application/gzip\r\n\r\n".utf8)
            + file + Array("\r\n--B0--\r\n".utf8)
    }

    /// Hidden entries of the datasets folder other than the datasets themselves: spools and staging directories.
    static func leftovers(_ server: EndToEndTests.Server, keeping datasets: Set<String> = []) -> [String] {
        let root = server.service.configuration.datasetsRoot
        return ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { !datasets.contains($0) }
    }

    @Test func tarAndTarGzUploadsRawMultipartAndChunked() throws {
        let server = try EndToEndTests.Server()
        defer { server.stop() }
        let work = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: work) }
        let tree = work.appendingPathComponent("tree")
        let gz = try Self.tar("-czf", ["-C", tree.path, "."], in: work)
        let plain = try Self.tar("-cf", ["--format=pax", "-C", tree.path, "."], in: work)
        // One top-level folder ("shoes-boots/train/…"), as `tar czf x.tgz shoes-boots` makes: unwrapped.
        let wrapped = try Self.tar("-czf", ["-C", work.path, "tree"], in: work)

        var created: [String] = []
        func check(_ response: HTTPClient.Response, _ name: String) {
            #expect(response.status == 201, "\(name): \(response.text)")
            #expect(response.headers["location"] == "/v1/datasets/\(name)")
            #expect(response.json["classes"] == ["boots", "shoes"], "\(name)")
            #expect(response.json["splits"]?["train"]?["images"] == 5, "\(name)")
            #expect(response.json["splits"]?["validation"]?["images"] == 2, "\(name)")
            #expect(response.json["splits"]?["train"]?["classes"]?[0]?["count"] == 3, "\(name)")
            created.append(name)
        }
        let client = server.client
        check(try client.request("POST", "/v1/datasets?name=raw-gz", bodyBytes: gz, contentType: "application/gzip"), "raw-gz")
        check(try client.request("POST", "/v1/datasets?name=raw-tar", bodyBytes: plain, contentType: "application/x-tar"), "raw-tar")
        check(try client.request("POST", "/v1/datasets?name=octet", bodyBytes: gz, contentType: "application/octet-stream"), "octet")
        // The bytes decide the format, not a wrong Content-Type.
        check(try client.request("POST", "/v1/datasets?name=mislabelled", bodyBytes: gz, contentType: "application/zip"), "mislabelled")
        check(try client.request("POST", "/v1/datasets", bodyBytes: Self.form(name: "form-gz", file: gz, filename: "a.tgz"),
                                 contentType: "multipart/form-data; boundary=B0"), "form-gz")
        check(try client.request("POST", "/v1/datasets", bodyBytes: Self.form(name: "form-tar", file: plain, filename: "a.tar"),
                                 contentType: "multipart/form-data; boundary=B0"), "form-tar")
        check(try client.request("POST", "/v1/datasets?name=wrapped", bodyBytes: wrapped, contentType: "application/gzip"), "wrapped")
        // Chunked transfer coding, raw and multipart: spooled as the chunks arrive.
        check(try client.request("POST", "/v1/datasets?name=chunked", bodyBytes: gz, contentType: "application/gzip", chunkSize: 100), "chunked")
        check(try client.request("POST", "/v1/datasets", bodyBytes: Self.form(name: "chunked-form", file: plain, filename: "a.tar"),
                                 contentType: "multipart/form-data; boundary=B0", chunkSize: 1000), "chunked-form")

        let root = URL(fileURLWithPath: server.service.configuration.datasetsRoot)
        #expect(try Data(contentsOf: root.appendingPathComponent("raw-gz/train/boots/2.jpg")) == Data(repeating: 2, count: 102))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("wrapped/validation/shoes/0.jpg").path))
        #expect(Self.leftovers(server, keeping: Set(created)).isEmpty, "\(Self.leftovers(server, keeping: Set(created)))")
        let listed = try client.request("GET", "/v1/datasets").json["datasets"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(listed == ["fashion_mnist"] + created.sorted())
        #expect(try client.request("POST", "/v1/datasets?name=raw-gz", bodyBytes: gz, contentType: "application/gzip").status == 409)
    }

    @Test func hostileTarsAreRefusedWithTheReasonAndWriteNothing() throws {
        let server = try EndToEndTests.Server { $0.maxDatasetEntries = 6 }
        defer { server.stop() }
        let work = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: work) }
        let tree = work.appendingPathComponent("tree")
        let fm = FileManager.default

        // `-P` keeps what GNU tar would otherwise strip: a leading `../` or `/`.
        try Data("evil".utf8).write(to: work.appendingPathComponent("evil.jpg"))
        let dotdot = try Self.tar("-czPf", ["../evil.jpg", "./train/boots/0.jpg"], in: tree)
        let absolute = try Self.tar("-czPf", [work.appendingPathComponent("evil.jpg").path], in: tree)
        let links = work.appendingPathComponent("links/cats")
        try fm.createDirectory(at: links, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: links.appendingPathComponent("a.jpg"))
        try fm.createSymbolicLink(atPath: links.appendingPathComponent("passwd.jpg").path, withDestinationPath: "/etc/passwd")
        let symlink = try Self.tar("-czf", ["-C", work.appendingPathComponent("links").path, "."], in: work)
        try fm.removeItem(at: links.appendingPathComponent("passwd.jpg"))
        try fm.linkItem(at: links.appendingPathComponent("a.jpg"), to: links.appendingPathComponent("b.jpg"))
        let hardlink = try Self.tar("-cf", ["-C", work.appendingPathComponent("links").path, "."], in: work)
        // A changed header byte (in the first entry's mtime) no longer matches its checksum.
        var badChecksum = try Self.tar("-cf", ["-C", tree.path, "train"], in: work)
        badChecksum[140] = badChecksum[140] == 0x31 ? 0x32 : 0x31
        let full = try Self.tar("-czf", ["-C", tree.path, "."], in: work)
        let small = try Self.tar("-czf", ["-C", tree.path, "validation"], in: work)  // 5 entries
        let truncated = Array(small.prefix(small.count - 40))
        // 50 MB of zeros: a sparse file on disk, ~50 kB as tar.gz.
        let bombDir = work.appendingPathComponent("bomb/cats")
        try fm.createDirectory(at: bombDir, withIntermediateDirectories: true)
        try Self.run("/usr/bin/truncate", ["-s", "50M", "zeros.jpg"], in: bombDir)
        let bomb = try Self.tar("-czf", ["-C", work.appendingPathComponent("bomb").path, "."], in: work)
        #expect(bomb.count < 200_000)
        // 7 files and 7 folders, over the configured 6 entries.
        let tooMany = full

        let cases: [(String, [UInt8], String)] = [
            ("dotdot", dotdot, "../evil.jpg: '..' in a path is not allowed"),
            ("absolute", absolute, "absolute or malformed paths are not allowed"),
            ("symlink", symlink, "passwd.jpg: symbolic links are not allowed"),
            ("hardlink", hardlink, ": hard links are not allowed"),
            ("checksum", badChecksum, "the archive is corrupt or truncated at its first entry (damaged tar header)"),
            ("truncated", truncated, "truncated"),
            ("bomb", bomb, "the archive expands more than 200:1 (gzip bomb?)"),
            ("toomany", tooMany, "the archive has more than 6 entries"),
        ]
        for (name, archive, reason) in cases {
            for multipart in [false, true] {
                let response = multipart
                    ? try server.client.request("POST", "/v1/datasets", bodyBytes: Self.form(name: name, file: archive, filename: "\(name).tgz"),
                                                contentType: "multipart/form-data; boundary=B0")
                    : try server.client.request("POST", "/v1/datasets?name=\(name)", bodyBytes: archive, contentType: "application/gzip")
                #expect(response.status == 400, "\(name): \(response.text)")
                #expect(response.json["error"]?["code"] == "invalid_archive", "\(name)")
                let message = response.json["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains(reason), "\(name): \(message)")
                #expect(Self.leftovers(server).isEmpty, "\(name): \(Self.leftovers(server))")
            }
        }
        #expect(!fm.fileExists(atPath: URL(fileURLWithPath: server.service.configuration.datasetsRoot)
            .deletingLastPathComponent().appendingPathComponent("evil.jpg").path))
    }

    @Test func bodiesOverTheLimitAre413AndLeaveNothing() throws {
        let server = try EndToEndTests.Server { $0.maxDatasetBytes = 64 << 10 }
        defer { server.stop() }
        let big = [UInt8](repeating: 7, count: 200 << 10)
        let declared = try server.client.request("POST", "/v1/datasets?name=big", bodyBytes: big, contentType: "application/gzip")
        #expect(declared.status == 413, "\(declared.text)")
        #expect(declared.json["error"]?["code"] == "payload_too_large")
        // Chunked: refused at the chunk that passes the limit, with part of the body already spooled.
        let chunked = try server.client.request("POST", "/v1/datasets?name=big", bodyBytes: big, contentType: "application/gzip",
                                                chunkSize: 16 << 10)
        #expect(chunked.status == 413, "\(chunked.text)")
        #expect(Self.leftovers(server).isEmpty, "\(Self.leftovers(server))")
    }
}
