import Foundation
import Testing
@testable import SequentData

/// Real archives come from GNU tar in each of its formats; hostile ones are written header by header here, so
/// every field is exactly what the test says.
@Suite struct TarArchiveTests {
    /// A disk that fills up while an entry is written (/dev/full fails every write with ENOSPC) is reported as
    /// such, so the upload gets 507 (try again later) rather than 400 (a bad archive).
    @Test func aFullDiskIsOutOfSpaceNotABadArchive() throws {
        let fd = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(fd >= 0, "no /dev/full")
        let file = ArchiveOutputFile(fd: fd, path: "cats/1.png")
        let bytes = [UInt8](repeating: 7, count: 4096)
        let error = #expect(throws: ArchiveError.self) { try bytes.withUnsafeBytes { try file.write($0) } }
        #expect(error?.outOfSpace == true)
        #expect(error?.description.hasPrefix("cats/1.png: cannot be written") == true)
    }

    // MARK: - Helpers

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-tar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a program; throws when it fails.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], in directory: URL? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ArchiveError("\(tool) \(arguments) exited with \(p.terminationStatus)") }
        return p.terminationStatus
    }

    /// `gzip -c` of `bytes`.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory
        let input = dir.appendingPathComponent("gz-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: input) }
        try Data(bytes).write(to: input)
        try run("/usr/bin/gzip", ["-n", "-q", input.path])
        let output = URL(fileURLWithPath: input.path + ".gz")
        defer { try? FileManager.default.removeItem(at: output) }
        return [UInt8](try Data(contentsOf: output))
    }

    /// A tar written block by block.
    struct TarWriter {
        var bytes: [UInt8] = []

        /// One header (ustar, checksum filled in) and its data padded to whole blocks.
        mutating func add(_ name: String, _ data: [UInt8] = [], type: Character = "0", link: String = "",
                          size: Int? = nil, corruptChecksum: Bool = false) {
            var h = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, _ offset: Int, _ length: Int) {
                for (i, b) in text.utf8.prefix(length).enumerated() { h[offset + i] = b }
            }
            put(name, 0, 100)
            put("0000644", 100, 8)
            put("0000000", 108, 8)
            put("0000000", 116, 8)
            put(Self.octal(size ?? data.count, digits: 11), 124, 12)
            put("14712345670", 136, 12)
            h[156] = type.asciiValue!
            put(link, 157, 100)
            put("ustar", 257, 6)
            put("00", 263, 2)
            for i in 148..<156 { h[i] = 0x20 }
            var sum = h.reduce(0) { $0 + Int($1) }
            if corruptChecksum { sum += 1 }
            put(Self.octal(sum, digits: 6), 148, 6)
            h[154] = 0
            bytes += h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }

        /// `value` in octal, zero-padded to `digits`.
        static func octal(_ value: Int, digits: Int) -> String {
            let text = String(value, radix: 8)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }

        /// A pax extended header setting `records` for the next entry.
        mutating func pax(_ records: [(String, String)]) {
            var data: [UInt8] = []
            for (key, value) in records {
                let body = " \(key)=\(value)\n"
                var length = body.utf8.count + 1
                while String(length).utf8.count + body.utf8.count != length { length += 1 }
                data += Array("\(length)\(body)".utf8)
            }
            add("PaxHeaders/x", data, type: "x")
        }

        /// The end-of-archive marker: two zero blocks.
        var finished: [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
    }

    /// Extracts into a fresh root; returns the error, or nil on success. Checks that a refusal left the root empty.
    func refusalError(_ archive: [UInt8], limits: ArchiveLimits = ArchiveLimits()) throws -> ArchiveError? {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            _ = try ArchiveExtractor.extract(archive, to: root.appendingPathComponent("x"), limits: limits)
            return nil
        } catch let e as ArchiveError {
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).isEmpty, "\(e)")
            return e
        }
    }

    /// `refusalError`'s message.
    func refusal(_ archive: [UInt8], limits: ArchiveLimits = ArchiveLimits()) throws -> String? {
        try refusalError(archive, limits: limits)?.description
    }

    // MARK: - Real archives

    @Test(arguments: ["gnu", "pax", "ustar", "v7"], [false, true])
    func extractsWhatGNUTarWrites(format: String, compressed: Bool) throws {
        let work = try tempDir()
        defer { try? FileManager.default.removeItem(at: work) }
        let tree = work.appendingPathComponent("tree")
        // A name longer than 100 bytes needs an L record (gnu), a pax path (pax) or the prefix field (ustar);
        // v7 cannot store it at all.
        let longDir = format == "v7" ? "d" : String(repeating: "d", count: 60)
        let files: [String: [UInt8]] = [
            "train/cats/a.png": Array(repeating: 65, count: 1000),
            "train/dogs/b.png": Array("b".utf8),
            "validation/cats/\(longDir)/\(String(repeating: "c", count: 50)).png": Array(0...255),
            "train/dogs/empty.png": [],
        ]
        for (path, bytes) in files {
            let url = tree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let archive = work.appendingPathComponent("a.tar")
        try Self.run("/usr/bin/tar", ["--format=\(format)", compressed ? "-czf" : "-cf", archive.path, "-C", tree.path, "."])
        let bytes = [UInt8](try Data(contentsOf: archive))
        #expect(bytes.starts(with: [0x1F, 0x8B]) == compressed)

        let root = work.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let entries = try ArchiveExtractor.extract(bytes, to: root.appendingPathComponent("pets"))
        #expect(Set(entries.filter { !$0.isDirectory }.map(\.path)) == Set(files.keys))
        for (path, expected) in files {
            #expect(try [UInt8](Data(contentsOf: root.appendingPathComponent("pets/\(path)"))) == expected, "\(path)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["pets"])  // staging renamed

        // The same from a file, as a byte range in the middle of it (a spooled multipart body).
        let spooled = work.appendingPathComponent("spooled")
        try Data(Array("preamble".utf8) + bytes + Array("epilogue".utf8)).write(to: spooled)
        let again = try ArchiveExtractor.extract(file: spooled, range: 8..<(8 + bytes.count), to: root.appendingPathComponent("pets2"))
        #expect(again == entries)
    }

    @Test func paxSizeAndPathAndMultiMemberGzip() throws {
        var tar = TarWriter()
        tar.pax([("path", "cats/" + String(repeating: "é", count: 80) + ".png"), ("mtime", "1.5")])
        tar.add("ignored-name", Array("hello".utf8))
        tar.add("g", [], type: "g")
        tar.add("dogs/", type: "5")
        tar.add("dogs/d.png", Array("woof".utf8))
        let bytes = tar.finished
        // Two gzip members, split in the middle of an entry: one stream to whoever reads it.
        let split = 700
        let twoMembers = try Self.gzip(Array(bytes[..<split])) + Self.gzip(Array(bytes[split...]))
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let entries = try ArchiveExtractor.extract(twoMembers, to: root.appendingPathComponent("x"))
        #expect(entries.map(\.path) == ["cats/" + String(repeating: "é", count: 80) + ".png", "dogs", "dogs/d.png"])
        #expect(entries.first?.size == 5)
        // A pax size overrides the header's.
        var sized = TarWriter()
        sized.pax([("size", "3")])
        sized.add("a.png", Array("abc".utf8), size: 999)
        let root2 = try tempDir()
        defer { try? FileManager.default.removeItem(at: root2) }
        #expect(try ArchiveExtractor.extract(sized.finished, to: root2.appendingPathComponent("y")).map(\.size) == [3])
    }

    // MARK: - Refusals

    @Test(arguments: [
        ("../evil.png", "0", "'..' in a path is not allowed"),
        ("cats/../../evil.png", "0", "'..' in a path is not allowed"),
        ("/etc/evil.png", "0", "absolute or malformed paths are not allowed"),
        ("cats\\..\\evil.png", "0", "absolute or malformed paths are not allowed"),
        ("cats/link.png", "2", "cats/link.png: symbolic links are not allowed"),
        ("cats/hard.png", "1", "cats/hard.png: hard links are not allowed"),
        ("cats/tty", "3", "cats/tty: device files are not allowed"),
        ("cats/disk", "4", "cats/disk: device files are not allowed"),
        ("cats/fifo", "6", "cats/fifo: FIFOs are not allowed"),
    ])
    func hostileEntriesWriteNothing(name: String, type: String, reason: String) throws {
        var tar = TarWriter()
        tar.add("cats/ok.png", Array("fine".utf8))  // written to staging first, then discarded
        tar.add(name, type == "0" ? Array("x".utf8) : [], type: Character(type), link: type == "1" || type == "2" ? "/etc/passwd" : "")
        for archive in [tar.finished, try Self.gzip(tar.finished)] {
            let message = try refusal(archive)
            #expect(message?.contains(reason) == true, "\(message ?? "accepted")")
            #expect(message?.contains(name.split(separator: "/").last.map(String.init) ?? name) == true)
        }
    }

    @Test(arguments: ["gnu", "pax"])
    func sparseFilesAreRefused(format: String) throws {
        let work = try tempDir()
        defer { try? FileManager.default.removeItem(at: work) }
        let cats = work.appendingPathComponent("tree/cats")
        try FileManager.default.createDirectory(at: cats, withIntermediateDirectories: true)
        // A megabyte hole, then four bytes: GNU tar -S stores only the data and a map of where it goes.
        try Self.run("/usr/bin/truncate", ["-s", "1M", cats.appendingPathComponent("hole.png").path])
        let handle = try FileHandle(forWritingTo: cats.appendingPathComponent("hole.png"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("data".utf8))
        try handle.close()
        let archive = work.appendingPathComponent("sparse.tar")
        try Self.run("/usr/bin/tar", ["--format=\(format)", "-S", "-cf", archive.path, "-C", work.appendingPathComponent("tree").path, "."])
        #expect(try refusal([UInt8](Data(contentsOf: archive))) == "./cats/hole.png: sparse files are not supported")
    }

    /// POSIX reads a type flag it does not know as a regular file, and libarchive does: such an entry is extracted
    /// under the same rules as any file, never as something else.
    @Test func unknownEntryTypesAreRegularFiles() throws {
        var tar = TarWriter()
        tar.add("cats/odd.png", Array("odd".utf8), type: "Z")
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let entries = try ArchiveExtractor.extract(tar.finished, to: root.appendingPathComponent("x"))
        #expect(entries == [ArchiveExtractor.Entry(path: "cats/odd.png", isDirectory: false, size: 3)])
        #expect(try Data(contentsOf: root.appendingPathComponent("x/cats/odd.png")) == Data("odd".utf8))
    }

    @Test func hostileNamesFromLongNameAndPaxRecordsAreCheckedToo() throws {
        var gnu = TarWriter()
        gnu.add("././@LongLink", Array("../../evil.png".utf8) + [0], type: "L")
        gnu.add("harmless.png", Array("x".utf8))
        #expect(try refusal(gnu.finished) == "../../evil.png: '..' in a path is not allowed")
        var pax = TarWriter()
        pax.pax([("path", "/etc/cron.d/evil")])
        pax.add("harmless.png", Array("x".utf8))
        #expect(try refusal(pax.finished) == "/etc/cron.d/evil: absolute or malformed paths are not allowed")
    }

    @Test func corruptTruncatedAndForeignArchives() throws {
        var tar = TarWriter()
        tar.add("cats/a.png", Array(repeating: 7, count: 3000))
        tar.add("cats/b.png", Array(repeating: 8, count: 10), corruptChecksum: true)
        #expect(try refusal(tar.finished) == "the archive is corrupt or truncated after cats/a.png (Damaged tar archive)")
        var firstDamaged = TarWriter()
        firstDamaged.add("cats/a.png", Array(repeating: 7, count: 10), corruptChecksum: true)
        #expect(try refusal(firstDamaged.finished)
                == "the archive is corrupt or truncated at its first entry (damaged tar header)")

        var good = TarWriter()
        good.add("cats/a.png", Array(repeating: 7, count: 3000))
        good.add("cats/b.png", Array(repeating: 8, count: 10))
        let plain = good.finished
        #expect(try refusal(plain) == nil)
        #expect(try refusal(Array(plain.prefix(1500)))?.hasPrefix("cats/a.png: corrupt or truncated data") == true)
        #expect(try refusal(Array(plain.prefix(4096)))?.hasPrefix("cats/b.png: corrupt or truncated data") == true)
        #expect(try refusal(Array(plain.prefix(3900)))?.hasPrefix("the archive is corrupt or truncated after cats/a.png") == true)
        // Ending right after an entry, without the end-of-archive blocks, is how many writers end: libarchive
        // and GNU tar take it, and so does Sequent.
        #expect(try refusal(Array(plain.prefix(4608))) == nil)
        let compressed = try Self.gzip(plain)
        #expect(try refusal(Array(compressed.prefix(compressed.count / 2)))?.contains("truncated") == true)
        var corruptDeflate = compressed
        corruptDeflate[20] ^= 0xFF
        #expect(try refusal(corruptDeflate) != nil)
        let text = try refusalError(Array("just some text, not an archive at all".utf8) + [UInt8](repeating: 0, count: 600))
        #expect(text == ArchiveError("the upload is not a zip, tar or tar.gz archive", unsupportedFormat: true))
        #expect(try refusal(try Self.gzip(Array(repeating: 42, count: 2000)))
                == "not a tar archive (the gzip stream holds something else)")
        // The gzip trailer's CRC covers everything extracted: a flipped CRC byte is caught at the end.
        var badCRC = compressed
        badCRC[badCRC.count - 6] ^= 0xFF
        #expect(try refusal(badCRC)?.contains("corrupt gzip data") == true)
        #expect(try refusalError([]) == ArchiveError("the upload is empty", unsupportedFormat: true))
        #expect(try refusalError(Array("BZh91AY&SY".utf8)) == ArchiveError("the upload is bzip2-compressed", unsupportedFormat: true))
    }

    @Test func limits() throws {
        var many = TarWriter()
        for i in 0..<5 { many.add("cats/\(i).png", Array("x".utf8)) }
        var three = ArchiveLimits()
        three.maxEntries = 3
        #expect(try refusal(many.finished, limits: three) == "the archive has more than 3 entries")
        var small = ArchiveLimits()
        small.maxTotalBytes = 4
        #expect(try refusal(many.finished, limits: small) == "the archive expands to more than 4 bytes")
        var twice = TarWriter()
        twice.add("cats/a.png", Array("1".utf8))
        twice.add("./cats//a.png", Array("2".utf8))
        #expect(try refusal(twice.finished) == "cats/a.png: appears more than once in the archive")
    }

    @Test func gzipBombIsRefusedEarly() throws {
        var bomb = TarWriter()
        bomb.add("cats/zeros.png", [UInt8](repeating: 0, count: 50_000_000))
        let compressed = try Self.gzip(bomb.finished)
        #expect(compressed.count < 100_000)
        #expect(try refusal(compressed) == "the archive expands more than 200:1 (gzip bomb?)")
        // The same bytes uncompressed are just a large file.
        var lenient = ArchiveLimits()
        lenient.maxRatio = 1_000_000
        #expect(try refusal(compressed, limits: lenient) == nil)
    }
}
