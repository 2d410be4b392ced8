#!/usr/bin/env python3
"""PyTorch (eager, with or without channels-last) and Keras 3 (TensorFlow) peers for `sequent bench`'s inference
figures, measured as onnx_bench.py measures ONNX Runtime: single-image p50/p99 ms and batch-N samples/s, 2 threads.
The shared training scripts (../shared/bench) print only a median single-image time and batch-256 samples/s.

  /work/peers/bin/python scripts/peers/infer_bench.py --framework torch --recipe fashion-cnn --channels-last
  /work/peers/bin/python scripts/peers/infer_bench.py --framework keras --recipe horses-or-humans

Keras is called as `model(x, training=False)`, its fastest path for small batches (`model.predict` adds tens of
milliseconds per call). Set up the venv as onnx_bench.py's header says.
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402
import recipes  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--framework", required=True, choices=["torch", "keras"])
p.add_argument("--recipe", required=True, choices=sorted(recipes.RECIPES))
p.add_argument("--channels-last", action="store_true", help="torch: model and inputs in channels-last layout")
p.add_argument("--threads", type=int, default=2, help="intra-op threads")
p.add_argument("--latency-calls", type=int, default=0, help="0: enough for about 3 s (100 to 2,000)")
p.add_argument("--seconds", type=float, default=1.0, help="per batch throughput figure")
args = p.parse_args()

x = recipes.samples(args.recipe)
if args.framework == "torch":
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = recipes.torch_model(args.recipe)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)

    def prepare(a):
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).contiguous(memory_format=layout)

    def call(b):
        with torch.inference_mode():
            return model(b).numpy()

    measure.run("torch", args.recipe, call, x, prepare, args.latency_calls, args.seconds,
                extra={"channels_last": args.channels_last, "threads": torch.get_num_threads(),
                       "versions": {"torch": torch.__version__}})
else:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import keras

    keras.utils.set_random_seed(0)
    model = recipes.keras_model(args.recipe)
    measure.run("keras", args.recipe, lambda b: model(b, training=False).numpy(), x,
                calls=args.latency_calls, seconds=args.seconds,
                extra={"threads": args.threads, "versions": {"tensorflow": tf.__version__, "keras": keras.__version__}})
