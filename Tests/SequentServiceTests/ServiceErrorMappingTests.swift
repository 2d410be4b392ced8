import Foundation
import Testing
@testable import SequentData
@testable import SequentHTTP
@testable import SequentNN
@testable import SequentService
@testable import SequentStore

/// `ServiceError(from:)`: every module's errors get a status, a stable code and a message fit for a client.
@Suite struct ServiceErrorMappingTests {
    @Test func clientErrorsKeepTheirTextAndGetTheirStatus() {
        let config = ServiceError(from: ConfigError(field: "model.layers[2].units", detail: "must be > 0, got 0"))
        #expect(config.status == 400 && config.code == "invalid_request")
        #expect(config.message == "model.layers[2].units must be > 0, got 0" && config.field == "model.layers[2].units")

        let parse = ServiceError(from: HTTPParseError(status: 413, "body exceeds 1024 bytes"))
        #expect(parse.status == 413 && parse.code == "payload_too_large" && parse.message == "body exceeds 1024 bytes")

        let multipart = ServiceError(from: MultipartError("multipart body has no closing boundary"))
        #expect(multipart.status == 400 && multipart.code == "invalid_multipart")

        let archive = ServiceError(from: ArchiveError("cats/../../x.png: '..' in a path is not allowed"))
        #expect(archive.status == 400 && archive.code == "invalid_archive" && archive.field == "file")
        #expect(archive.message.contains("'..' in a path"))

        let own = ServiceError(409, "job_finished", "job j_1 already succeeded")
        #expect(ServiceError(from: own).status == 409 && ServiceError(from: own).message == own.message)
    }

    @Test func imageErrorsNameThePartAndDistinguishTheirKind() {
        let big = ServiceError(image: ImageDecodingError(.tooLarge(pixels: 10, limit: 5), "the image is too large"), part: "a.png")
        #expect(big.status == 413 && big.code == "image_too_large" && big.message == "a.png: the image is too large")
        #expect(big.field == "a.png")
        let gif = ServiceError(from: ImageDecodingError(.unsupportedFormat(.unknown), "not a JPEG or PNG"))
        #expect(gif.status == 415 && gif.code == "unsupported_image" && gif.field == nil)
        let corrupt = ServiceError(from: ImageDecodingError(.corrupt, "the PNG data is damaged"))
        #expect(corrupt.status == 400 && corrupt.code == "invalid_image")
    }

    @Test func fullDisksAndBusyDatabasesSayWhatToDoWithoutPaths() {
        let cases: [any Error] = [
            ArchiveError("/srv/data/datasets/.upload-1/x.png: No space left on device", outOfSpace: true),
            CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: "/srv/data/models/m_1/model.weights.safetensors"]),
            POSIXError(.ENOSPC),
            SQLiteError(code: 13, message: "database or disk is full"),
        ]
        for error in cases {
            let e = ServiceError(from: error)
            #expect(e.status == 507 && e.code == "insufficient_storage", "\(error)")
            #expect(!e.isInternal && !e.message.contains("/") && !e.message.contains("Domain="), "\(e.message)")
        }
        let busy = ServiceError(from: SQLiteError(code: 5, message: "database is locked"))
        #expect(busy.status == 503 && busy.code == "unavailable")
        let fashion = ServiceError(from: IDX.Error(description: "Fashion-MNIST file t10k-images-idx3-ubyte.gz not found in /usr/share/x"))
        #expect(fashion.status == 503 && fashion.code == "dataset_unavailable" && !fashion.message.contains("/"))
    }

    @Test func everythingElseIsAnInternalErrorThatHidesItsText() {
        struct Unexpected: Error {}
        let cases: [any Error] = [
            Unexpected(),
            CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: "/tmp/secret/config.json"]),
            POSIXError(.EACCES),
            SQLiteError(code: 11, message: "database disk image is malformed"),
            TrainingError("could not rename /tmp/a to /tmp/b"),
            ServiceError(500, "model_unavailable", "model m_1 cannot be loaded: /srv/models/m_1 is missing"),
        ]
        for error in cases {
            let e = ServiceError(from: error)
            #expect(e.status == 500 && e.isInternal, "\(error)")
            #expect(e.exposed.code == "internal" && e.exposed.message == "internal error", "\(error)")
        }
        // Deliberate 5xx keep their words; only the unexpected are reduced.
        #expect(ServiceError(503, "queue_full", "try again later").exposed.message == "try again later")
        #expect(ServiceError(from: HTTPParseError(status: 505, "HTTP version not supported")).exposed.code == "http_version_not_supported")
    }
}
