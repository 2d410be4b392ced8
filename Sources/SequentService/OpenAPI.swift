import SequentNN
import SequentStore

/// The OpenAPI 3.1 description served at `/openapi.json`: every route with the parameters, bounds, bodies,
/// status codes and headers it is served with. Tests compare its operations with the router's routes both ways, and
/// `scripts/schemathesis.sh` checks a running server against it.
///
/// The document follows the configuration it describes: with a bearer token configured, the routes that change
/// state (submit, cancel, upload, delete) carry the `bearer` security requirement and their 401; without one they
/// are open and say so.
public enum OpenAPI {
    /// The request-target decoder refuses a `%00` (a NUL is never legitimate, and dangerous near C APIs): every
    /// free-text query parameter says so with a pattern, so a schema-valid request is never refused for it. (Path
    /// parameters are ids and names, which never hold one; a pattern there only slows schemathesis's generator.)
    static func withoutNUL(_ pathItem: JSONValue) -> JSONValue {
        guard case .object(var item) = pathItem else { return pathItem }
        for (method, op) in item {
            guard case .object(var o) = op, let params = o["parameters"]?.arrayValue else { continue }
            o["parameters"] = .array(params.map { param in
                guard case .object(var p) = param, p["in"] == "query", case .object(var schema)? = p["schema"],
                      schema["type"] == "string", schema["enum"] == nil, schema["pattern"] == nil else { return param }
                schema["pattern"] = "^[^\\u0000]*$"
                p["schema"] = .object(schema)
                return .object(p)
            })
            item[method] = .object(o)
        }
        return .object(item)
    }

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func json(_ schema: JSONValue, _ description: String, headers: [String: JSONValue]? = nil,
                     links: [String: JSONValue]? = nil) -> JSONValue {
        var r: [String: JSONValue] = ["description": .string(description),
                                      "content": ["application/json": ["schema": schema]]]
        if let headers { r["headers"] = .object(headers) }
        if let links { r["links"] = .object(links) }
        return .object(r)
    }

    static func error(_ description: String) -> JSONValue { json(ref("Error"), description) }
    static func tfError(_ description: String) -> JSONValue { json(ref("TFServingError"), description) }

    /// `Location` of a created resource.
    static let locationHeader: [String: JSONValue] = [
        "Location": ["required": true, "description": "Path of the created resource", "schema": ["type": "string"]],
    ]

    static func idParam(_ what: String) -> JSONValue {
        ["name": "id", "in": "path", "required": true, "schema": ["type": "string", "minLength": 1],
         "description": .string("\(what) id")]
    }

    /// Dataset names as `HTTPApp.checkDatasetName` accepts them.
    static let datasetNameSchema: JSONValue = ["type": "string", "pattern": .string(HTTPApp.datasetNamePattern)]

