import Foundation
import SequentHTTP
import SequentNN
import SequentStore

/// The Open Inference Protocol v2 REST routes (KServe, Triton): health, server and model metadata, readiness and
/// `infer`. A model is named as on Sequent's own routes, by id or by job name (its newest model); its one version
/// is its id. Errors are the protocol's `{"error": "message"}`.
extension HTTPApp {
    /// The server's name and version in `GET /v2`.
    static let serverName = "sequent"
    static let serverVersion = "0.1.0"

    func registerInferenceProtocolRoutes(predict: PredictService, uploadLimit: Int) {
        let logger = self.logger, service = self.service
        /// A v2 route: its answers as JSON, its errors as `{"error": …}`.
        func v2(_ method: String, _ pattern: String, bodyLimit: Int? = nil,
                _ body: @escaping @Sendable (HTTPRequest, [String: String]) throws -> HTTPResponse) {
            router.add(method, pattern, bodyLimit: bodyLimit) { request, p in
                do { return try body(request, p) } catch {
                    return HTTPApp.tfServingErrorResponse(error, requestID: request.requestID, logger: logger,
                                                          context: "\(request.method) \(request.path)")
                }
            }
        }
        @Sendable func json(_ value: JSONValue) -> HTTPResponse { HTTPResponse.json(bytes: Array(value.serialized().utf8)) }

        v2("GET", "/v2/health/live") { _, _ in json(["live": true]) }
        v2("GET", "/v2/health/ready") { _, _ in
            // Ready when the store answers: a model can then be found and loaded.
            _ = try service.store.queuedCount()
            return json(["ready": true])
        }
        v2("GET", "/v2") { _, _ in
            json(["name": .string(HTTPApp.serverName), "version": .string(HTTPApp.serverVersion),
                  "extensions": ["binary_tensor_data", "classification"]])
        }
        for suffix in ["", "/versions/{version}"] {
            v2("GET", "/v2/models/{name}" + suffix) { _, p in
                let model = try HTTPApp.inferenceModel(predict, name: p["name"]!, version: p["version"])
                return json(HTTPApp.inferenceMetadata(model, name: p["name"]!))
            }
            v2("GET", "/v2/models/{name}" + suffix + "/ready") { _, p in
                let model = try HTTPApp.inferenceModel(predict, name: p["name"]!, version: p["version"])
                return json(["name": .string(p["name"]!), "versions": [.string(model.id)], "ready": true])
            }
            v2("POST", "/v2/models/{name}" + suffix + "/infer", bodyLimit: uploadLimit) { request, p in
                let model = try HTTPApp.inferenceModel(predict, name: p["name"]!, version: p["version"])
                return try HTTPApp.infer(request, name: p["name"]!, model: model, predict: predict)
            }
        }
    }

    /// The model `name` names (an id or a job name), and when a version is given, that version: the id of a
    /// model of that name.
    static func inferenceModel(_ predict: PredictService, name: String, version: String?) throws -> LoadedModel {
        guard let version else { return try predict.model(name) }
        guard let record = try predict.store.model(id: version), record.id == name || record.name == name else {
            throw ServiceError(404, "not_found", "model \"\(name)\" has no version \"\(version)\" (its versions are model ids)")
        }
        return try predict.model(record.id)
    }

    /// `GET /v2/models/{name}`: the input and outputs with their datatypes and shapes, -1 for the batch.
    static func inferenceMetadata(_ model: LoadedModel, name: String) -> JSONValue {
        let width = model.model.outputWidth
        return ["name": .string(name), "versions": [.string(model.id)], "platform": "sequent",
                "inputs": [["name": .string(InferenceProtocol.inputName), "datatype": "FP32",
                            "shape": .ints([-1] + model.model.inputShape)]],
                "outputs": .array(InferenceProtocol.outputNames.map {
                    ["name": .string($0), "datatype": "FP32", "shape": .ints([-1, width])]
                })]
    }

    /// `POST /v2/models/{name}/infer`.
    static func infer(_ request: HTTPRequest, name: String, model: LoadedModel, predict: PredictService) throws
        -> HTTPResponse
    {
        let parsed = try InferenceProtocol.parse(request.body, headerLength: request.header(InferenceProtocol.headerLengthField),
                                                 inputShape: model.model.inputShape)
        let size = model.model.inputCount, width = model.model.outputWidth
        let samples = (0..<parsed.n).map { Array(parsed.values[($0 * size)..<(($0 + 1) * size)]) }
        let outputs = predict.outputs(samples, model: model)
        let probabilities = outputs.map { model.probabilities($0) }
        let tensors = parsed.outputs.map { o -> InferenceProtocol.OutputTensor in
            if o.classification > 0 {
                // A one-unit model's probability is of class 1: both classes are ranked.
                let labels = model.isBinary && model.classNames.count < 2 ? ["class 0", "class 1"] : model.classNames
                let k = min(o.classification, model.isBinary ? 2 : width)
                let strings = probabilities.flatMap { p in
                    InferenceProtocol.classification(model.isBinary ? [1 - p[0], p[0]] : p, k: k, labels: labels)
                }
                return .init(name: o.name, shape: [parsed.n, k], floats: [], strings: strings, binary: o.binary)
            }
            let floats = o.name == "output" ? outputs.flatMap { $0 } : probabilities.flatMap { $0.map { Float($0) } }
            return .init(name: o.name, shape: [parsed.n, width], floats: floats, strings: nil, binary: o.binary)
        }
        let parts = InferenceProtocol.response(modelName: name, version: model.id, id: parsed.id, outputs: tensors)
        var response = HTTPResponse.json(bytes: parts.body)
        if let length = parts.headerLength {
            response.headers["Content-Type"] = "application/octet-stream"
            response.headers["Inference-Header-Content-Length"] = String(length)
        }
        return response
    }
}
