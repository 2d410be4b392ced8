import Foundation
import SequentData
import SequentHTTP
import SequentNN

/// `POST /v1/models/{id}/predict` (Sequent's form: multipart, raw image or JSON instances) and
/// `POST /v1/models/{id}:predict` (TF Serving's REST form).
extension HTTPApp {
    /// Field names accepted for file parts when a part has no filename.
    static let filePartNames: Set<String> = ["image", "images", "file", "files", "data"]
    /// `?top_k=`: the length of `top` (capped at the class count).
    static let topKRange = 1...10_000

    /// Reads a request's inputs, whatever form they came in.
    static func predictInputs(_ request: HTTPRequest) throws -> [PredictInput] {
        let type = (request.header("content-type") ?? "").lowercased()
        if type.hasPrefix("multipart/form-data") {
            let boundary = try Multipart.boundary(fromContentType: request.header("content-type") ?? "")
            let parts = try Multipart.parse(request.body, boundary: boundary, maxParts: 256)
            let files = parts.filter { $0.filename != nil || filePartNames.contains($0.name ?? "") }
            guard !files.isEmpty else {
                throw ServiceError(400, "no_image", "the form has no file part: send images as parts named image, file or data (curl -F image=@photo.jpg)")
            }
            return files.enumerated().map { i, part in
                .image(name: part.filename ?? part.name ?? "part \(i + 1)", bytes: part.body)
            }
        }
        if type.hasPrefix("application/json") || (type.isEmpty && request.body.first == UInt8(ascii: "{")) {
            return try jsonInputs(request.body)
        }
        if type.hasPrefix("image/") || type.hasPrefix("application/octet-stream") || type.isEmpty {
            guard !request.body.isEmpty else { throw ServiceError(400, "no_image", "the request body is empty") }
            return [.image(name: "body", bytes: request.body)]
        }
        throw ServiceError(415, "unsupported_media_type", "send multipart/form-data, image/jpeg, image/png or application/json, not \(type)")
    }

    /// `{"instances": [...]}` (or TF Serving's columnar `{"inputs": [...]}`): each instance is a nested array of
    /// numbers in the model's input shape, or `{"b64": "<base64 JPEG/PNG>"}`.
    static func jsonInputs(_ body: [UInt8]) throws -> [PredictInput] {
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: body) } catch let e as ConfigError {
            throw ServiceError(400, "invalid_json", "the request body \(e.detail)")
        }
        guard let instances = (value["instances"] ?? value["inputs"])?.arrayValue else {
            throw ServiceError(400, "invalid_json", "the body must be {\"instances\": [...]}", field: "instances")
        }
        guard !instances.isEmpty else { throw ServiceError(400, "invalid_json", "instances is empty", field: "instances") }
        guard instances.count <= 1024 else {
            throw ServiceError(413, "too_many_instances", "\(instances.count) instances, at most 1024 per request", field: "instances")
        }
        return try instances.enumerated().map { i, item in
            let name = "instances[\(i)]"
            if let b64 = item["b64"]?.stringValue {
                guard let data = Base64.decode(b64) else {
                    throw ServiceError(400, "invalid_instance", "\(name).b64 is not valid base64", field: name + ".b64")
                }
                return .image(name: name, bytes: data)
            }
            var values: [Float] = []
            func flatten(_ v: JSONValue) throws {
                if let d = v.doubleValue { values.append(Float(d)); return }
                guard let a = v.arrayValue else {
                    throw ServiceError(400, "invalid_instance", "\(name) must be numbers (nested in the input shape) or {\"b64\": …}, found \(v.brief)", field: name)
                }
                for x in a { try flatten(x) }
            }
            try flatten(item)
            return .tensor(name: name, values: values)
        }
    }

    /// `?top_k=` (default 5).
    static func topKQuery(_ query: [String: String]) throws -> Int {
        guard let s = query["top_k"] else { return 5 }
        guard let k = Int(s), HTTPApp.topKRange.contains(k) else {
            throw ServiceError(400, "invalid_query", "top_k must be an integer in \(HTTPApp.topKRange.lowerBound)...\(HTTPApp.topKRange.upperBound), got \"\(s)\"", field: "top_k")
        }
        return k
    }

    /// A boolean query parameter: `true`/`false` (or `1`/`0`), `def` when absent.
    static func boolQuery(_ query: [String: String], _ key: String, default def: Bool = false) throws -> Bool {
        guard let s = query[key] else { return def }
        switch s.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw ServiceError(400, "invalid_query", "\(key) must be true or false, got \"\(s)\"", field: key)
        }
    }

    func registerPredictRoutes(predict: PredictService, uploadLimit: Int) {
        route("POST", "/v1/models/{id}/predict", bodyLimit: uploadLimit) { request, p in
            let topK = try HTTPApp.topKQuery(request.query)
            let invert = try DashboardAPI.invertQuery(request.query)
            // The dashboard shows each image as the model saw it: sent with the prediction, the upload is decoded
            // once rather than a second time by /preprocess.
            let includeInput = try HTTPApp.boolQuery(request.query, "include_input")
            let model = try predict.model(p["id"]!)
            let inputs = try HTTPApp.predictInputs(request)
            let prepared = try inputs.map { try predict.prepared($0, for: model, invert: invert) }
            let outputs = predict.outputs(prepared.map(\.values), model: model)
            var predictions: [JSONValue] = []
            for (i, output) in outputs.enumerated() {
                var prediction = PredictService.prediction(output, name: DashboardAPI.name(inputs[i]), model: model, topK: topK)
                if includeInput, case .object(var o) = prediction {
                    o["model_input"] = try DashboardAPI.modelInput(prepared[i], model: model)
                    prediction = .object(o)
                }
                predictions.append(prediction)
            }
            return APIResult(200, ["model_id": .string(model.id), "predictions": .array(predictions)])
        }
        registerBatchPredictRoute(predict: predict)
        // TF Serving: errors are {"error": "message"}; `predictions` are the raw output vectors (what TF Serving
        // answers for the same Keras model, logits included), `probabilities` the same rows as probabilities.
        let logger = self.logger
        router.add("POST", "/v1/models/{id}:predict", bodyLimit: uploadLimit) { request, p in
            do {
                let model = try predict.model(p["id"]!)
                let inputs = try HTTPApp.jsonInputs(request.body)
                let tensors = try inputs.map { try predict.prepare($0, for: model, invert: .auto) }
                let outputs = predict.outputs(tensors, model: model)
                let rows: [JSONValue] = outputs.map { .array($0.map { .number(Double($0)) }) }
                let probabilities: [JSONValue] = outputs.map { .array(model.probabilities($0).map { .number($0) }) }
                let body: JSONValue = ["predictions": .array(rows), "probabilities": .array(probabilities)]
                return HTTPResponse.json(bytes: Array(body.serialized().utf8))
            } catch {
                return HTTPApp.tfServingErrorResponse(error, requestID: request.requestID, logger: logger,
                                                      context: "POST \(request.path)")
            }
        }
    }
}
