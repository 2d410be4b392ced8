import Foundation
import Testing
@testable import SequentData

/// Archives are made by Python's zipfile (what people's tools write), including the malicious kinds.
@Suite struct ZipArchiveTests {
    /// Runs a Python snippet that writes a zip to the path in sys.argv[1]; returns its bytes.
    func makeZip(_ script: String) throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("z-\(UUID().uuidString).zip").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n" + script + "\nz.close()", path]
        try p.run()
        p.waitUntilExit()
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sequent-zip-\(UUID().uuidString)")
    }

    @Test func extractsClassFolders() throws {
        let zip = try makeZip("z.writestr('train/cats/a.png', b'A'*1000)\nz.writestr('train/dogs/b.png', b'B'*10)\nz.writestr('validation/cats/c.png', b'C')\nz.writestr('empty/', b'')")
        let root = tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let dest = root.appendingPathComponent("pets")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let entries = try ZipArchive.extract(zip, to: dest)
        #expect(entries.count == 4)
        #expect(try Data(contentsOf: dest.appendingPathComponent("train/cats/a.png")) == Data(repeating: 65, count: 1000))
        #expect(FileManager.default.fileExists(atPath: dest.appendingPathComponent("validation/cats/c.png").path))
        // Nothing but the dataset is left in the root (the staging directory was renamed).
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["pets"])
    }

    @Test func extractsFromAByteRangeOfAFile() throws {
        let zip = try makeZip("z.writestr('cats/a.png', bytes(range(256)) * 1000)\nz.writestr('dogs/b.png', b'B' * 10)")
        let root = tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // The zip sits inside a larger file, as the file part of a spooled multipart body does.
        let spooled = root.appendingPathComponent(".spool")
        try Data(Array("--boundary\r\n\r\n".utf8) + zip + Array("\r\n--boundary--\r\n".utf8)).write(to: spooled)
        let entries = try ZipArchive.extract(file: spooled, range: 14..<(14 + zip.count), to: root.appendingPathComponent("pets"))
        #expect(entries.map(\.path) == ["cats/a.png", "dogs/b.png"])
        #expect(try [UInt8](Data(contentsOf: root.appendingPathComponent("pets/cats/a.png"))) == Array((0..<256_000).map { UInt8($0 % 256) }))
        // A corrupt entry found while extracting leaves no staging directory behind.
        var flipped = zip
        flipped[60] ^= 0xFF
        try Data(flipped).write(to: spooled)
        #expect(throws: ZipArchive.Error.self) { try ZipArchive.extract(file: spooled, to: root.appendingPathComponent("bad")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == [".spool", "pets"])
    }

    @Test(arguments: [
        ("z.writestr('../evil.png', b'x')", "'..' in a path"),
        ("z.writestr('a/../../evil.png', b'x')", "'..' in a path"),
        ("z.writestr('/etc/evil.png', b'x')", "absolute"),
        ("z.writestr('a\\\\..\\\\evil.png', b'x')", "absolute or malformed"),
        ("i = zipfile.ZipInfo('link'); i.create_system = 3; i.external_attr = (0o120777 << 16); z.writestr(i, 'target')", "symbolic links"),
        ("z.writestr('bomb.bin', b'\\\\0' * 50_000_000)", "zip bomb"),
    ])
    func hostileArchivesWriteNothing(script: String, reason: String) throws {
        let zip = try makeZip(script)
        let root = tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        do {
            _ = try ZipArchive.extract(zip, to: root.appendingPathComponent("x"))
            Issue.record("expected a refusal (\(reason))")
        } catch let e as ZipArchive.Error {
            #expect(e.description.contains(reason), "\(e)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("evil.png").path))
    }

    @Test func corruptAndTruncatedArchivesAreRefused() throws {
        let zip = try makeZip("z.writestr('a/b.png', b'hello world' * 100)")
        #expect(throws: ZipArchive.Error.self) { try ZipArchive.entries(Array(zip.prefix(zip.count / 2))) }
        #expect(throws: ZipArchive.Error.self) { try ZipArchive.entries(Array("not a zip at all, just text".utf8)) }
        var flipped = zip
        flipped[40] ^= 0xFF   // inside the compressed data
        let e = try ZipArchive.entries(flipped)
        #expect(throws: ZipArchive.Error.self) { try ZipArchive.data(of: e[0], in: flipped) }
    }
}
