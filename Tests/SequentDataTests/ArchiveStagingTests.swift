import Foundation
import Testing
@testable import SequentData

/// Staging, unwrapping and crash safety: an upload becomes a dataset in one rename, so a crash at any moment leaves
/// either no dataset or the complete one, and start-up cleanup removes whatever else was left.
@Suite struct ArchiveStagingTests {
    typealias TarWriter = TarArchiveTests.TarWriter

    func tempDir() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sequent-staging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every file under `directory`, by relative path, with its bytes; directories appear through their files.
    func tree(_ directory: URL) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        let base = directory.standardizedFileURL.path + "/"
        let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            files[String(url.standardizedFileURL.path.dropFirst(base.count))] = [UInt8](try Data(contentsOf: url))
        }
        return files
    }

    /// The class folders wrapped in one top folder, as `tar czf shoes.tgz shoes` makes them, with the clutter macOS
    /// adds beside it.
    static let wrapped: (archive: [UInt8], dataset: [String: [UInt8]]) = {
        let dataset: [String: [UInt8]] = [
            "train/boots/1.jpg": Array("boot one".utf8), "train/tops/2.jpg": Array("top two".utf8),
            "validation/boots/3.jpg": Array("boot three".utf8),
        ]
        var tar = TarWriter()
        tar.add("shoes/", type: "5")
        for (path, bytes) in dataset.sorted(by: { $0.key < $1.key }) { tar.add("shoes/" + path, bytes) }
        tar.add("__MACOSX/shoes/._1.jpg", Array("resource fork".utf8))
        tar.add(".DS_Store", Array("finder".utf8))
        return (tar.finished, dataset)
    }()

    /// Extracts `archive` into `root/name` as an upload is, calling `afterStep` between the steps.
    func extract(_ archive: [UInt8], into root: URL, name: String = "shoes", unwrapping: (String) -> Bool = { _ in true },
                 afterStep: (ArchiveExtractor.Step) -> Void = { _ in }) throws -> [ArchiveExtractor.Entry] {
        let file = root.deletingLastPathComponent().appendingPathComponent("upload-\(UUID().uuidString).tar")
        try Data(archive).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try ArchiveExtractor.extract(file: file, range: nil, to: root.appendingPathComponent(name),
                                            limits: ArchiveLimits(), unwrapping: unwrapping, afterStep: afterStep)
    }

    /// A crash is simulated by copying the datasets folder at each step, exactly as the disk would be found after the
    /// process died there; start-up cleanup then runs on the copy. (The old route renamed the extracted dataset into
    /// place first and unwrapped it afterwards, move–remove–move through `.unwrap-*`: a crash in between left a
    /// dataset folder with no classes, or the classes only in `.unwrap-*`, which start-up deleted.)
    @Test func aCrashAtAnyStepLeavesNoDatasetOrTheCompleteOne() throws {
        let work = try tempDir()
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.appendingPathComponent("datasets")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var crashes: [(step: ArchiveExtractor.Step, disk: URL)] = []
        _ = try extract(Self.wrapped.archive, into: root, afterStep: { step in
            let disk = work.appendingPathComponent("crash-\(crashes.count)-after-\(step)")
            do {
                try FileManager.default.copyItem(at: root, to: disk)
                crashes.append((step, disk))
            } catch {
                Issue.record("cannot copy the datasets folder after \(step): \(error)")
            }
        })
        #expect(crashes.map(\.step) == ArchiveExtractor.Step.allCases)
        for (step, disk) in crashes {
            ArchiveExtractor.removeLeftovers(in: disk)  // the next start-up
            let left = try FileManager.default.contentsOfDirectory(atPath: disk.path)
            #expect(left.isEmpty || left == ["shoes"], "after \(step): \(left)")
            if left == ["shoes"] {
                #expect(try tree(disk.appendingPathComponent("shoes")) == Self.wrapped.dataset, "after \(step)")
            }
        }
        // Before the rename there is no dataset; from the rename on it is whole.
        let found = crashes.map { FileManager.default.fileExists(atPath: $0.disk.appendingPathComponent("shoes").path) }
        #expect(found == [false, true, true])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["shoes"])
        #expect(try tree(root.appendingPathComponent("shoes")) == Self.wrapped.dataset)
    }

    @Test func onlyASingleTopFolderTheCallerAcceptsIsUnwrapped() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        var offered: [String] = []
        let entries = try extract(Self.wrapped.archive, into: root) { offered.append($0); return true }
        #expect(offered == ["shoes"])  // `.DS_Store` and `__MACOSX` do not count
        #expect(entries.map(\.path).contains("shoes/train/boots/1.jpg"))  // paths as in the archive
        #expect(try tree(root.appendingPathComponent("shoes")) == Self.wrapped.dataset)

        // Declined (a lone `train/`, say): extracted as it is.
        _ = try extract(Self.wrapped.archive, into: root, name: "kept") { _ in false }
        #expect(try tree(root.appendingPathComponent("kept")).keys.sorted()
                == [".DS_Store", "__MACOSX/shoes/._1.jpg"] + Self.wrapped.dataset.keys.map { "shoes/" + $0 }.sorted())

        // Two top folders, or a single top file: nothing to unwrap, and the caller is not asked.
        var two = TarWriter()
        two.add("cats/1.jpg", Array("c".utf8))
        two.add("dogs/2.jpg", Array("d".utf8))
        var file = TarWriter()
        file.add("1.jpg", Array("x".utf8))
        offered = []
        _ = try extract(two.finished, into: root, name: "two") { offered.append($0); return true }
        _ = try extract(file.finished, into: root, name: "file") { offered.append($0); return true }
        #expect(offered.isEmpty)
        #expect(try tree(root.appendingPathComponent("two")).keys.sorted() == ["cats/1.jpg", "dogs/2.jpg"])
        #expect(try tree(root.appendingPathComponent("file")).keys.sorted() == ["1.jpg"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["file", "kept", "shoes", "two"])
    }

    @Test func startUpCleanupRemovesStagingOnly() throws {
        let root = try tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        for name in [".upload-1/tree/cats", ".upload-2", "cats", ".hidden"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        ArchiveExtractor.removeLeftovers(in: root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == [".hidden", "cats"])
    }
}
