"""Interchange with the real tools (run by scripts/test-interop.sh against a real `sequent serve`).

- Models trained in Keras 3 (TensorFlow) are uploaded as .keras files and must predict what Keras predicts, within
  1e-5, through the TF Serving route, the v2 protocol (tritonclient.http) and an image upload.
- A model trained in Sequent is exported as .keras and as ONNX; keras.models.load_model and ONNX Runtime must
  predict what Sequent predicts, within 1e-5.
"""
import gzip
import io
import json
import os
import struct
import tempfile
import urllib.error
import urllib.request
import uuid
import zlib

import keras
import numpy as np
import onnx
import onnxruntime
import pytest
import tritonclient.http as httpclient

URL = os.environ["SEQUENT_URL"]
HOST = URL.split("://", 1)[1]
FASHION = "/usr/share/datasets/fashion-mnist"
TOLERANCE = 1e-5


def idx(name):
    with gzip.open(os.path.join(FASHION, name)) as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.fixture(scope="module")
def fashion():
    x = idx("train-images-idx3-ubyte.gz")[:2048].astype(np.float32)[..., None]
    y = idx("train-labels-idx1-ubyte.gz")[:2048].astype(np.int64)
    test = idx("t10k-images-idx3-ubyte.gz")[:16].astype(np.float32)[..., None]
    return x, y, test


def request(method, path, body=None, content_type=None):
    req = urllib.request.Request(URL + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def multipart(files, fields=()):
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode())
    for name, filename, data in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload_keras(model, name, fields=()):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        data = open(path, "rb").read()
    body, ctype = multipart([("file", "model.keras", data)], [("name", name), *fields])
    status, _, answer = request("POST", "/v1/models", body, ctype)
    assert status == 201, answer[:500]
    return json.loads(answer)


def tf_serving(model, x):
    body = json.dumps({"instances": x.tolist()}).encode()
    status, _, answer = request("POST", f"/v1/models/{model}:predict", body, "application/json")
    assert status == 200, answer[:500]
    return np.array(json.loads(answer)["predictions"], np.float32)


def png(pixels):
    """A grayscale 8-bit PNG of a 2-D uint8 array (zlib + the chunk framing; no imaging library needed)."""
    h, w = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def triton_infer(name, x, **kwargs):
    client = httpclient.InferenceServerClient(HOST)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x.astype(np.float32))
    return client.infer(name, [inp], **kwargs)


def test_keras_cnn_with_batchnorm_and_global_pooling_serves_as_in_keras(fashion):
    x, y, test = fashion
    keras.utils.set_random_seed(1)
    # The tutorials' augmentation block (active only in training), and a layer named by hand: the weights file
    # keys layers by class, not by name.
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.05)], name="augment")
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        augment,
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu", name="features"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    expected = model.predict(test, verbose=0)
    names = "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
    info = upload_keras(model, "keras-cnn", [("class_names", names)])
    # A leading Rescaling layer: the model takes raw pixels.
    assert info["preprocessing"]["rescale"] == 1
    assert np.abs(tf_serving(info["id"], test) - expected).max() <= TOLERANCE
    v2 = triton_infer("keras-cnn", test)
    assert np.abs(v2.as_numpy("output") - expected).max() <= TOLERANCE
    # An image upload: the PNG's pixels are the test image's, so the answer is Keras's on them.
    body, ctype = multipart([("image", "sample.png", png(test[0, :, :, 0].astype(np.uint8)))])
    status, _, answer = request("POST", f"/v1/models/{info['id']}/predict?invert=false&top_k=10", body, ctype)
    assert status == 200, answer[:300]
    top = {t["class_index"]: t["probability"] for t in json.loads(answer)["predictions"][0]["top"]}
    assert max(abs(top[k] - float(expected[0, k])) for k in range(10)) <= TOLERANCE


