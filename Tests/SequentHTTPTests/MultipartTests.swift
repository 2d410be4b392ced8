import Foundation
import Testing
@testable import SequentHTTP

/// multipart/form-data parsing: bytes in, parts (or an error message) out.
@Suite struct MultipartTests {
    /// The boundary curl uses (24 dashes and 16 hex digits).
    static let curlBoundary = "------------------------d74496d66958873e"

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func parse(_ text: String, boundary: String = "b", maxParts: Int = 64,
                      maxPartBytes: Int = .max) throws -> [MultipartPart] {
        try Multipart.parse(bytes(text), boundary: boundary, maxParts: maxParts, maxPartBytes: maxPartBytes)
    }

    /// The message `parse` fails with, or nil when it succeeds.
    static func failure(_ body: [UInt8], boundary: String = "b", maxParts: Int = 64, maxPartBytes: Int = .max,
                        maxHeaderBytes: Int = Multipart.maxPartHeaderBytes,
                        maxHeaderCount: Int = Multipart.maxPartHeaderCount) -> String? {
        do {
            _ = try Multipart.parse(body, boundary: boundary, maxParts: maxParts, maxPartBytes: maxPartBytes,
                                    maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
            return nil
        } catch {
            return error.message
        }
    }

    static func failure(_ text: String, boundary: String = "b", maxParts: Int = 64,
                        maxPartBytes: Int = .max) -> String? {
        failure(bytes(text), boundary: boundary, maxParts: maxParts, maxPartBytes: maxPartBytes)
    }

    static func boundaryFailure(_ contentType: String) -> String? {
        do {
            _ = try Multipart.boundary(fromContentType: contentType)
            return nil
        } catch {
            return (error as? MultipartError)?.message ?? "\(error)"
        }
    }

    /// A field for `serialize`.
    struct Field {
        var name: String
        var filename: String?
        var contentType: String?
        var body: [UInt8]
    }

    /// Writes parts the way curl does (quoted parameters, `"` and `\` escaped with a backslash).
    static func serialize(_ fields: [Field], boundary: String) -> [UInt8] {
        func quoted(_ s: String) -> String {
            "\"" + s.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
        }
        var out: [UInt8] = []
        for field in fields {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\(quoted(field.name))"
            if let filename = field.filename { head += "; filename=\(quoted(filename))" }
            head += "\r\n"
            if let contentType = field.contentType { head += "Content-Type: \(contentType)\r\n" }
            out += bytes(head + "\r\n") + field.body + bytes("\r\n")
        }
        return out + bytes("--\(boundary)--\r\n")
    }

    // MARK: - Content-Type

    @Test func boundaryFromContentType() throws {
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data; boundary=\(Self.curlBoundary)")
                == Self.curlBoundary)
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW")
                == "----WebKitFormBoundary7MA4YWxkTrZu0gW")
        // Quoted, with characters a token cannot hold, and escapes.
        #expect(try Multipart.boundary(fromContentType: #"multipart/form-data; boundary="a b:c=d;e""#) == "a b:c=d;e")
        #expect(try Multipart.boundary(fromContentType: #"multipart/form-data;boundary="x\"y\\z""#) == #"x"y\z"#)
        // Any order and case, other parameters, extra whitespace and empty parameters.
        #expect(try Multipart.boundary(fromContentType: "Multipart/Form-Data; charset=utf-8; BOUNDARY=AbC") == "AbC")
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data ;\tcharset=\"utf-8\" ; Boundary = x ;")
                == "x")
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data;; boundary=x;;") == "x")
        // The boundary is case-sensitive, so it is returned as sent.
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data; boundary=XyZ") == "XyZ")
        #expect(try Multipart.boundary(fromContentType: "multipart/form-data; boundary=" + String(repeating: "7", count: 70))
                == String(repeating: "7", count: 70))
    }

    @Test func badContentTypes() {
        #expect(Self.boundaryFailure("multipart/form-data") == "Content-Type multipart/form-data has no boundary parameter")
        #expect(Self.boundaryFailure("multipart/form-data; charset=utf-8")
                == "Content-Type multipart/form-data has no boundary parameter")
        #expect(Self.boundaryFailure("text/plain; boundary=x") == "Content-Type text/plain is not multipart/form-data")
        #expect(Self.boundaryFailure("multipart/mixed; boundary=x")
                == "Content-Type multipart/mixed is not multipart/form-data")
        #expect(Self.boundaryFailure("") == "Content-Type has no value before its parameters")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"\"") == "multipart boundary is empty")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=") == "Content-Type parameter boundary has no value")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=" + String(repeating: "x", count: 71))
                == "multipart boundary is 71 bytes long, the limit is 70")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"ab \"") == "multipart boundary ends in a space")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"a\u{1}b\"")
                == "multipart boundary contains a character that is not printable ASCII")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"é\"")
                == "multipart boundary contains a character that is not printable ASCII")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"abc") == "Content-Type has an unterminated quoted string")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=\"abc\"def")
                == "Content-Type has text after the quoted boundary parameter")
        #expect(Self.boundaryFailure("multipart/form-data; boundary") == "Content-Type has a malformed parameter")
        #expect(Self.boundaryFailure("multipart/form-data; boundary=a; Boundary=b")
                == "Content-Type has more than one boundary parameter")
    }

    // MARK: - Parts

    @Test func oneFilePart() throws {
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x0D, 0x0A, 0xFF, 0xD9]
        let body = Self.bytes("--\(Self.curlBoundary)\r\n"
                              + "Content-Disposition: form-data; name=\"image\"; filename=\"boot.jpg\"\r\n"
                              + "Content-Type: image/jpeg\r\n\r\n")
            + jpeg + Self.bytes("\r\n--\(Self.curlBoundary)--\r\n")
        let parts = try Multipart.parse(body, boundary: Self.curlBoundary)
        #expect(parts.count == 1)
        let part = try #require(parts.first)
        #expect(part.name == "image")
        #expect(part.filename == "boot.jpg")
        #expect(part.contentType == "image/jpeg")
        #expect(part.body == jpeg)
        #expect(part.headers.count == 2)
        #expect(part.headers["content-disposition"] == "form-data; name=\"image\"; filename=\"boot.jpg\"")
    }

    @Test func severalFilesAndFieldsKeepTheirOrder() throws {
        let fields = [
            Field(name: "image", filename: "boot.jpg", contentType: "image/jpeg", body: [0xFF, 0xD8, 1, 2, 0xFF, 0xD9]),
            Field(name: "label", body: Self.bytes("boot")),
            Field(name: "image", filename: "shoe.png", contentType: "image/png", body: [0x89] + Self.bytes("PNG\r\n\u{1A}\n")),
            Field(name: "image", filename: "sandal.png", contentType: "image/png", body: [0x89, 0x50]),
            Field(name: "notes", body: Self.bytes("line one\r\nline two\r\n")),
        ]
        let parts = try Multipart.parse(Self.serialize(fields, boundary: Self.curlBoundary), boundary: Self.curlBoundary)
        #expect(parts.map(\.name) == ["image", "label", "image", "image", "notes"])
        #expect(parts.map(\.filename) == ["boot.jpg", nil, "shoe.png", "sandal.png", nil])
        #expect(parts.map(\.contentType) == ["image/jpeg", nil, "image/png", "image/png", nil])
        #expect(parts.map(\.body) == fields.map(\.body))
        #expect(parts.filter { $0.name == "image" }.compactMap(\.filename) == ["boot.jpg", "shoe.png", "sandal.png"])
    }

    @Test func browserStyleBody() throws {
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
        let text = "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
            + "Content-Disposition: form-data; name=\"caption\"\r\n\r\n"
            + "Zürich ☀️\r\n"
            + "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
            + "Content-Disposition: form-data; name=\"image\"; filename=\"Straße 1.png\"\r\n"
            + "Content-Type: image/png\r\n\r\n"
            + "PNGDATA\r\n"
            + "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
            + "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n"
            + "\r\n"
            + "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n"
        let parts = try Self.parse(text, boundary: boundary)
        #expect(parts.count == 3)
        #expect(parts[0].name == "caption" && parts[0].filename == nil && parts[0].body == Self.bytes("Zürich ☀️"))
        #expect(parts[1].filename == "Straße 1.png" && parts[1].body == Self.bytes("PNGDATA"))
        #expect(parts[2].filename == "" && parts[2].body.isEmpty)
    }

    @Test func dispositionParameters() throws {
        func part(_ disposition: String) throws -> MultipartPart {
            try #require(try Self.parse("--b\r\nContent-Disposition: \(disposition)\r\n\r\nx\r\n--b--").first)
        }
        // Quoted, with escaped quotes and backslashes, and separators inside the quotes.
        #expect(try part(#"form-data; name="a \"quoted\" name"; filename="x;y=z.jpg""#).name == #"a "quoted" name"#)
        #expect(try part(#"form-data; name="a"; filename="x;y=z.jpg""#).filename == "x;y=z.jpg")
        #expect(try part(#"form-data; name="back\\slash""#).name == #"back\slash"#)
        // Other backslashes are kept, so an old browser's Windows path survives.
        #expect(try part(#"form-data; name="f"; filename="C:\photos\boot.jpg""#).filename == #"C:\photos\boot.jpg"#)
        // Unquoted values, case-insensitive names and type, any order, whitespace.
        let unquoted = try part("Form-Data;FILENAME=boot.jpg ;  Name = image")
        #expect(unquoted.name == "image" && unquoted.filename == "boot.jpg")
        #expect(try part("form-data; name=my field; filename=my photo.jpg").filename == "my photo.jpg")
        // RFC 5987 filename* takes precedence over filename, whichever comes first.
        let extended = try part(#"form-data; name="image"; filename="EUR rates.png"; filename*=UTF-8''%E2%82%AC%20rates.png"#)
        #expect(extended.filename == "€ rates.png")
        #expect(try part(#"form-data; filename*=utf-8'en'%C3%A9t%C3%A9.jpg; filename="ete.jpg"; name=x"#).filename
                == "été.jpg")
        #expect(try part("form-data; name=x; filename*=ISO-8859-1''%E9t%E9.jpg").filename == "été.jpg")
        #expect(try part("form-data; name=x; filename*=\"UTF-8''a%20b.jpg\"").filename == "a b.jpg")
        // No name at all is allowed (the part's name is just nil).
        let anonymous = try part("form-data")
        #expect(anonymous.name == nil && anonymous.filename == nil)
        #expect(try part(#"form-data; name="""#).name == "")
    }

    @Test func badDispositions() {
        func failure(_ disposition: String) -> String? {
            Self.failure("--b\r\nContent-Disposition: \(disposition)\r\n\r\nx\r\n--b--")
        }
        #expect(failure("attachment; filename=x") == "part 1 Content-Disposition is attachment, not form-data")
        #expect(failure("form-data; name=\"unterminated") == "part 1 Content-Disposition has an unterminated quoted string")
        #expect(failure("form-data; name=a; NAME=b") == "part 1 Content-Disposition has more than one name parameter")
        #expect(failure("form-data; name") == "part 1 Content-Disposition has a malformed parameter")
        #expect(failure("form-data; name=x; filename*=UTF-8''%zz.jpg")
                == "part 1 Content-Disposition has a malformed filename* parameter")
        #expect(failure("form-data; name=x; filename*=UTF-8''%FF.jpg")  // not UTF-8
                == "part 1 Content-Disposition has a malformed filename* parameter")
        #expect(failure("form-data; name=x; filename*=UTF-8''a%00.jpg")  // decodes to NUL
                == "part 1 Content-Disposition has a malformed filename* parameter")
        #expect(failure("form-data; name=x; filename*=KOI8-R''a.jpg")
                == "part 1 Content-Disposition has a malformed filename* parameter")
        #expect(failure("form-data; name=x; filename*=a.jpg")
                == "part 1 Content-Disposition has a malformed filename* parameter")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\nx\r\n--b--")
                == "part 1 has more than one Content-Disposition header")
    }

    @Test func delimiterOnlyCountsAtTheStartOfALine() throws {
        let content = "a--b in the middle\r\nx--b\r\n--bb is another boundary\r\n--b-- \tnot closing\r\n"
            + "--b-x\r\n--b\tX\r\n-b\r\n\r\n--\r\n--b\r"
        let parts = try Self.parse("--b\r\nContent-Disposition: form-data; name=t\r\n\r\n\(content)\r\n--b--\r\n")
        #expect(parts.count == 1)
        #expect(parts.first?.body == Self.bytes(content))
    }

    @Test func binaryBodyWithEveryByteValue() throws {
        var content: [UInt8] = []
        for _ in 0..<4 { content += (0...255).map { UInt8($0) } }
        content += Self.bytes("\r\n-\r\n--\r\n--c\r\n--bX\r\r\n\n\r") + [0, 0xFF, 13, 10, 0, 13]
        let boundary = "b"
        for tail: [UInt8] in [[], [13], [10], [13, 10], [13, 10, 13, 10], [0], [0xFF]] {
            let fields = [Field(name: "blob", filename: "blob.bin", contentType: "application/octet-stream",
                                body: content + tail),
                          Field(name: "after", body: Self.bytes("ok"))]
            let parts = try Multipart.parse(Self.serialize(fields, boundary: boundary), boundary: boundary)
            #expect(parts.map(\.body) == [content + tail, Self.bytes("ok")])
        }
    }

    @Test func transportPaddingAfterDelimiters() throws {
        let parts = try Self.parse("--b \t \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b\t\r\n"
                                   + "Content-Disposition: form-data; name=b\r\n\r\n2\r\n--b--  \r\n")
        #expect(parts.map(\.body) == [Self.bytes("1"), Self.bytes("2")])
    }

    @Test func preambleAndEpilogueAreIgnored() throws {
        let text = "This is the preamble.\r\n--b is not a delimiter here\r\nStill preamble.\r\n"
            + "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n"
            + "--b--\r\nThis is the epilogue.\r\n--b\r\nContent-Disposition: form-data; name=ignored\r\n\r\nZ\r\n--b--\r\n"
        let parts = try Self.parse(text)
        #expect(parts.map(\.name) == ["a"])
        #expect(parts.first?.body == Self.bytes("A"))
        // Closing delimiter at the very end, without a line end.
        #expect(try Self.parse("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--b--").count == 1)
    }

    @Test func bareLineFeedsInPartHeaders() throws {
        let parts = try Self.parse("--b\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\n"
                                   + "Content-Type: image/png\n\nPNG\nDATA\r\n--b\r\n"
                                   + "Content-Disposition: form-data; name=x\r\nX-Mixed: 1\n\r\nvalue\r\n--b--\n")
        #expect(parts.count == 2)
        #expect(parts[0].filename == "a.png" && parts[0].contentType == "image/png")
        // Only the delimiter's own CRLF is removed from the body; a bare LF before it is content.
        #expect(parts[0].body == Self.bytes("PNG\nDATA"))
        #expect(parts[1].headers["x-mixed"] == "1" && parts[1].body == Self.bytes("value"))
    }

    @Test func emptyPartBodies() throws {
        let parts = try Self.parse("--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n"
                                   + "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
                                   + "Content-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n")
        #expect(parts.count == 2)
        #expect(parts.allSatisfy { $0.body.isEmpty })
        #expect(parts[1].filename == "")
    }

    @Test func noPartsAtAll() throws {
        #expect(try Self.parse("--b--\r\n").isEmpty)
        #expect(try Self.parse("--b--").isEmpty)
        #expect(try Self.parse("preamble\r\n--b--\r\n").isEmpty)
        #expect(Self.failure("") == "multipart body does not contain the boundary --b")
        #expect(Self.failure("name=value&other=1") == "multipart body does not contain the boundary --b")
        #expect(Self.failure("--bX\r\n--b-\r\n") == "multipart body does not contain the boundary --b")
    }

    @Test func missingClosingBoundary() {
        let expected = "multipart body has no closing boundary --b--"
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n\r\ntruncated upl") == expected)
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--b\r\n") == expected)
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--b") == expected)
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--b--x") == expected)
        #expect(Self.failure("--b\r\n") == expected)
        #expect(Self.failure("--x\r\n\r\n\r\n--x", boundary: "x") == "multipart body has no closing boundary --x--")
    }

    @Test func partWithoutContentDisposition() {
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n"
                             + "--b\r\nContent-Type: text/plain\r\n\r\nB\r\n--b--")
                == "part 2 has no Content-Disposition header")
        #expect(Self.failure("--b\r\n\r\nbody without headers\r\n--b--") == "part 1 has no Content-Disposition header")
        // Empty content: a delimiter straight after the previous one.
        #expect(Self.failure("--b\r\n\r\n--b--") == "part 1 has no Content-Disposition header")
    }

    @Test func malformedPartHeaders() {
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\nno colon\r\n\r\nx\r\n--b--")
                == "part 1 has a header line without ':'")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\nno blank line\r\n--b--")
                == "part 1 headers are not followed by an empty line")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\n--b--")
                == "part 1 headers are not followed by an empty line")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--")
                == "part 1 has a folded header line")
        #expect(Self.failure("--b\r\nBad Name: 1\r\n\r\nx\r\n--b--") == "part 1 has an invalid header name")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\rb\r\n\r\nx\r\n--b--")
                == "part 1 header Content-Disposition contains a control character")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\nx\r\n--b--")
                == "part 1 has more than one Content-Type header")
    }

    @Test func partHeaderLimits() {
        let headers = "Content-Disposition: form-data; name=a\r\nX-1: 1\r\nX-2: 2\r\n\r\n"
        let body = Self.bytes("--b\r\n\(headers)x\r\n--b--")
        #expect(Self.failure(body, maxHeaderCount: 3) == nil)
        #expect(Self.failure(body, maxHeaderCount: 2) == "part 1 has more than 2 header fields")
        #expect(Self.failure(body, maxHeaderBytes: headers.utf8.count) == nil)
        #expect(Self.failure(body, maxHeaderBytes: headers.utf8.count - 1) == "part 1 headers are larger than \(headers.utf8.count - 1) bytes")
        // The default limit: a 20 KB header block is refused without scanning the whole body for a line end.
        let huge = Self.bytes("--b\r\nContent-Disposition: form-data; name=\"\(String(repeating: "n", count: 20_000))\"\r\n\r\nx\r\n--b--")
        #expect(Self.failure(huge) == "part 1 headers are larger than 16384 bytes")
    }

    @Test func partOverTheSizeLimitIsNamed() throws {
        let fields = [Field(name: "label", body: Self.bytes("small")),
                      Field(name: "image", filename: "big.jpg", contentType: "image/jpeg",
                            body: [UInt8](repeating: 0xAB, count: 12_000_000))]
        let body = Self.serialize(fields, boundary: Self.curlBoundary)
        #expect(Self.failure(body, boundary: Self.curlBoundary, maxPartBytes: 10_485_760)
                == "part \"image\" is 12000000 bytes, the limit is 10485760")
        #expect(try Multipart.parse(body, boundary: Self.curlBoundary, maxPartBytes: 12_000_000).count == 2)
        // A part without a name is identified by its position.
        #expect(Self.failure("--b\r\nContent-Disposition: form-data\r\n\r\n12345\r\n--b--", maxPartBytes: 4)
                == "part 1 is 5 bytes, the limit is 4")
        #expect(Self.failure("--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n12345\r\n--b--", maxPartBytes: 4)
                == "part \"a\\\"b\" is 5 bytes, the limit is 4")
    }

    @Test func tooManyParts() throws {
        let fields = (1...65).map { Field(name: "f\($0)", body: Self.bytes("\($0)")) }
        #expect(Self.failure(Self.serialize(fields, boundary: "b"))
                == "multipart body has more than 64 parts")
        #expect(try Multipart.parse(Self.serialize(Array(fields.prefix(64)), boundary: "b"), boundary: "b").count == 64)
        #expect(Self.failure(Self.serialize(Array(fields.prefix(3)), boundary: "b"), maxParts: 2)
                == "multipart body has more than 2 parts")
        #expect(try Multipart.parse(Self.serialize(Array(fields.prefix(3)), boundary: "b"), boundary: "b", maxParts: 3)
                .count == 3)
    }

    @Test func invalidBoundaryArgument() {
        #expect(Self.failure("--\r\n", boundary: "") == "multipart boundary is empty")
        #expect(Self.failure("x", boundary: String(repeating: "b", count: 71))
                == "multipart boundary is 71 bytes long, the limit is 70")
        #expect(Self.failure("x", boundary: "a\r\nb") == "multipart boundary contains a character that is not printable ASCII")
    }

    /// Random parts whose bodies are full of near-delimiters survive a serialize → parse round trip.
    @Test func randomRoundTrips() throws {
        var rng = MultipartTestRandom(seed: 42)
        let boundaries = ["b", "-", "--", "xyz", Self.curlBoundary, "----WebKitFormBoundaryAbC", "a b"]
        let alphabet: [[UInt8]] = [[13], [10], [13, 10], Self.bytes("-"), Self.bytes("--"), [0], [0xFF],
                                   Self.bytes("b"), Self.bytes("x"), Self.bytes(" "), Self.bytes("\t")]
        var exactRounds = 0
        for round in 0..<300 {
            let boundary = boundaries[round % boundaries.count]
            let dashBoundary = Self.bytes("--" + boundary)
            var fields: [Field] = []
            for index in 0..<Int(rng.next() % 5) {
                var body: [UInt8] = []
                for _ in 0..<Int(rng.next() % 40) {
                    body += rng.next() % 8 == 0 ? dashBoundary : alphabet[Int(rng.next() % UInt64(alphabet.count))]
                }
                let filename: String? = rng.next() % 2 == 0 ? nil : "f\"\\\(index).bin"
                fields.append(Field(name: "n\(index) \"q\"", filename: filename,
                                    contentType: filename == nil ? nil : "application/octet-stream", body: body))
            }
            let serialized = Self.serialize(fields, boundary: boundary)
            // A body containing `CRLF--boundary` (its first CRLF may be the one ending the part's headers) may
            // hold a real delimiter that ends its part early: that only must not crash. Otherwise the parts must
            // come back exactly (a delimiter cannot straddle a body's end: its only CR is its first byte).
            let containsDelimiter = fields.contains { field in
                let framed = [13, 10] + field.body
                return framed.indices.contains { framed[$0...].starts(with: [13, 10] + dashBoundary) }
            }
            if containsDelimiter {
                _ = try? Multipart.parse(serialized, boundary: boundary)
                continue
            }
            exactRounds += 1
            let parts = try Multipart.parse(serialized, boundary: boundary)
            #expect(parts.map(\.name) == fields.map(\.name))
            #expect(parts.map(\.filename) == fields.map(\.filename))
            #expect(parts.map(\.contentType) == fields.map(\.contentType))
            #expect(parts.map(\.body) == fields.map(\.body), "round \(round)")
        }
        #expect(exactRounds > 100)
    }

    // MARK: - Bodies in files (spooled uploads)

    /// Parses `body` as if it were a file read `window` bytes at a time: the parts' contents read back from their
    /// ranges, or the error message.
    static func windowedParse(_ body: [UInt8], boundary: String, window: Int) -> Result<[MultipartPart], MultipartError> {
        do {
            let parts = try Multipart.parse(size: body.count, boundary: boundary, maxParts: 64, window: window) { offset, buffer in
                let n = min(buffer.count, body.count - offset)
                if n > 0 { body.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) } }
                return n
            }
            return .success(parts.map {
                MultipartPart(name: $0.name, filename: $0.filename, contentType: $0.contentType, headers: $0.headers,
                              body: Array(body[$0.range]))
            })
        } catch {
            return .failure(error as? MultipartError ?? MultipartError("\(error)"))
        }
    }

    static func memoryParse(_ body: [UInt8], boundary: String) -> Result<[MultipartPart], MultipartError> {
        do {
            return .success(try Multipart.parse(body, boundary: boundary))
        } catch {
            return .failure(error as? MultipartError ?? MultipartError("\(error)"))
        }
    }

    /// Reading through a small window finds exactly what the in-memory parser finds — parts or error — whatever
    /// the window size, for bodies full of near-delimiters, padding, truncations and noise.
    @Test func windowedParseAgreesWithTheInMemoryParse() {
        var rng = MultipartTestRandom(seed: 9)
        let boundaries = ["b", "--", "xyz", Self.curlBoundary]
        let alphabet: [[UInt8]] = [[13], [10], [13, 10], Self.bytes("-"), Self.bytes("--"), [0], Self.bytes("b"),
                                   Self.bytes(" "), Self.bytes("\t"), Self.bytes("x")]
        for round in 0..<400 {
            let boundary = boundaries[round % boundaries.count]
            let dashBoundary = Self.bytes("--" + boundary)
            var fields: [Field] = []
            for index in 0..<Int(rng.next() % 4) {
                var body: [UInt8] = []
                for _ in 0..<Int(rng.next() % 60) {
                    switch rng.next() % 10 {
                    case 0: body += [13, 10] + dashBoundary + [UInt8](repeating: 32, count: Int(rng.next() % 12))
                    case 1: body += dashBoundary + Self.bytes("--")
                    default: body += alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    }
                }
                fields.append(Field(name: "n\(index)", filename: rng.next() % 2 == 0 ? nil : "f.bin", body: body))
            }
            var body = Self.serialize(fields, boundary: boundary)
            switch rng.next() % 4 {
            case 0: body = Array(body.prefix(Int(rng.next() % UInt64(body.count + 1))))  // truncated
            case 1: if !body.isEmpty { body[Int(rng.next() % UInt64(body.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default: break
            }
            let expected = Self.memoryParse(body, boundary: boundary)
            for window in [1, 19, 33, 64, 4096] {
                #expect(Self.windowedParse(body, boundary: boundary, window: window) == expected,
                        "round \(round), window \(window)")
            }
        }
        // Padding longer than the window, and delimiters at every offset around a window's end.
        let content = Self.bytes("\r\n--b") + [UInt8](repeating: 32, count: 300) + Self.bytes("X\r\n--b   ")
        for prefix in 0..<40 {
            let body = Self.bytes("--b\r\nContent-Disposition: form-data; name=x\r\n\r\n")
                + [UInt8](repeating: 120, count: prefix) + content + Self.bytes("\r\n--b-- \r\n")
            #expect(Self.windowedParse(body, boundary: "b", window: 64) == Self.memoryParse(body, boundary: "b"))
        }
    }

    @Test func partsOfASpooledFileAreRangesOfIt() throws {
        var rng = MultipartTestRandom(seed: 3)
        var archive = [UInt8](repeating: 0, count: 3 << 20)
        for i in archive.indices { archive[i] = UInt8(truncatingIfNeeded: rng.next()) }
        let fields = [Field(name: "name", body: Self.bytes("shoes")),
                      Field(name: "file", filename: "shoes.tar.gz", contentType: "application/gzip", body: archive)]
        let body = Self.serialize(fields, boundary: Self.curlBoundary)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("multipart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(body).write(to: url)
        let parts = try Multipart.parse(contentsOf: url, boundary: Self.curlBoundary)
        #expect(parts.map(\.name) == ["name", "file"])
        #expect(parts[1].filename == "shoes.tar.gz" && parts[1].contentType == "application/gzip")
        #expect(parts[1].range.count == archive.count)
        let same = body[parts[1].range].elementsEqual(archive)
        #expect(same)
        #expect(try Multipart.read(parts[0], from: url, limit: 64) == Self.bytes("shoes"))
        #expect(throws: MultipartError("part \"file\" is 3145728 bytes, the limit is 64")) {
            try Multipart.read(parts[1], from: url, limit: 64)
        }
        // Errors are the in-memory parser's.
        try Data(body.dropLast(20)).write(to: url)
        #expect(throws: MultipartError("multipart body has no closing boundary --\(Self.curlBoundary)--")) {
            try Multipart.parse(contentsOf: url, boundary: Self.curlBoundary)
        }
    }

    // MARK: - Performance sanity (no timing asserts: the machine may be loaded)

    @Test func twentyMegabytePart() throws {
        var rng = MultipartTestRandom(seed: 7)
        var block = [UInt8](repeating: 0, count: 1 << 16)
        for i in stride(from: 0, to: block.count, by: 8) {
            withUnsafeBytes(of: rng.next()) { block.replaceSubrange(i..<(i + 8), with: $0) }
        }
        var content: [UInt8] = []
        content.reserveCapacity(20 << 20)
        for _ in 0..<320 { content += block }
        let fields = [Field(name: "image", filename: "big.jpg", contentType: "image/jpeg", body: content),
                      Field(name: "label", body: Self.bytes("big"))]
        let body = Self.serialize(fields, boundary: Self.curlBoundary)
        let clock = ContinuousClock()
        var parts: [MultipartPart] = []
        let elapsed = try clock.measure {
            parts = try Multipart.parse(body, boundary: Self.curlBoundary, maxPartBytes: 32 << 20)
        }
        print("Multipart.parse of a \(body.count)-byte body: \(elapsed)")
        #expect(parts.count == 2)
        #expect(parts.first?.body.count == content.count)
        #expect(parts.first?.body == content)
    }

    @Test func adversarialBodiesStayLinear() throws {
        let boundary = "abcdefghijklmnop"
        let count = 4 << 20
        let inputs: [(String, [UInt8])] = [
            ("all CR", [UInt8](repeating: 13, count: count)),
            ("CRLF", Array([UInt8]([13, 10]).repeated(count / 2))),
            ("near-miss delimiters", Self.bytes("\r\n--abcdefghijklmno").repeated(count / 19)),
            ("false delimiters", Self.bytes("\r\n--abcdefghijklmnopX").repeated(count / 21)),
            ("padding then garbage", Self.bytes("\r\n--abcdefghijklmnop") + [UInt8](repeating: 32, count: count) + [88]),
            ("LF only", [UInt8](repeating: 10, count: count)),
        ]
        let clock = ContinuousClock()
        for (label, content) in inputs {
            let body = Self.bytes("--\(boundary)\r\nContent-Disposition: form-data; name=x\r\n\r\n") + content
                + Self.bytes("\r\n--\(boundary)--\r\n")
            var parts: [MultipartPart] = []
            let elapsed = try clock.measure { parts = try Multipart.parse(body, boundary: boundary) }
            print("Multipart.parse, \(label), \(body.count) bytes: \(elapsed)")
            #expect(parts.first?.body == content, "\(label)")
            // As the preamble (no parts found at all) and as a header block that never ends.
            _ = clock.measure { _ = Self.failure(content + Self.bytes("\r\n--\(boundary)--"), boundary: boundary) }
            _ = Self.failure(Self.bytes("--\(boundary)\r\n") + content, boundary: boundary)
        }
    }
}

/// A tiny seeded generator so random tests are reproducible.
private struct MultipartTestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private extension Array where Element == UInt8 {
    func repeated(_ times: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count * times)
        for _ in 0..<times { out += self }
        return out
    }
}

private extension String {
    /// Replaces a scalar (not a Character: `"` followed by a combining mark is one Character but still a quote).
    func replacingAll(_ target: Unicode.Scalar, with replacement: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar == target { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}
