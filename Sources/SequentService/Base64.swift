/// Base64 decoding of the `{"b64": …}` images in predict requests.
///
/// Foundation's `Data(base64Encoded:options:)` took longer than the JPEG decode of a 5 MB photo it carried; this
/// decodes straight from the string's UTF-8 into bytes with one table lookup per character. It accepts what
/// Foundation does with `.ignoreUnknownCharacters`: characters outside the standard alphabet (line breaks, spaces)
/// are skipped, and the data ends at the first `=`, which must complete the last group of four. Skipping line
/// breaks is why this is not swift-extras-base64: its decoder refuses them (its README lists ignoring line breaks
/// as not done), and clients send them (Python's `base64.encodebytes`, MIME's 76-column lines).
enum Base64 {
    /// The decoded bytes, or nil when the text is not base64 (a dangling character, missing padding, or `=`
    /// before any data).
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    static func decode(_ utf8: UnsafeRawBufferPointer) -> [UInt8]? {
        var failed = false
        let bytes = table.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: utf8.count / 4 * 3 + 3) { out, initialized in
                var group: UInt32 = 0, pending = 0, written = 0, padding = 0
                for c in utf8 {
                    if c == UInt8(ascii: "=") { padding += 1; continue }
                    let v = table[Int(c)]
                    if v == 0xFF { continue }
                    if padding > 0 { break }  // data ends at the padding (Foundation ignores what follows it)
                    group = group << 6 | UInt32(v)
                    pending += 1
                    if pending == 4 {
                        out[written] = UInt8(truncatingIfNeeded: group >> 16)
                        out[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                        out[written + 2] = UInt8(truncatingIfNeeded: group)
                        written += 3
                        group = 0
                        pending = 0
                    }
                }
                switch pending {
                case 0: failed = padding > 0 && written == 0
                case 2 where padding >= 2:
                    out[written] = UInt8(truncatingIfNeeded: group >> 4)
                    written += 1
                case 3 where padding >= 1:
                    out[written] = UInt8(truncatingIfNeeded: group >> 10)
                    out[written + 1] = UInt8(truncatingIfNeeded: group >> 2)
                    written += 2
                default: failed = true
                }
                initialized = written
            }
        }
        return failed ? nil : bytes
    }

    /// Sextet value of each byte; 0xFF for bytes outside the alphabet.
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            t[Int(c)] = UInt8(i)
        }
        return t
    }()
}
