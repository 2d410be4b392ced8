import Foundation
import SequentData
import SequentHTTP
import SequentNN
import SequentStore

/// Every module's errors as the API answers them. This is the one place that decides an error's status and what
/// the client is told; the route wrappers (`HTTPApp.errorResponse`) render the result.
extension ServiceError {
    /// What a 5xx body says in place of the error's own text, which may name files or carry the OS's wording.
    public static let internalMessage = "internal error"

    /// Maps `error` to the status and user-facing message the API answers with. Errors written for clients
    /// (configuration, parse, multipart, image and archive errors) keep their text; file-system and database
    /// failures become 503/507 when retrying later can help, and anything else is a 500 "internal error".
    public init(from error: any Error) {
        switch error {
        case let e as ServiceError:
            self = e
        case let e as ConfigError:
            self.init(400, "invalid_request", e.message, field: e.field.isEmpty ? nil : e.field)
        case let e as HTTPParseError:
            self.init(e.status, Self.code(forStatus: e.status), e.message)
        case let e as MultipartError:
            self.init(400, "invalid_multipart", e.message)
        case let e as ImageDecodingError:
            self.init(image: e, part: nil)
        case let e as ArchiveError:
            self.init(archive: e, of: "class folders")
        case is IDX.Error:
            // Its own text names the server's dataset directory.
            self.init(503, "dataset_unavailable",
                      "Fashion-MNIST is not installed on the server or cannot be read; ask the operator to install it")
        case let e as SQLiteError:
            self.init(sqlite: e)
        case let e as FileWriteError where e.isDiskFull:
            self = .diskFull()
        case let e as ArtifactError where e.isDiskFull:
            self = .diskFull()
        case let e as CocoaError where e.code == .fileWriteOutOfSpace:
            self = .diskFull()
        case let e as POSIXError where e.code == .ENOSPC || e.code == .EDQUOT:
            self = .diskFull()
        default:
            self.init(500, "internal", Self.internalMessage)
        }
    }

    /// An image that could not be decoded; `part` names the upload (form part, `body`, `instances[3]`).
    /// An uploaded archive's refusal; `contents` says what the archive should hold ("class folders", "images").
    public init(archive e: ArchiveError, of contents: String) {
        if e.outOfSpace {
            self = .diskFull("no space left on the server to extract the archive; upload it again once space has been freed")
        } else if e.unsupportedFormat {
            self.init(415, "unsupported_archive", "\(e.description); send a zip, tar or tar.gz of \(contents)",
                      field: "file")
        } else {
            self.init(400, "invalid_archive", e.description, field: "file")
        }
    }

    public init(image e: ImageDecodingError, part: String?) {
        let message = part.map { "\($0): \(e.message)" } ?? e.message
        switch e.kind {
        case .unsupportedFormat: self.init(415, "unsupported_image", message, field: part)
        case .tooLarge: self.init(413, "image_too_large", message, field: part)
        case .empty, .corrupt: self.init(400, "invalid_image", message, field: part)
        }
    }

    init(sqlite e: SQLiteError) {
        switch e.code {
        // SQLITE_BUSY, SQLITE_LOCKED: another writer held the database past the busy timeout.
        case 5, 6: self.init(503, "unavailable", "the server's database is busy; try again shortly")
        // SQLITE_FULL
        case 13: self = .diskFull()
        default: self.init(500, "internal", Self.internalMessage)
        }
    }

    /// 507: the disk filled up. The request may be fine and succeed later, so the body says so, without paths.
    static func diskFull(_ message: String = "the server's disk is full; try again once space has been freed")
        -> ServiceError
    {
        ServiceError(507, "insufficient_storage", message)
    }

    /// Whether the client is told only "internal error": a 5xx that is not one of the deliberate, user-facing
    /// ones (501 unsupported transfer coding, 503 busy or unavailable, 505 HTTP version, 507 disk full).
    public var isInternal: Bool { status >= 500 && ![501, 503, 505, 507].contains(status) }

    /// The error as the client sees it: an internal one reduced to "internal error", everything else as is.
    public var exposed: ServiceError {
        isInternal ? ServiceError(status, "internal", Self.internalMessage) : self
    }

    /// The stable `code` of an error the server or router produced with only a status and a message.
    public static func code(forStatus status: Int) -> String {
        switch status {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 408: "request_timeout"
        case 411: "length_required"
        case 413: "payload_too_large"
        case 414: "uri_too_long"
        case 415: "unsupported_media_type"
        case 431: "headers_too_large"
        case 501: "not_implemented"
        case 503: "unavailable"
        case 505: "http_version_not_supported"
        case 507: "insufficient_storage"
        case 500...: "internal"
        default: "error"
        }
    }
}
