#!/usr/bin/env python3
"""ONNX Runtime peer for `sequent bench`'s inference figures: the recipe's network is built in PyTorch, exported
with torch.onnx.export (opset 17, dynamic batch axis) and run by onnxruntime on the CPU with 2 intra-op threads.
Prints one JSON line: single-image p50/p99 ms and batch-N samples/s (N = 1, 32, 256; 1 and 32 at 300×300).

  /work/peers/bin/python scripts/peers/onnx_bench.py --recipe fashion-cnn

The venv (CPU torch from the local wheel, never PyPI's CUDA build):
  python3 -m venv /work/peers && /work/peers/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl \
      tensorflow-cpu keras numpy threadpoolctl onnx onnxruntime
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import recipes  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--recipe", required=True, choices=sorted(recipes.RECIPES))
p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
p.add_argument("--opset", type=int, default=17)
p.add_argument("--latency-calls", type=int, default=0, help="0: enough for about 3 s (100 to 2,000)")
p.add_argument("--seconds", type=float, default=1.0, help="per batch throughput figure")
args = p.parse_args()

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(args.threads)
model = recipes.torch_model(args.recipe)
h, w, c = recipes.RECIPES[args.recipe]["shape"]
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "model.onnx")
    torch.onnx.export(model, (torch.zeros(1, c, h, w),), path, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=args.opset, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    model_bytes = os.path.getsize(path)

x = recipes.samples(args.recipe)
measure.run("onnxruntime", args.recipe, lambda b: session.run(None, {"x": b}),
            x, prepare=lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2)),
            calls=args.latency_calls, seconds=args.seconds,
            extra={"threads": args.threads, "opset": args.opset, "onnx_bytes": model_bytes,
                   "versions": {"onnxruntime": ort.__version__, "torch": torch.__version__}})
