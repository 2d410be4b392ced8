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
        let entries = try ArchiveExtractor.extract(zip, to: dest)
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
        let entries = try ArchiveExtractor.extract(file: spooled, range: 14..<(14 + zip.count), to: root.appendingPathComponent("pets"))
        #expect(entries.map(\.path) == ["cats/a.png", "dogs/b.png"])
        #expect(try [UInt8](Data(contentsOf: root.appendingPathComponent("pets/cats/a.png"))) == Array((0..<256_000).map { UInt8($0 % 256) }))
        // A corrupt entry found while extracting leaves no staging directory behind.
        var flipped = zip
        flipped[60] ^= 0xFF
        try Data(flipped).write(to: spooled)
        #expect(throws: ArchiveError.self) { try ArchiveExtractor.extract(file: spooled, to: root.appendingPathComponent("bad")) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == [".spool", "pets"])
    }

    @Test(arguments: [
        ("z.writestr('../evil.png', b'x')", "'..' in a path"),
        ("z.writestr('a/../../evil.png', b'x')", "'..' in a path"),
        ("z.writestr('/etc/evil.png', b'x')", "absolute"),
        // libarchive reads a zip's backslashes as the separators Windows tools meant them to be.
        ("z.writestr('a\\\\..\\\\evil.png', b'x')", "a/../evil.png: '..' in a path"),
        ("i = zipfile.ZipInfo('link'); i.create_system = 3; i.external_attr = (0o120777 << 16); z.writestr(i, 'target')", "symbolic links"),
        ("z.writestr('bomb.bin', b'\\\\0' * 50_000_000)", "zip bomb"),
    ])
    func hostileArchivesWriteNothing(script: String, reason: String) throws {
        let zip = try makeZip(script)
        let root = tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        do {
            _ = try ArchiveExtractor.extract(zip, to: root.appendingPathComponent("x"))
            Issue.record("expected a refusal (\(reason))")
        } catch let e as ArchiveError {
            #expect(e.description.contains(reason), "\(e)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("evil.png").path))
    }

    /// Extracts into a fresh root; returns the refusal, or nil on success. Checks that a refusal left the root empty.
    func refusal(_ zip: [UInt8]) throws -> ArchiveError? {
        let root = tempDir()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            _ = try ArchiveExtractor.extract(zip, to: root.appendingPathComponent("x"))
            return nil
        } catch let e as ArchiveError {
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty, "\(e)")
            return e
        }
    }

    @Test func corruptTruncatedAndForeignArchivesAreRefused() throws {
        let zip = try makeZip("z.writestr('a/b.png', b'hello world' * 100)")
        #expect(try refusal(zip) == nil)
        // Cut inside the data of a stored entry (a zip cut inside its central directory is still read, through
        // the local headers, every entry CRC-checked).
        let stored = try makeZip("z.writestr('a/b.png', bytes(range(256)) * 10, compress_type=zipfile.ZIP_STORED)")
        let truncated = try refusal(Array(stored.prefix(1000)))
        #expect(truncated?.description.contains("truncated") == true, "\(truncated?.description ?? "accepted")")
        #expect(truncated?.unsupportedFormat == false)
        var flipped = zip
        flipped[40] ^= 0xFF   // inside the compressed data
        let corrupt = try refusal(flipped)
        #expect(corrupt?.description.hasPrefix("a/b.png: corrupt or truncated data") == true,
                "\(corrupt?.description ?? "accepted")")
        let text = try refusal(Array("not a zip at all, just text".utf8))
        #expect(text == ArchiveError("the upload is not a zip, tar or tar.gz archive", unsupportedFormat: true))
        #expect(try refusal([]) == ArchiveError("the upload is empty", unsupportedFormat: true))
        #expect(try refusal(Array("BZh91AY&SY".utf8)) == ArchiveError("the upload is bzip2-compressed", unsupportedFormat: true))
        // zip inside gzip is none of the three formats Sequent takes, though libarchive could read it.
        let gzipped = try refusal(try TarArchiveTests.gzip(zip))
        #expect(gzipped?.unsupportedFormat == true, "\(gzipped?.description ?? "accepted")")
    }

    @Test func encryptedEntriesAreRefused() throws {
        // The traditional PKWARE flag (bit 0) on an otherwise stored entry: refused from the header alone.
        var zip = try makeZip("z.writestr(zipfile.ZipInfo('a/b.png'), b'hello', compress_type=zipfile.ZIP_STORED)")
        zip[6] |= 1
        let central = try #require(zip.indices.dropLast(4).first { zip[$0..<($0 + 4)].elementsEqual([0x50, 0x4B, 1, 2]) })
        zip[central + 8] |= 1
        let refused = try refusal(zip)
        #expect(refused?.description.contains("encrypted") == true, "\(refused?.description ?? "accepted")")
    }
}
