import SequentNN

/// The OpenAPI 3.1 description served at `/openapi.json`. A test compares its paths with the router's routes,
/// so a route cannot ship undocumented.
public enum OpenAPI {
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func json(_ schema: JSONValue, _ description: String) -> JSONValue {
        ["description": .string(description), "content": ["application/json": ["schema": schema]]]
    }

    static let errorResponse: JSONValue = json(ref("Error"), "Error")

    static func idParam(_ what: String) -> JSONValue {
        ["name": "id", "in": "path", "required": true, "schema": ["type": "string"], "description": .string("\(what) id")]
    }

    static func query(_ name: String, _ type: String, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "query", "required": false, "schema": ["type": .string(type)],
         "description": .string(description)]
    }

    static func op(_ summary: String, params: [JSONValue] = [], body: JSONValue? = nil, responses: [String: JSONValue],
                   secured: Bool = false) -> JSONValue {
        var o: [String: JSONValue] = ["summary": .string(summary), "responses": .object(responses)]
        if !params.isEmpty { o["parameters"] = .array(params) }
        if let body { o["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]] }
        if secured { o["security"] = [["bearer": []]] }
        return .object(o)
    }

    /// The whole document.
    public static var document: JSONValue {
        let jobResponses: [String: JSONValue] = ["200": json(ref("Job"), "The job"), "404": errorResponse]
        let paths: [String: JSONValue] = [
            "/healthz": ["get": op("Liveness check", responses: ["200": json(["type": "object", "properties": ["status": ["type": "string"]]], "OK")])],
            "/openapi.json": ["get": op("This document", responses: ["200": ["description": "OpenAPI 3.1 document"]])],
            "/metrics": ["get": op("Prometheus metrics (text exposition format)", responses: ["200": ["description": "Metrics", "content": ["text/plain": ["schema": ["type": "string"]]]]])],
            "/v1/datasets": [
                "get": op("Datasets the server can train on: built-in and uploaded, with class names and counts", responses: [
                    "200": json(["type": "object", "properties": ["datasets": ["type": "array", "items": ref("Dataset")]]], "Datasets")]),
                "post": [
                    "summary": "Upload a zip, tar or tar.gz of class folders (optionally under train/ and validation/)",
                    "description": "The format is recognised by its bytes, whatever the Content-Type. The body is streamed to disk (chunked uploads too) and checked entry by entry: no absolute paths, '..', links, devices or FIFOs, bounded entry count, size and compression ratio; a refused archive leaves nothing behind.",
                    "parameters": [query("name", "string", "Dataset name (for a raw, non-multipart body)")],
                    "requestBody": ["required": true, "content": [
                        "multipart/form-data": ["schema": ["type": "object", "properties": ["name": ["type": "string"], "file": ["type": "string", "format": "binary", "description": "zip, tar or tar.gz"]]]],
                        "application/zip": ["schema": ["type": "string", "format": "binary"]],
                        "application/gzip": ["schema": ["type": "string", "format": "binary", "description": "tar.gz (also application/x-gzip)"]],
                        "application/x-tar": ["schema": ["type": "string", "format": "binary"]],
                        "application/octet-stream": ["schema": ["type": "string", "format": "binary", "description": "zip, tar or tar.gz"]]]],
                    "responses": ["201": json(ref("Dataset"), "The dataset's classes and counts"), "400": errorResponse, "409": errorResponse,
                                  "413": errorResponse, "415": errorResponse, "507": errorResponse],
                    "security": [["bearer": []]]],
            ],
            "/v1/datasets/{name}": ["delete": [
                "summary": "Remove an uploaded dataset no queued or running job uses",
                "parameters": [["name": "name", "in": "path", "required": true, "schema": ["type": "string"]]],
                "responses": ["200": json(["type": "object"], "Deleted"), "404": errorResponse, "409": errorResponse],
                "security": [["bearer": []]]]],
            "/v1/recipes": ["get": op("Seed job specs from config/jobs", responses: ["200": json(["type": "object"], "Recipes")])],
            "/v1/jobs": [
                "post": op("Submit a training job", body: ref("JobSpec"), responses: [
                    "201": json(ref("Job"), "Queued; Location points at the job"), "400": errorResponse, "401": errorResponse,
                    "422": errorResponse, "429": errorResponse], secured: true),
                "get": op("List jobs, newest first", params: [
                    query("state", "string", "Only jobs in this state"), query("limit", "integer", "Page size (1–500, default 50)"),
                    query("cursor", "string", "next_cursor of the previous page")],
                    responses: ["200": json(["type": "object", "properties": ["jobs": ["type": "array", "items": ref("Job")], "next_cursor": ["type": ["string", "null"]]]], "A page of jobs"), "400": errorResponse]),
            ],
            "/v1/jobs/{id}": ["get": op("One job", params: [idParam("Job")], responses: jobResponses)],
            "/v1/jobs/{id}/epochs": ["get": op("The job's History: one row per finished epoch", params: [idParam("Job")], responses: [
                "200": json(["type": "object", "properties": ["job_id": ["type": "string"], "epochs": ["type": "array", "items": ref("Epoch")]]], "Epochs"), "404": errorResponse])],
            "/v1/jobs/{id}/metrics": ["get": op("Step-level series [[wall_time, step, value], …] per key, downsampled", params: [
                idParam("Job"), query("max_points", "integer", "Points per series (default 1000)"), query("key", "string", "Only this series")],
                responses: ["200": json(["type": "object"], "Series"), "404": errorResponse])],
            "/v1/jobs/{id}/events": ["get": op("Server-Sent Events: progress, epoch and state while the job lives", params: [idParam("Job")], responses: [
                "200": ["description": "Event stream", "content": ["text/event-stream": ["schema": ["type": "string"]]]], "404": errorResponse])],
            "/v1/jobs/{id}/cancel": ["post": op("Cancel a job (cancelling until the worker stops, then cancelled)", params: [idParam("Job")], responses: [
                "202": json(ref("Job"), "Cancellation accepted"), "404": errorResponse, "409": errorResponse, "401": errorResponse], secured: true)],
            "/v1/models": ["get": op("List trained models", params: [query("limit", "integer", "At most this many")], responses: [
                "200": json(["type": "object", "properties": ["models": ["type": "array", "items": ref("Model")]]], "Models")])],
            "/v1/models/{id}": ["get": op("One model, by id or by job name (latest)", params: [idParam("Model")], responses: [
                "200": json(ref("Model"), "The model"), "404": errorResponse])],
            "/v1/models/{id}/predict": ["post": [
                "summary": "Classify images: multipart (several files → one batch), a raw image/jpeg or image/png body, or JSON {\"instances\": [...]}",
                "parameters": [idParam("Model (or job name)"), query("top_k", "integer", "Length of top (default 5)"),
                               query("invert", "string", "auto (default), true or false: invert uploads whose background differs from the training data's")],
                "requestBody": ["required": true, "content": [
                    "multipart/form-data": ["schema": ["type": "object", "properties": ["image": ["type": "array", "items": ["type": "string", "format": "binary"]]]]],
                    "image/jpeg": ["schema": ["type": "string", "format": "binary"]],
                    "image/png": ["schema": ["type": "string", "format": "binary"]],
                    "application/json": ["schema": ref("Instances")]]],
                "responses": ["200": json(ref("Predictions"), "One prediction per input"), "400": errorResponse, "404": errorResponse,
                              "413": errorResponse, "415": errorResponse]]],
            "/v1/models/{id}:predict": ["post": [
                "summary": "TF Serving REST predict: {\"instances\": [...]} of numbers or {\"b64\": …} images",
                "parameters": [idParam("Model (or job name)")],
                "requestBody": ["required": true, "content": ["application/json": ["schema": ref("Instances")]]],
                "responses": ["200": json(["type": "object", "properties": ["predictions": ["type": "array", "items": ["type": "array", "items": ["type": "number"]]]]], "Output vectors"),
                              "400": json(ref("TFServingError"), "Error"), "404": json(ref("TFServingError"), "Error")]]],
            "/": ["get": op("The dashboard (Public/index.html)", responses: [
                "200": ["description": "HTML page", "content": ["text/html": ["schema": ["type": "string"]]]], "304": ["description": "Not modified (ETag)"], "404": errorResponse])],
            "/app.js": ["get": op("The dashboard's script (Public/app.js)", responses: [
                "200": ["description": "JavaScript", "content": ["text/javascript": ["schema": ["type": "string"]]]], "304": ["description": "Not modified (ETag)"], "404": errorResponse])],
            "/style.css": ["get": op("The dashboard's style sheet (Public/style.css)", responses: [
                "200": ["description": "CSS", "content": ["text/css": ["schema": ["type": "string"]]]], "304": ["description": "Not modified (ETag)"], "404": errorResponse])],
            "/v1/datasets/fashion_mnist/samples": ["get": op("Fashion-MNIST images with their labels, as 28×28 grayscale PNGs", params: [
                query("offset", "integer", "Index of the first sample (default 0)"), query("count", "integer", "How many (1–100, default 24)"),
                query("split", "string", "train (default) or test")],
                responses: ["200": json(ref("Samples"), "Samples"), "400": errorResponse, "503": errorResponse])],
            "/v1/models/{id}/preprocess": ["post": [
                "summary": "The uploaded images as the model sees them (colour mode, size, inversion) — same request forms as predict",
                "parameters": [idParam("Model (or job name)"), query("invert", "string", "auto (default), true or false")],
                "requestBody": ["required": true, "content": [
                    "multipart/form-data": ["schema": ["type": "object", "properties": ["image": ["type": "array", "items": ["type": "string", "format": "binary"]]]]],
                    "image/jpeg": ["schema": ["type": "string", "format": "binary"]],
                    "image/png": ["schema": ["type": "string", "format": "binary"]],
                    "application/json": ["schema": ref("Instances")]]],
                "responses": ["200": json(["type": "object", "properties": ["model_id": ["type": "string"], "inputs": ["type": "array", "items": ref("InputImage")]]], "One image per input"),
                              "400": errorResponse, "404": errorResponse, "413": errorResponse, "415": errorResponse]]],
            "/v1/models/{id}/feature-maps": ["post": [
                "summary": "Feature maps of each Conv2D and MaxPooling2D layer for the first uploaded image (at most 16 channels per layer, each min-max normalised) — same request forms as predict",
                "parameters": [idParam("Model (or job name)"), query("invert", "string", "auto (default), true or false")],
                "requestBody": ["required": true, "content": [
                    "multipart/form-data": ["schema": ["type": "object", "properties": ["image": ["type": "string", "format": "binary"]]]],
                    "image/jpeg": ["schema": ["type": "string", "format": "binary"]],
                    "image/png": ["schema": ["type": "string", "format": "binary"]],
                    "application/json": ["schema": ref("Instances")]]],
                "responses": ["200": json(ref("FeatureMaps"), "Input and feature maps"), "400": errorResponse, "404": errorResponse,
                              "413": errorResponse, "415": errorResponse]]],
        ]
        let schemas: [String: JSONValue] = [
            "Instances": ["type": "object", "required": ["instances"], "properties": ["instances": ["type": "array", "items": [
                "oneOf": [["type": "array"], ["type": "object", "properties": ["b64": ["type": "string"]]]]]]]],
            "Predictions": ["type": "object", "properties": ["model_id": ["type": "string"], "predictions": ["type": "array", "items": [
                "type": "object", "properties": ["input": ["type": "string"], "label": ["type": "string"], "class_index": ["type": "integer"],
                                                 "probability": ["type": "number"], "top": ["type": "array"]]]]]],
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
            "TFServingError": ["type": "object", "properties": ["error": ["type": "string"]]],
            "Dataset": ["type": "object", "properties": ["name": ["type": "string"], "builtin": ["type": "boolean"],
                                                         "classes": ["type": "array", "items": ["type": "string"]], "splits": ["type": "object"]]],
            "Error": ["type": "object", "required": ["error"], "properties": ["error": ["type": "object", "required": ["code", "message"], "properties": [
                "code": ["type": "string"], "message": ["type": "string"], "field": ["type": "string"],
                "request_id": ["type": "string"]]]]],
            "JobSpec": ["type": "object", "required": ["model"], "properties": [
                "name": ["type": "string"], "dataset": ["type": "object"],
                "model": ["type": "object", "description": "{input_shape, layers} or Keras's model.to_json() output"],
                "compile": ["type": "object"], "fit": ["type": "object"], "callbacks": ["type": "array", "items": ["type": "object"]]]],
            "Job": ["type": "object", "properties": [
                "id": ["type": "string"], "name": ["type": "string"],
                "state": ["type": "string", "enum": ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]],
                "created_at": ["type": "string", "format": "date-time"], "started_at": ["type": ["string", "null"]],
                "finished_at": ["type": ["string", "null"]], "progress": ["type": ["object", "null"]], "metrics": ["type": "object"],
                "stop_reason": ["type": ["string", "null"]], "error": ["type": ["string", "null"]], "model_id": ["type": ["string", "null"]],
                "checkpoint_epoch": ["type": "integer"], "spec": ref("JobSpec")]],
            "Epoch": ["type": "object", "properties": [
                "epoch": ["type": "integer"], "loss": ["type": "number"], "learning_rate": ["type": "number"],
                "duration_seconds": ["type": "number"], "samples_per_second": ["type": "number"], "finished_at": ["type": "string"]],
                "additionalProperties": ["type": "number"]],
            "Model": ["type": "object", "properties": [
                "id": ["type": "string"], "job_id": ["type": "string"], "name": ["type": "string"], "created_at": ["type": "string"],
                "sha256": ["type": "string"], "class_names": ["type": "array", "items": ["type": "string"]],
                "input_shape": ["type": "array", "items": ["type": "integer"]], "preprocessing": ["type": "object"],
                "summary": ["type": "array"], "test_metrics": ["type": "object"], "final_metrics": ["type": "object"]]],
        ]
        return [
            "openapi": "3.1.0",
            "info": ["title": "Sequent", "version": "0.1.0",
                     "description": "Train Keras-style Sequential models on the CPU, track them, and serve them."],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas),
                           "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]]],
        ]
    }
}
