import Foundation
@testable import SequentData

extension ArchiveExtractor {
    /// Extracts `bytes` the way an upload is extracted: from a file (written next to nothing else, then removed).
    static func extract(_ bytes: [UInt8], to destination: URL, limits: ArchiveLimits = ArchiveLimits(),
                        unwrapping: (String) -> Bool = { _ in false }) throws -> [Entry] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("archive-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try extract(file: file, to: destination, limits: limits, unwrapping: unwrapping)
    }
}
