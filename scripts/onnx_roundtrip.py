#!/usr/bin/env python3
"""Runs Sequent's exported ONNX models in ONNX Runtime and compares them with Sequent's own outputs.

The fixtures come from the Swift test ONNXExportTests.writeRoundTripFixtures:

    SEQUENT_ONNX_FIXTURES=/tmp/onnx-fixtures swift test --filter ONNXExportTests
    python scripts/onnx_roundtrip.py /tmp/onnx-fixtures

Each subdirectory holds model.onnx, input.bin and expected.bin (little-endian float32) and shapes.json. Every
model must pass onnx.checker (with shape inference), declare a symbolic batch dimension, and give Sequent's
outputs within 1e-5, relative to the output's scale when that exceeds 1 (logits); the first sample alone (batch
1) must give the same as in the batch. Needs the onnx, onnxruntime and numpy packages.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-5


def check(directory: pathlib.Path) -> float:
    """The worst scaled difference of one fixture; raises when the model is malformed."""
    model = onnx.load(str(directory / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 17:
        raise AssertionError(f"opset {opset} < 17")
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    if not batch.dim_param:
        raise AssertionError("the input's batch dimension is not symbolic")

    shapes = json.loads((directory / "shapes.json").read_text())
    x = np.fromfile(directory / "input.bin", dtype="<f4").reshape(shapes["input"])
    expected = np.fromfile(directory / "expected.bin", dtype="<f4").reshape(shapes["output"])

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(["output"], {"input": x})
    if got.shape != expected.shape:
        raise AssertionError(f"output shape {got.shape}, Sequent's {expected.shape}")
    (single,) = session.run(["output"], {"input": x[:1]})
    if not np.allclose(single, got[:1], rtol=0, atol=1e-6):
        raise AssertionError("batch 1 differs from the same sample in a batch")
    scale = max(1.0, float(np.abs(expected).max()))
    return float(np.abs(got.astype(np.float64) - expected).max()) / scale


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} FIXTURE_DIR", file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    fixtures = sorted(p for p in root.iterdir() if (p / "model.onnx").exists())
    if not fixtures:
        print(f"no fixtures in {root} (run the Swift test with SEQUENT_ONNX_FIXTURES={root})", file=sys.stderr)
        return 2
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}")
    passed = failed = 0
    for directory in fixtures:
        try:
            diff = check(directory)
        except Exception as e:  # noqa: BLE001 - every failure is reported per model
            print(f"FAIL {directory.name}: {e}")
            failed += 1
            continue
        ok = diff <= TOLERANCE
        print(f"{'ok  ' if ok else 'FAIL'} {directory.name}: max |diff| / scale = {diff:.3e}")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
