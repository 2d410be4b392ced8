import CCrypto
import Foundation

/// SHA-256 through libcrypto, as SequentService's `SHA256` computes it (this module cannot depend on the service,
/// which will depend on it), for the digests artifacts are stored and checked with.
enum Digest {
    /// Lower-case hex SHA-256 of `data`.
    static func sha256Hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { raw -> Bool in
            // A zero-length message still needs a valid pointer.
            var empty: UInt8 = 0
            return withUnsafeMutablePointer(to: &empty) { fallback in
                EVP_Digest(raw.baseAddress ?? UnsafeRawPointer(fallback), raw.count, &digest, &length, EVP_sha256(), nil) == 1
            }
        }
        // EVP_Digest fails only when memory does or libcrypto lacks SHA-256: nothing a caller could recover from.
        guard ok, length == 32 else { fatalError("libcrypto cannot compute SHA-256") }
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