    static func query(_ name: String, _ schema: JSONValue, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "query", "required": false, "schema": schema, "description": .string(description)]
    }

    /// An integer query parameter with the bounds the handler enforces (out of range is 400).
    static func intQuery(_ name: String, _ range: ClosedRange<Int>, default def: Int?, _ description: String)
        -> JSONValue {
        var schema: [String: JSONValue] = ["type": "integer", "minimum": .number(Double(range.lowerBound)),
                                           "maximum": .number(Double(range.upperBound))]
        if let def { schema["default"] = .number(Double(def)) }
        return query(name, .object(schema), description)
    }

    static func enumQuery(_ name: String, _ values: [String], default def: String, _ description: String) -> JSONValue {
        query(name, ["type": "string", "enum": .array(values.map { .string($0) }), "default": .string(def)],
              description)
    }

    /// The fields of a model import (multipart fields or query parameters).
    static let importFieldProperties: [String: JSONValue] = [
        "name": ["type": "string", "minLength": 1, "maxLength": 100, "description": "The model's name (default: the Keras model's)"],
        "class_names": ["type": "string", "description": "Comma-separated, or a JSON list; one per output unit (2 for one sigmoid unit)"],
        "rescale": ["type": "string", "description": "Pixel scale: a number or a fraction like 1/255"],
        "interpolation": ["type": "string", "enum": ["bilinear", "nearest", "area"]],
        "background": ["type": "string", "enum": ["dark", "light"], "description": "The training images' background, for inversion"],
    ]
    static var importFieldQueries: [JSONValue] {
        importFieldProperties.sorted { $0.key < $1.key }.map { query($0.key, $0.value, "As the multipart field") }
    }

    /// `format` of the History and metrics routes.
    static let formatQuery = enumQuery("format", ["json", "csv"], default: "json", "json, or csv to download")

    static let invertQuery = enumQuery("invert", ["auto", "true", "false"], default: "auto",
                                       "Invert uploads whose background differs from the training data's (auto), always or never")

    /// A link from a response to the operation `operationID`, filling `parameter` from `expression`.
    static func link(_ operationID: String, _ parameter: String, _ expression: String) -> JSONValue {
        ["operationId": .string(operationID), "parameters": [parameter: .string(expression)]]
    }

    /// The request forms of predict, preprocess and feature-maps; `several` says whether a form may carry many files.
    static func imageBody(several: Bool) -> JSONValue {
        let file: JSONValue = ["type": "string", "format": "binary", "description": "JPEG or PNG, recognised by its bytes"]
        let part: JSONValue = several ? ["type": "array", "items": file] : file
        return ["required": true, "content": [
            "multipart/form-data": ["schema": ["type": "object", "properties": ["image": part]]],
            "image/jpeg": ["schema": ["type": "string", "format": "binary"]],
            "image/png": ["schema": ["type": "string", "format": "binary"]],
            "application/octet-stream": ["schema": ["type": "string", "format": "binary", "description": "JPEG or PNG"]],
            "application/json": ["schema": ref("Instances")]]]
    }

    /// The statuses every image route shares.
    static let imageErrors: [String: JSONValue] = [
        "400": error("Bad query parameter, or an image or instance that cannot be read (the error names the part)"),
        "404": error("No model with this id or job name"),
        "413": error("Body larger than max_upload_bytes, an image above max_image_pixels, or more than 1024 instances"),
        "415": error("Unsupported Content-Type or image format"),
    ]

    /// The whole document; `tokenRequired` when the server is configured with a bearer token.
    public static func document(tokenRequired: Bool) -> JSONValue {
        /// An operation; `secured` ones need the token when one is configured.
        func op(_ id: String, _ summary: String, params: [JSONValue] = [], body: JSONValue? = nil,
                description: String? = nil, responses: [String: JSONValue], secured: Bool = false) -> JSONValue {
            var responses = responses
            var o: [String: JSONValue] = ["operationId": .string(id), "summary": .string(summary)]
            if let description { o["description"] = .string(description) }
            if !params.isEmpty { o["parameters"] = .array(params) }
            if let body { o["requestBody"] = body }
            if secured && tokenRequired {
                o["security"] = [["bearer": []]]
                responses["401"] = ["description": "Missing or wrong bearer token",
                                    "headers": ["WWW-Authenticate": ["required": true, "schema": ["type": "string"]]],
                                    "content": ["application/json": ["schema": ref("Error")]]]
            }
            o["responses"] = .object(responses)
            return .object(o)
        }
        func staticFile(_ id: String, _ summary: String, _ type: String) -> JSONValue {
            op(id, summary, responses: [
                "200": ["description": .string(summary), "headers": ["ETag": ["required": true, "schema": ["type": "string"]]],
                        "content": .object([type: ["schema": ["type": "string"]]])],
                "304": ["description": "Not modified (If-None-Match matched the ETag)"],
                "404": error("The file is missing from Public/")])
        }
        let jobID = "$response.body#/id"
        let jobLinks: [String: JSONValue] = [
            "GetJob": link("getJob", "id", jobID), "GetJobEpochs": link("getJobEpochs", "id", jobID),
            "GetJobMetrics": link("getJobMetrics", "id", jobID), "GetJobEvents": link("getJobEvents", "id", jobID),
            "CancelJob": link("cancelJob", "id", jobID),
        ]
        let firstJob = "$response.body#/jobs/0/id", firstModel = "$response.body#/models/0/id"
        let created = json(ref("Job"), "Queued; Location points at the job", headers: locationHeader, links: jobLinks)
        let cancelled = json(ref("Job"), "Cancellation accepted: cancelling until the worker stops, then cancelled",
                             links: ["GetJob": link("getJob", "id", jobID)])
        let jobList = json(["type": "object", "required": ["jobs", "next_cursor"], "properties": [
            "jobs": ["type": "array", "items": ref("Job")],
            "next_cursor": ["type": ["string", "null"], "description": "cursor of the next page; null on the last"]]],
                           "A page of jobs",
                           links: ["GetJob": link("getJob", "id", firstJob), "CancelJob": link("cancelJob", "id", firstJob),
                                   "GetJobEpochs": link("getJobEpochs", "id", firstJob)])
        let modelList = json(["type": "object", "required": ["models"],
                              "properties": ["models": ["type": "array", "items": ref("Model")]]], "Models, newest first",
                             links: ["GetModel": link("getModel", "id", firstModel), "Predict": link("predict", "id", firstModel),
                                     "TFServingPredict": link("tfServingPredict", "id", firstModel)])
        let datasetCreated = json(ref("Dataset"), "The dataset's classes and counts", headers: locationHeader,
                                  links: ["DeleteDataset": link("deleteDataset", "name", "$response.body#/name")])
        let jobNotFound = error("No job with this id")

        var paths: [String: JSONValue] = [
            "/": ["get": staticFile("dashboard", "The dashboard (Public/index.html)", "text/html")],
            "/js/{module}.js": ["get": op("dashboardModule", "One of the dashboard's ES modules (Public/js/<module>.js)",
                params: [["name": "module", "in": "path", "required": true,
                          "schema": ["type": "string", "pattern": .string(DashboardFiles.modulePattern)]]],
                responses: [
                    "200": ["description": "The module", "headers": ["ETag": ["required": true, "schema": ["type": "string"]]],
                            "content": ["text/javascript": ["schema": ["type": "string"]]]],
                    "304": ["description": "Not modified (If-None-Match matched the ETag)"],
                    "404": error("No such module in Public/js/")])],
            "/style.css": ["get": staticFile("dashboardStyle", "The dashboard's style sheet (Public/style.css)", "text/css")],
            "/healthz": ["get": op("health", "Liveness check", responses: [
                "200": json(["type": "object", "required": ["status"], "properties": ["status": ["const": "ok"]]], "OK")])],
            "/openapi.json": ["get": op("openAPI", "This document", responses: [
                "200": json(["type": "object"], "OpenAPI 3.1 document")])],
            "/metrics": ["get": op("metrics", "Prometheus metrics (text exposition format)", responses: [
                "200": ["description": "Metrics", "content": ["text/plain": ["schema": ["type": "string"]]]]])],
            "/v1/recipes": ["get": op("recipes", "Seed job specs from config/jobs", responses: [
                "200": json(["type": "object", "required": ["recipes"], "properties": ["recipes": ["type": "array", "items": [
                    "type": "object", "properties": ["name": ["type": "string"], "spec": ["type": "object"]]]]]], "Recipes")])],
            "/v1/datasets": [
                "get": op("listDatasets", "Datasets the server can train on: built-in and uploaded, with class names and counts", responses: [
                    "200": json(["type": "object", "required": ["datasets"],
                                 "properties": ["datasets": ["type": "array", "items": ref("Dataset")]]], "Datasets")]),
                "post": op("uploadDataset", "Upload a zip, tar or tar.gz of class folders (optionally under train/ and validation/)",
                    params: [query("name", datasetNameSchema, "Dataset name (for a raw, non-multipart body)")],
                    body: ["required": true, "content": [
                        "multipart/form-data": ["schema": ["type": "object", "required": ["file"], "properties": [
                            "name": datasetNameSchema,
                            "file": ["type": "string", "format": "binary", "description": "zip, tar or tar.gz"]]]],
                        "application/zip": ["schema": ["type": "string", "format": "binary"]],
                        "application/gzip": ["schema": ["type": "string", "format": "binary", "description": "tar.gz (also application/x-gzip)"]],
                        "application/x-tar": ["schema": ["type": "string", "format": "binary"]],
                        "application/octet-stream": ["schema": ["type": "string", "format": "binary", "description": "zip, tar or tar.gz"]]]],
                    description: "The format is recognised by its bytes, whatever the Content-Type. The body is streamed to "
                        + "disk (chunked uploads too) and checked entry by entry: no absolute paths, '..', links, "
                        + "devices or FIFOs, bounded entry count, size and compression ratio; a refused archive "
                        + "leaves nothing behind.",
                    responses: [
                        "201": datasetCreated,
                        "400": error("No name, a bad name, no file part, or an archive that is not a dataset of class folders"),
                        "409": error("A dataset of this name exists (fashion_mnist is built in)"),
                        "413": error("Body larger than max_dataset_bytes"),
                        "415": error("Unsupported Content-Type, or bytes that are not a zip, tar or tar.gz"),
                        "507": error("No space left to extract the dataset")],
                    secured: true),
            ],
            "/v1/datasets/{name}": ["delete": op("deleteDataset", "Remove an uploaded dataset no queued or running job uses",
                params: [["name": "name", "in": "path", "required": true, "schema": datasetNameSchema]],
                responses: [
                    "200": json(["type": "object", "required": ["deleted"], "properties": ["deleted": ["type": "string"]]], "Deleted"),
                    "400": error("Not a valid dataset name"), "404": error("No uploaded dataset of this name"),
                    "409": error("A queued or running job uses the dataset, or it is the built-in fashion_mnist")],
                secured: true)],
            "/v1/datasets/fashion_mnist/samples": ["get": op("fashionMNISTSamples", "Fashion-MNIST images with their labels, as 28×28 grayscale PNGs",
                params: [intQuery("offset", 0...Int(Int32.max), default: 0, "Index of the first sample; past the end gives an empty page"),
                         intQuery("count", 1...DashboardAPI.maxSampleCount, default: 24, "How many"),
                         enumQuery("split", ["train", "test"], default: "train", "Which split")],
                responses: ["200": json(ref("Samples"), "Samples"), "400": error("Bad query parameter"),
                            "503": error("Fashion-MNIST is not installed on the server")])],
            "/v1/jobs": [
                "post": op("submitJob", "Submit a training job",
                    body: ["required": true, "content": ["application/json": ["schema": ref("JobSpec"), "example": jobSpecExample]]],
                    description: "The whole spec is validated before the job is queued; errors name the field. The schema "
                        + "gives the spec's shape: that the layers fit together and the data matches the model is "
                        + "checked by the server (400).",
                    responses: [
                        "201": created,
                        "400": error("Invalid JSON or job spec (the error names the field)"),
                        "413": error("Body larger than 1 MiB"),
                        "415": error("Not sent as JSON"),
                        "422": error("The model's parameter count or activation memory is above the configured limits"),
                        "429": error("The queue is full (max_queued_jobs)")],
                    secured: true),
                "get": op("listJobs", "List jobs, newest first", params: [
                    query("state", ["type": "string", "enum": .array(JobState.allCases.map { .string($0.rawValue) })],
                          "Only jobs in this state"),
                    query("name", ["type": "string"], "Only jobs of exactly this name"),
                    query("dataset", ["type": "string"], "Only jobs training on this dataset (its name or folder)"),
                    query("q", ["type": "string"], "Only jobs whose name or note contains this, ignoring case"),
                    intQuery("limit", API.jobPageLimit, default: 50, "Page size"),
                    intQuery("cursor", API.cursorRange, default: nil, "next_cursor of the previous page")],
                    responses: ["200": jobList, "400": error("Bad query parameter")]),
            ],
            "/v1/jobs/{id}": [
                "get": op("getJob", "One job", params: [idParam("Job")], responses: [
                    "200": json(ref("Job"), "The job"), "404": jobNotFound]),
                "delete": op("deleteJob", "Delete a queued or finished job with its epochs, step metrics and checkpoints (its model stays)",
                    params: [idParam("Job")], responses: [
                        "204": ["description": "Deleted (a queued job is cancelled by it)"], "404": jobNotFound,
                        "409": error("A worker holds the job (running or cancelling)")],
                    secured: true),
                "patch": op("patchJob", "Set or clear the job's note",
                    params: [idParam("Job")],
                    body: ["required": true, "content": ["application/json": ["schema": [
                        "type": "object", "required": ["note"], "additionalProperties": false, "properties": [
                            "note": ["type": ["string", "null"], "maxLength": .number(Double(TrainingService.maxNoteLength))]]]]]],
                    responses: [
                        "200": json(ref("Job"), "The job with its note"),
                        "400": error("Not JSON, a field other than note, or a note over 4,000 characters"),
                        "404": jobNotFound, "413": error("Body larger than 64 KiB")],
                    secured: true),
            ],
            "/v1/jobs/{id}/epochs": ["get": op("getJobEpochs", "The job's History: one row per finished epoch",
                params: [idParam("Job"), formatQuery], responses: [
                "200": ["description": "Epochs",
                        "headers": ["Content-Disposition": ["required": false, "schema": ["type": "string"],
                                                            "description": "With format=csv: attachment; filename=\"<job name>-epochs.csv\""]],
                        "content": [
                            "application/json": ["schema": ["type": "object", "required": ["job_id", "epochs"], "properties": [
                                "job_id": ["type": "string"], "epochs": ["type": "array", "items": ref("Epoch")]]]],
                            "text/csv": ["schema": ["type": "string", "description":
                                "epoch, every log key sorted, learning_rate, duration_seconds, samples_per_second, finished_at"]]]],
                "400": error("Unknown format"), "404": jobNotFound])],
            "/v1/jobs/{id}/metrics": ["get": op("getJobMetrics", "Step-level series [[wall_time, step, value], …] per key, downsampled",
                params: [idParam("Job"), intQuery("max_points", API.maxPointsRange, default: 1000, "Points per series"),
                         query("key", ["type": "string"], "Only this series"), formatQuery],
                responses: [
                    "200": ["description": "Series",
                            "headers": ["Content-Disposition": ["required": false, "schema": ["type": "string"],
                                                                "description": "With format=csv: attachment; filename=\"<job name>-metrics.csv\""]],
                            "content": [
                                "application/json": ["schema": ["type": "object", "required": ["job_id", "series"], "properties": [
                                    "job_id": ["type": "string"],
                                    "series": ["type": "object", "additionalProperties": ["type": "array", "items": [
                                        "type": "array", "items": ["type": "number"], "minItems": 3, "maxItems": 3]]]]]],
                                "text/csv": ["schema": ["type": "string", "description":
                                    "key, step, wall_time, value: every point, not downsampled"]]]],
                    "400": error("Bad query parameter"), "404": jobNotFound])],
            "/v1/jobs/{id}/events": ["get": op("getJobEvents", "Server-Sent Events: progress, epoch and state while the job lives",
                params: [idParam("Job")], responses: [
                    "200": ["description": "Event stream; the first event is the job's state, the last (once it finishes) too",
                            "content": ["text/event-stream": ["schema": [
                                "type": "object", "required": ["event", "data"], "properties": [
                                    "event": ["type": "string", "enum": ["state", "progress", "epoch"]],
                                    "data": ["type": "string", "description": "JSON: the Job (state), its progress, or an Epoch row"],
                                    "id": ["type": "string"]]]]]],
                    "404": jobNotFound])],
            "/v1/jobs/{id}/cancel": ["post": op("cancelJob", "Cancel a job (cancelling until the worker stops, then cancelled)",
                params: [idParam("Job")], responses: [
                    "202": cancelled, "404": jobNotFound, "409": error("The job has already finished")],
                secured: true)],
            "/v1/models": [
                "get": op("listModels", "List trained and imported models", params: [
                    intQuery("limit", API.modelPageLimit, default: 100, "At most this many")],
                    responses: ["200": modelList, "400": error("Bad query parameter")]),
                "post": op("importModel", "Import a Keras 3 model: a .keras archive, or a Sequential's to_json() with its .weights.h5",
                    params: importFieldQueries,
                    body: ["required": true, "content": [
                        "multipart/form-data": ["schema": ["type": "object", "required": ["file"], "properties": .object(importFieldProperties.merging([
                            "file": ["type": "string", "format": "binary", "description": "model.keras, or model.to_json() (then weights is required)"],
                            "weights": ["type": "string", "format": "binary", "description": "The .weights.h5 of a model JSON"]]) { a, _ in a })]],
                        "application/zip": ["schema": ["type": "string", "format": "binary", "description": "A .keras archive"]],
                        "application/octet-stream": ["schema": ["type": "string", "format": "binary", "description": "A .keras archive"]]]],
                    description: "The model is refused with a 400 naming the layer when the engine cannot run it (Functional "
                        + "models, unknown layers or arguments, missing or misshapen weights). A leading Rescaling layer "
                        + "means the model takes raw pixels (rescale 1); otherwise images are scaled by 1/255 unless "
                        + "`rescale` says otherwise. The fields may also come as query parameters.",
                    responses: [
                        "201": json(ref("Model"), "The imported model", headers: locationHeader),
                        "400": error("No file, not a .keras or model JSON, a model the engine cannot run, or a bad field"),
                        "413": error("Body larger than max_dataset_bytes"),
                        "415": error("Unsupported Content-Type"),
                        "507": error("No space left to unpack the upload")],
                    secured: true),
            ],
            "/v1/models/{id}/export": ["get": op("exportModel",
                "Download the model: format=keras (a .keras that keras.models.load_model opens), onnx (opset 17, dynamic batch) or safetensors (Sequent's own files, zipped)",
                params: [idParam("Model (or job name)"),
                         enumQuery("format", ["keras", "onnx", "safetensors"], default: "keras", "The file format")],
                responses: ["200": ["description": "A zip archive (.keras or .zip), or an ONNX model",
                                    "headers": ["Content-Disposition": ["required": true, "schema": ["type": "string"]]],
                                    "content": ["application/zip": ["schema": ["type": "string", "format": "binary"]],
                                                "application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]],
                            "400": error("Not a format"),
                            "404": error("No model with this id or job name"),
                            "422": error("A layer ONNX cannot express (named)")])],
            "/v1/models/{id}": [
                "get": op("getModel", "One model, by id or by job name (its latest model)", params: [idParam("Model")], responses: [
                    "200": json(ref("Model"), "The model"), "404": error("No model with this id or job name")]),
                "delete": op("deleteModel", "Delete a model (by id) and its files; its job stays",
                    params: [idParam("Model")],
                    responses: ["204": ["description": "Deleted"], "404": error("No model with this id"),
                                "409": error("A queued or running job fine-tunes from this model")],
                    secured: true),
            ],
            "/v1/models/{id}/predict": ["post": op("predict",
                "Classify images: multipart (several files → one batch), a raw image/jpeg or image/png body, or JSON {\"instances\": [...]}",
                params: [idParam("Model (or job name)"),
                         intQuery("top_k", HTTPApp.topKRange, default: 5, "Length of top (capped at the class count)"),
                         invertQuery,
                         enumQuery("include_input", ["false", "true"], default: "false",
                                   "Add model_input to each prediction: the input as the model saw it, as /preprocess answers it")],
                body: imageBody(several: true),
                responses: imageErrors.merging(["200": json(ref("Predictions"), "One prediction per input")]) { $1 })],
            "/v1/models/{id}/predict/batch": ["post": op("predictBatch",
                "Classify every image of a zip, tar or tar.gz (extracted as a dataset upload is); files that are not "
                    + "images or do not decode are listed under errors",
                params: [idParam("Model (or job name)"),
                         enumQuery("format", ["json", "csv"], default: "json",
                                   "json, or csv: file,label,probability, one column per class, error (an attachment)"),
                         intQuery("top_k", HTTPApp.topKRange, default: 5, "Length of top (capped at the class count)"),
                         invertQuery],
                body: ["required": true, "content": [
                    "multipart/form-data": ["schema": ["type": "object", "properties": [
                        "file": ["type": "string", "format": "binary", "description": "zip, tar or tar.gz of images"]]]],
                    "application/zip": ["schema": ["type": "string", "format": "binary"]],
                    "application/gzip": ["schema": ["type": "string", "format": "binary", "description": "tar.gz"]],
                    "application/x-tar": ["schema": ["type": "string", "format": "binary"]]]],
                responses: [
                    "200": ["description": "One prediction per image file, one error per other file", "content": [
                        "application/json": ["schema": ref("BatchPredictions")],
                        "text/csv": ["schema": ["type": "string"]]]],
                    "400": error("Bad query parameter, an archive that cannot be read or refused (the error says why), or no files"),
                    "404": error("No model with this id or job name"),
                    "413": error("Body larger than max_upload_bytes"),
                    "415": error("Unsupported Content-Type, or the body is not a zip, tar or tar.gz"),
                    "507": error("No space left to extract the archive")])],
            "/v1/models/{id}:predict": ["post": op("tfServingPredict", "TF Serving REST predict: {\"instances\": [...]} of numbers or {\"b64\": …} images",
                params: [idParam("Model (or job name)")],
                body: ["required": true, "content": ["application/json": ["schema": ref("Instances")]]],
                responses: [
                    "200": json(["type": "object", "required": ["predictions", "probabilities"], "properties": [
                        "predictions": ["type": "array", "items": ["type": "array", "items": ["type": "number"]],
                                        "description": "The model's raw outputs (logits for a from_logits model), as TF Serving answers"],
                        "probabilities": ["type": "array", "items": ["type": "array", "items": ["type": "number"]],
                                          "description": "The outputs as probabilities: softmax (several units) or sigmoid (one unit) of a from_logits model's logits, otherwise equal to predictions"]]],
                               "Output vectors and probabilities"),
                    "400": tfError("Invalid JSON or instance"), "404": tfError("No model with this id or job name"),
                    "413": tfError("Body larger than max_upload_bytes, an image above max_image_pixels, or more than 1024 instances"),
                    "415": tfError("Unsupported image format")])],
            "/v1/models/{id}/preprocess": ["post": op("preprocess",
                "The uploaded images as the model sees them (colour mode, size, inversion) — same request forms as predict",
                params: [idParam("Model (or job name)"), invertQuery], body: imageBody(several: true),
                responses: imageErrors.merging(["200": json(["type": "object", "required": ["model_id", "inputs"], "properties": [
                    "model_id": ["type": "string"], "inputs": ["type": "array", "items": ref("InputImage")]]], "One image per input")]) { $1 })],
            "/v1/models/{id}/feature-maps": ["post": op("featureMaps",
                "Feature maps of each Conv2D and MaxPooling2D layer for the first uploaded image (every channel, "
                    + "or the first max_maps, each min-max normalised) — same request forms as predict",
                params: [idParam("Model (or job name)"), invertQuery,
                         query("max_maps", ["type": "integer", "minimum": 1, "maximum": .number(Double(DashboardAPI.maxMapsPerLayer))],
                               "Channels per layer at most (default: all)")],
                body: imageBody(several: false),
                responses: imageErrors.merging(["200": json(ref("FeatureMaps"), "Input and feature maps")]) { $1 })],
            "/v1/models/{id}/evaluation": ["get": op("getEvaluation",
                "The model's evaluation: the one stored with it (its validation split; Fashion-MNIST's test split), or "
                    + "one computed on request for `split` (kept in memory)",
                params: [idParam("Model (or job name)"),
                         query("split", ["type": "string", "enum": .array(ModelEvaluation.splits.map { .string($0) })],
                               "Evaluate this split of the model's dataset instead of the stored one")],
                responses: ["200": json(ref("Evaluation"), "The evaluation"),
                            "400": error("Not a split, or the model's dataset has none of this name"),
                            "404": error("No model with this id or job name"),
                            "409": error("The model's data can no longer be read")])],
            "/v1/models/{id}/evaluation/cells/{true}/{predicted}": ["get": op("getEvaluationCell",
                "The samples of one confusion-matrix cell (right and wrong alike), the most confident first, with "
                    + "their probabilities and images",
                params: [idParam("Model (or job name)"),
                         ["name": "true", "in": "path", "required": true, "description": "The true class's index (the row)",
                          "schema": ["type": "integer", "minimum": 0]],
                         ["name": "predicted", "in": "path", "required": true,
                          "description": "The predicted class's index (the column)", "schema": ["type": "integer", "minimum": 0]],
                         query("split", ["type": "string", "enum": .array(ModelEvaluation.splits.map { .string($0) })],
                               "The split (default: the stored evaluation's)"),
                         intQuery("offset", EvaluationService.cellOffsets, default: 0, "The first sample; past the end gives an empty page"),
                         intQuery("limit", EvaluationService.cellLimits, default: 48, "At most this many")],
                responses: ["200": json(ref("EvaluationCell"), "The cell's samples"),
                            "400": error("Not a split, the model's dataset has none of this name, or a bad offset or limit"),
                            "404": error("No model with this id or job name, or no class with this index"),
                            "409": error("The model's data can no longer be read")])],
            "/v1/models/{id}/evaluation/images/{split}/{index}.png": ["get": op("getEvaluationImage",
                "One sample of a split as the model saw it, as an 8-bit PNG (the `image` of `misclassified`)",
                params: [idParam("Model (or job name)"),
                         ["name": "split", "in": "path", "required": true,
                          "schema": ["type": "string", "enum": .array(ModelEvaluation.splits.map { .string($0) })]],
                         ["name": "index", "in": "path", "required": true, "schema": ["type": "integer", "minimum": 0]]],
                responses: ["200": ["description": "The image", "content": ["image/png": ["schema": ["type": "string", "format": "binary"]]]],
                            "400": error("Not a split, or the model's dataset has none of this name"),
                            "404": error("No model with this id, or no sample with this index"),
                            "409": error("The model's data can no longer be read")])],
        ]
        // Open Inference Protocol v2 (KServe, Triton). Its errors are {"error": "message"}, as TF Serving's.
        paths["/v2/health/live"] = ["get": op("v2Live", "v2: the server is live",
            responses: ["200": json(["type": "object", "properties": ["live": ["type": "boolean"]]], "Live")])]
        paths["/v2/health/ready"] = ["get": op("v2Ready", "v2: the server is ready (its store answers)",
            responses: ["200": json(["type": "object", "properties": ["ready": ["type": "boolean"]]], "Ready"),
                        "500": tfError("The store cannot be read")])]
        paths["/v2"] = ["get": op("v2ServerMetadata", "v2: server name, version and protocol extensions",
            responses: ["200": json(ref("V2ServerMetadata"), "Server metadata")])]
        let nameParam: JSONValue = ["name": "name", "in": "path", "required": true, "schema": ["type": "string", "minLength": 1],
                                    "description": "Model id, or job name (its newest model)"]
        let versionParam: JSONValue = ["name": "version", "in": "path", "required": true, "schema": ["type": "string", "minLength": 1],
                                       "description": "The model's id (its only version)"]
        for (suffix, idSuffix, params) in [("", "", [nameParam]), ("/versions/{version}", "Version", [nameParam, versionParam])] {
            let missing = tfError(suffix.isEmpty ? "No model of this name" : "No model of this name, or not this version")
            paths["/v2/models/{name}" + suffix] = ["get": op("v2ModelMetadata" + idSuffix,
                "v2: the model's input and outputs (FP32; -1 is the batch)", params: params,
                responses: ["200": json(ref("V2ModelMetadata"), "Model metadata"), "404": missing])]
            paths["/v2/models/{name}" + suffix + "/ready"] = ["get": op("v2ModelReady" + idSuffix, "v2: the model is ready",
                params: params,
                responses: ["200": json(["type": "object", "properties": ["name": ["type": "string"], "ready": ["type": "boolean"]]],
                                        "Ready"), "404": missing])]
            paths["/v2/models/{name}" + suffix + "/infer"] = ["post": op("v2Infer" + idSuffix,
                "v2: run the model on FP32 tensors (JSON data, or the binary tensor data extension)", params: params,
                body: ["required": true, "content": [
                    "application/json": ["schema": ref("V2InferRequest")],
                    "application/octet-stream": ["schema": ["type": "string", "format": "binary",
                        "description": "The JSON request, then the tensors' bytes; the header Inference-Header-Content-Length gives the JSON's length"]]]],
                responses: ["200": ["description": "Outputs: JSON, or JSON then binary data (Inference-Header-Content-Length)",
                                    "content": ["application/json": ["schema": ref("V2InferResponse")],
                                                "application/octet-stream": ["schema": ["type": "string", "format": "binary"]]]],
                            "400": tfError("The request does not fit the model (the error names the field)"),
                            "404": missing,
                            "413": tfError("Body larger than max_upload_bytes")])]
        }
        var components: [String: JSONValue] = ["schemas": .object(schemas)]
        if tokenRequired {
            components["securitySchemes"] = ["bearer": ["type": "http", "scheme": "bearer",
                                                        "description": "The token the server was started with (--token, SEQUENT_TOKEN)"]]
        }
        return [
            "openapi": "3.1.0",
            "info": ["title": "Sequent", "version": "0.1.0",
                     "description": "Train Keras-style Sequential models on the CPU, track them, and serve them."],
            "paths": .object(paths.mapValues(withoutNUL)),
            "components": .object(components),
        ]
    }

    /// A small spec that trains in seconds: the example schemathesis and readers start from.
    static let jobSpecExample: JSONValue = [
        "name": "example-dense",
        "dataset": ["name": "fashion_mnist", "validation": "test", "train_limit": 256, "test_limit": 64],
        "model": ["input_shape": [28, 28, 1], "layers": [["type": "Flatten"], ["type": "Dense", "units": 10, "activation": "softmax"]]],
        "compile": ["optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]],
        "fit": ["epochs": 1, "batch_size": 32],
    ]

    static let schemas: [String: JSONValue] = [
        "Instances": ["type": "object", "required": ["instances"], "properties": ["instances": [
            "type": "array", "minItems": 1, "maxItems": 1024, "items": [
                "oneOf": [["type": ["array", "number"], "description": "numbers, nested in the model's input shape"],
                          ["type": "object", "required": ["b64"], "properties": ["b64": ["type": "string", "description": "base64 JPEG or PNG"]]]]]]]],
        "Predictions": ["type": "object", "required": ["model_id", "predictions"], "properties": [
            "model_id": ["type": "string"], "predictions": ["type": "array", "items": [
                "type": "object", "properties": ["input": ["type": "string"], "label": ["type": "string"], "class_index": ["type": "integer"],
                                                 "probability": ["type": "number"], "top": ["type": "array"],
                                                 "model_input": ref("InputImage")]]]]],
        "BatchPredictions": ["type": "object", "required": ["model_id", "count", "predictions", "errors"], "properties": [
            "model_id": ["type": "string"], "count": ["type": "integer"],
            "predictions": ["type": "array", "items": [
                "type": "object", "properties": ["file": ["type": "string"], "label": ["type": "string"], "class_index": ["type": "integer"],
                                                 "probability": ["type": "number"], "top": ["type": "array"]]]],
            "errors": ["type": "array", "items": ["type": "object", "properties": [
                "file": ["type": "string"], "reason": ["type": "string"]]]]]],
        "Samples": ["type": "object", "properties": [
            "dataset": ["type": "string"], "split": ["type": "string"], "offset": ["type": "integer"], "count": ["type": "integer"],
            "total": ["type": "integer"], "class_names": ["type": "array", "items": ["type": "string"]],
            "samples": ["type": "array", "items": ["type": "object", "properties": [
                "index": ["type": "integer"], "label": ["type": "string"], "class_index": ["type": "integer"],
                "png_base64": ["type": "string", "description": "28×28 grayscale PNG, base64"]]]]]],
        "InputImage": ["type": "object", "properties": [
            "input": ["type": "string"], "width": ["type": "integer"], "height": ["type": "integer"], "channels": ["type": "integer"],
            "inverted": ["type": ["boolean", "null"]], "png_base64": ["type": "string"]]],
        "FeatureMaps": ["type": "object", "properties": [
            "model_id": ["type": "string"], "input_name": ["type": "string"],
            "input": ["type": "object", "properties": ["width": ["type": "integer"], "height": ["type": "integer"],
                                                       "channels": ["type": "integer"], "png_base64": ["type": "string"]]],
            "layers": ["type": "array", "items": ["type": "object", "properties": [
                "name": ["type": "string"], "type": ["type": "string"], "shape": ["type": "array", "items": ["type": "integer"]],
                "channels_shown": ["type": "integer"], "maps": ["type": "array", "items": ["type": "string", "description": "grayscale PNG, base64"]]]]],
            "prediction": ["type": "object"]]],
        "TFServingError": ["type": "object", "required": ["error"], "properties": ["error": ["type": "string"]]],
        "V2ServerMetadata": ["type": "object", "required": ["name", "version", "extensions"], "properties": [
            "name": ["type": "string"], "version": ["type": "string"], "extensions": ["type": "array", "items": ["type": "string"]]]],
        "V2Tensor": ["type": "object", "required": ["name", "datatype", "shape"], "properties": [
            "name": ["type": "string"], "datatype": ["type": "string"], "shape": ["type": "array", "items": ["type": "integer"]]]],
        "V2ModelMetadata": ["type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"], "properties": [
            "name": ["type": "string"], "versions": ["type": "array", "items": ["type": "string"]], "platform": ["type": "string"],
            "inputs": ["type": "array", "items": ref("V2Tensor")], "outputs": ["type": "array", "items": ref("V2Tensor")]]],
        "V2InferRequest": ["type": "object", "required": ["inputs"], "properties": [
            "id": ["type": "string"],
            "parameters": ["type": "object", "properties": ["binary_data_output": ["type": "boolean"]]],
            "inputs": ["type": "array", "minItems": 1, "maxItems": 1, "items": ["type": "object", "required": ["name", "shape", "datatype"], "properties": [
                "name": ["type": "string", "enum": ["input"]], "datatype": ["type": "string", "enum": ["FP32"]],
                "shape": ["type": "array", "items": ["type": "integer"], "description": "[N] + the model's input shape"],
                "data": ["type": "array", "description": "Numbers, flat or nested row-major"],
                "parameters": ["type": "object", "properties": ["binary_data_size": ["type": "integer"]]]]]],
            "outputs": ["type": "array", "items": ["type": "object", "required": ["name"], "properties": [
                "name": ["type": "string", "enum": ["output", "probabilities"]],
                "parameters": ["type": "object", "properties": [
                    "binary_data": ["type": "boolean"],
                    "classification": ["type": "integer", "minimum": 1,
                                       "description": "Return the top classes as BYTES \"probability:index:label\" strings"]]]]]]]],
        "V2InferResponse": ["type": "object", "required": ["model_name", "model_version", "outputs"], "properties": [
            "model_name": ["type": "string"], "model_version": ["type": "string"], "id": ["type": "string"],
            "outputs": ["type": "array", "items": ["type": "object", "properties": [
                "name": ["type": "string"], "datatype": ["type": "string"], "shape": ["type": "array", "items": ["type": "integer"]],
                "data": ["type": "array"], "parameters": ["type": "object"]]]]]],
        "Dataset": ["type": "object", "required": ["name", "builtin", "classes", "splits"], "properties": [
            "name": ["type": "string"], "builtin": ["type": "boolean"],
            "classes": ["type": "array", "items": ["type": "string"]], "splits": ["type": "object"]]],
        "Error": ["type": "object", "required": ["error"], "properties": ["error": ["type": "object", "required": ["code", "message"], "properties": [
            "code": ["type": "string"], "message": ["type": "string"], "field": ["type": "string"],
            "request_id": ["type": "string", "description": "On 5xx answers: the id the server's log has the detail under"]]]]],
        // null means "the default" throughout, as for an absent field.
        "JobSpec": ["type": "object", "required": ["model"], "additionalProperties": false, "properties": [
            "name": ["type": ["string", "null"], "minLength": 1, "maxLength": 100, "description": "letters, digits, spaces, '-', '_' or '.'; default job"],
            "dataset": ["type": ["object", "null"], "description": .string(
                "{name: fashion_mnist, validation, train_limit, test_limit, rescale} (the default) or an "
                + "image-folder dataset {directory, target_size, rescale, …}; rescale defaults to 1/255, or 1 (raw "
                + "pixels) when the model starts with a Rescaling layer")],
            "model": ["type": "object", "description": "{input_shape, layers} or Keras's model.to_json() output"],
            "compile": ["type": ["object", "null"], "properties": [
                "optimizer": ["type": ["string", "object", "null"]], "loss": ["type": ["string", "object", "null"]],
                "metrics": ["type": ["array", "null"], "items": ["type": ["string", "object"],
                    "description": "a name, {type, k | threshold, name} or Keras's {class_name, config}"]]]],
            "fit": ["type": ["object", "null"], "properties": [
                "epochs": ["type": ["integer", "null"], "minimum": 1, "maximum": 100_000],
                "batch_size": ["type": ["integer", "null"], "minimum": 1, "maximum": 65_536],
                "shuffle": ["type": ["boolean", "null"]], "seed": ["type": ["integer", "null"], "minimum": 0],
                "validation_split": ["type": ["number", "null"], "exclusiveMinimum": 0, "exclusiveMaximum": 1],
                "steps_per_epoch": ["type": ["integer", "null"], "minimum": 1],
                "validation_steps": ["type": ["integer", "null"], "minimum": 1],
                "validation_freq": ["type": ["integer", "array", "null"], "minimum": 1, "items": ["type": "integer", "minimum": 1],
                                    "description": "validate every N epochs, or after the listed 1-based epochs"],
                "class_weight": ["type": ["object", "null"], "additionalProperties": ["type": "number"],
                                 "description": "class index (as a string) → weight of its samples in the training loss"]]],
            "callbacks": ["type": ["array", "null"], "items": ["type": "object", "required": ["type"], "properties": [
                "type": ["type": "string", "enum": ["threshold_stop", "early_stopping", "reduce_lr_on_plateau",
                                                    "learning_rate_scheduler", "terminate_on_nan", "model_checkpoint"]],
                "schedule": ["type": "string", "maxLength": 1000, "description": .string(
                    "learning_rate_scheduler: a Python expression of epoch (0-based) and lr, e.g. "
                    + "\"1e-8 * 10**(epoch/20)\" or \"lr if epoch < 10 else lr * exp(-0.1)\"")]]]]]],
        "Job": ["type": "object", "required": ["id", "name", "state", "created_at"], "properties": [
            "id": ["type": "string"], "name": ["type": "string"],
            "state": ["type": "string", "enum": .array(JobState.allCases.map { .string($0.rawValue) })],
            "created_at": ["type": "string", "format": "date-time"], "started_at": ["type": ["string", "null"]],
            "finished_at": ["type": ["string", "null"]], "progress": ["type": ["object", "null"]], "metrics": ["type": "object"],
            "stop_reason": ["type": ["string", "null"]], "error": ["type": ["string", "null"]], "model_id": ["type": ["string", "null"]],
            "checkpoint_epoch": ["type": "integer"],
            "note": ["type": ["string", "null"], "description": "The user's note (PATCH /v1/jobs/{id})"],
            "worker": ["type": ["object", "null"], "description": "The worker holding the job while it is running or cancelling",
                       "required": ["id", "host", "pid"],
                       "properties": ["id": ["type": "string"], "host": ["type": "string"], "pid": ["type": "integer"]]],
            "warnings": ["type": ["array", "null"]], "spec": ["type": ["object", "null"]]]],
        "Epoch": ["type": "object", "properties": [
            "epoch": ["type": "integer"], "loss": ["type": "number"], "learning_rate": ["type": "number"],
            "duration_seconds": ["type": "number"], "samples_per_second": ["type": "number"], "finished_at": ["type": "string"]],
            "additionalProperties": ["type": "number"]],
        "Evaluation": ["type": "object",
                       "required": ["split", "samples", "accuracy", "classes", "confusion_matrix", "per_class", "misclassified"],
                       "properties": [
            "split": ["type": "string"], "samples": ["type": "integer"], "loss": ["type": ["number", "null"]],
            "accuracy": ["type": "number"], "classes": ["type": "array", "items": ["type": "string"]],
            "confusion_matrix": ["type": "array", "description": "Rows the true class, columns the predicted one",
                                 "items": ["type": "array", "items": ["type": "integer"]]],
            "per_class": ["type": "array", "items": ["type": "object", "properties": [
                "class": ["type": "string"], "precision": ["type": "number"], "recall": ["type": "number"],
                "f1": ["type": "number"], "support": ["type": "integer"]]]],
            "top_k_accuracy": ["type": "object", "additionalProperties": ["type": "number"]],
            "misclassified": ["type": "array", "description": "The most confidently wrong samples (at most 50)",
                              "items": ["type": "object", "properties": [
                "index": ["type": "integer"], "true_label": ["type": "string"], "predicted_label": ["type": "string"],
                "probability": ["type": "number"], "image": ["type": "string"]]]],
            "roc": ["type": "array", "description": "One-unit models: at most 200 points",
                    "items": ["type": "object", "properties": [
                        "fpr": ["type": "number"], "tpr": ["type": "number"],
                        "threshold": ["type": ["number", "null"],
                                      "description": "Positive when p ≥ threshold; null on the first point (none)"]]]],
            "auc": ["type": ["number", "null"]], "threshold_0_5": ["type": "object"],
            "seconds": ["type": "number"]]],
        "EvaluationCell": ["type": "object",
                           "required": ["split", "true", "predicted", "true_label", "predicted_label", "count", "samples"],
                           "properties": [
            "split": ["type": "string"], "true": ["type": "integer"], "predicted": ["type": "integer"],
            "true_label": ["type": "string"], "predicted_label": ["type": "string"],
            "count": ["type": "integer", "description": "Samples in the cell"], "offset": ["type": "integer"],
            "limit": ["type": "integer"],
            "samples": ["type": "array", "items": ["type": "object", "properties": [
                "index": ["type": "integer"], "probability": ["type": "number", "description": "Of the predicted class"],
                "image": ["type": "string"]]]]]],
        "Model": ["type": "object", "required": ["id", "job_id", "name", "created_at"], "properties": [
            "id": ["type": "string"], "job_id": ["type": "string"], "name": ["type": "string"], "created_at": ["type": "string"],
            "sha256": ["type": "string"], "class_names": ["type": "array", "items": ["type": "string"]],
            "input_shape": ["type": "array", "items": ["type": "integer"]], "preprocessing": ["type": "object"],
            "summary": ["type": "array"], "test_metrics": ["type": "object"], "final_metrics": ["type": "object"]]],
    ]
}