def test_keras_logits_model_serves_outputs_and_probabilities(fashion):
    x, y, test = fashion
    keras.utils.set_random_seed(2)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x / 255, y, epochs=1, batch_size=64, verbose=0)
    scaled = test / 255
    logits = model.predict(scaled, verbose=0)
    info = upload_keras(model, "keras-logits")
    assert info["outputs_logits"] is True and info["preprocessing"]["rescale"] == pytest.approx(1 / 255)
    assert np.abs(tf_serving(info["id"], scaled) - logits).max() <= TOLERANCE
    v2 = triton_infer("keras-logits", scaled)
    assert np.abs(v2.as_numpy("output") - logits).max() <= TOLERANCE
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert np.abs(v2.as_numpy("probabilities") - softmax).max() <= TOLERANCE


@pytest.fixture(scope="module")
def sequent_cnn():
    spec = json.load(open("config/jobs/fashion-cnn.json"))
    spec["name"] = "interop-cnn"
    # Layers named by hand: Keras keys their weights by class, and the export must too.
    for layer, name in zip((l for l in spec["model"]["layers"] if l.get("type") in ("Conv2D", "Dense")), ("features", "more", "hidden", "head")):
        layer["name"] = name
    spec["dataset"]["train_limit"] = 2048
    spec["dataset"]["test_limit"] = 256
    spec["fit"]["epochs"] = 1
    status, _, answer = request("POST", "/v1/jobs", json.dumps(spec).encode(), "application/json")
    assert status == 201, answer[:300]
    job = json.loads(answer)["id"]
    # The job's event stream closes when it finishes (each read bounded by the timeout): no polling.
    with urllib.request.urlopen(f"{URL}/v1/jobs/{job}/events", timeout=300) as stream:
        for _ in stream:
            pass
    state = json.loads(request("GET", f"/v1/jobs/{job}")[2])
    assert state["state"] == "succeeded", state
    return state["model_id"]


def test_sequent_model_exports_to_keras(fashion, sequent_cnn):
    _, _, test = fashion
    scaled = test / 255
    expected = tf_serving(sequent_cnn, scaled)
    status, headers, data = request("GET", f"/v1/models/{sequent_cnn}/export?format=keras")
    assert status == 200 and ".keras" in headers["Content-Disposition"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "exported.keras")
        open(path, "wb").write(data)
        model = keras.models.load_model(path)
    assert np.abs(model.predict(scaled, verbose=0) - expected).max() <= TOLERANCE


def test_sequent_model_exports_to_onnx(fashion, sequent_cnn):
    _, _, test = fashion
    scaled = (test / 255).astype(np.float32)
    expected = tf_serving(sequent_cnn, scaled)
    status, headers, data = request("GET", f"/v1/models/{sequent_cnn}/export?format=onnx")
    assert status == 200, data[:300]
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    # A dynamic batch: one sample and sixteen.
    for batch in (scaled[:1], scaled):
        got = session.run(None, {name: batch})[0]
        assert np.abs(got - expected[:len(batch)]).max() <= TOLERANCE


def test_tritonclient_metadata_readiness_and_classification(sequent_cnn, fashion):
    _, _, test = fashion
    client = httpclient.InferenceServerClient(HOST)
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("interop-cnn")
    assert meta["inputs"][0]["shape"] == [-1, 28, 28, 1] and meta["versions"] == [sequent_cnn]
    assert client.is_model_ready("interop-cnn") and client.is_model_ready("interop-cnn", model_version=sequent_cnn)
    scaled = (test / 255).astype(np.float32)
    result = triton_infer("interop-cnn", scaled, outputs=[httpclient.InferRequestedOutput("probabilities", class_count=3)])
    top = result.as_numpy("probabilities")
    assert top.shape == (16, 3)
    probabilities = triton_infer("interop-cnn", scaled).as_numpy("probabilities")
    for row, p in zip(top, probabilities):
        score, index, _label = row[0].decode().split(":", 2)
        assert int(index) == int(p.argmax()) and abs(float(score) - float(p.max())) <= TOLERANCE
    with pytest.raises(Exception, match="unexpected input"):
        client.infer("interop-cnn", [httpclient.InferInput("pixels", [1, 28, 28, 1], "FP32")])
