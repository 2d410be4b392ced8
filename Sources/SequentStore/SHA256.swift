import CCrypto
import Foundation

/// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, for the digest recorded with every weights file and the
/// dashboard's ETags.
public enum SHA256 {
    /// Lower-case hex digest of `data`.
    public static func hex(_ data: Data) -> String {
        let hasher = Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// Lower-case hex digest of the file at `url`, read in pieces (a weights file need not fit in memory twice).
    public static func hex(contentsOf url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let hasher = Hasher()
        while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
            hasher.update(piece)
        }
        return hasher.finalizeHex()
    }

    /// A digest computed over pieces fed one after another: the same digest as of their concatenation.
    public final class Hasher {
        private let context: OpaquePointer

        /// A fresh SHA-256 computation.
        public init() {
            // Allocation and initialisation fail only when memory does, or when libcrypto lacks SHA-256 (a broken
            // installation): nothing a caller could recover from.
            guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
                fatalError("libcrypto cannot set up SHA-256")
            }
            self.context = context
        }

        deinit {
            EVP_MD_CTX_free(context)
        }

        /// Adds `bytes` to the message.
        public func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
            guard EVP_DigestUpdate(context, base, bytes.count) == 1 else { fatalError("EVP_DigestUpdate failed") }
        }

        /// Adds `data` to the message.
        public func update(_ data: Data) {
            data.withUnsafeBytes { update($0) }
        }

        /// The 32-byte digest of everything added. The hasher is spent afterwards: a further update is an error.
        public func finalize() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            guard EVP_DigestFinal_ex(context, &digest, &length) == 1, length == 32 else {
                fatalError("EVP_DigestFinal_ex failed")
            }
            return digest
        }

        /// `finalize()` as lower-case hex.
        public func finalizeHex() -> String {
            finalize().map { String(format: "%02x", $0) }.joined()
        }
    }
}
