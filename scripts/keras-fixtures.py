#!/usr/bin/env python3
"""Writes Tests/Fixtures/keras-layers.json: Keras 3's outputs and input gradients for the activation functions
and the parameter-free layers Sequent implements, on fixed inputs.

The Swift tests (KerasFixtureTests) rebuild each layer from the Keras config saved here, run it on the same
input and compare. Run once and commit the JSON; CI does not need Keras:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install keras==3.15.1 jax scipy
    KERAS_BACKEND=jax .venv-keras/bin/python scripts/keras-fixtures.py
"""
import json
import math
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

assert keras.backend.backend() == "jax", "run with KERAS_BACKEND=jax (the gradients come from jax.grad)"


def fixed(shape, scale=3.0, phase=0.1):
    """Deterministic values spread over [-scale, scale], no ties, exactly representable in float32 JSON."""
    n = int(np.prod(shape))
    v = np.array([math.sin(0.731 * i + phase) * scale for i in range(n)], dtype=np.float32)
    return v.reshape(shape)


def case(name, fn, x, config=None, class_name=None):
    """Output of fn(x) and the gradient of sum(fn(x) * w) for a fixed weighting w."""
    x = jnp.asarray(x)
    w = jnp.asarray(fixed(fn(x).shape, scale=1.0, phase=0.5))
    y = fn(x)
    g = jax.grad(lambda v: jnp.sum(fn(v) * w))(x)
    out = {"name": name, "input_shape": list(x.shape), "input": np.asarray(x).ravel().tolist(),
           "output_shape": list(y.shape), "output": np.asarray(y).ravel().tolist(),
           "weighting": np.asarray(w).ravel().tolist(), "input_gradient": np.asarray(g).ravel().tolist()}
    if class_name is not None:
        out["class_name"] = class_name
        out["config"] = config
    return out


activations = ["relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu", "silu", "swish",
               "softplus", "relu6", "hard_sigmoid", "linear"]
# A line through the interesting range (kinks at 0, ±3, 6) plus offsets so no value sits on a kink.
line = np.linspace(-7.3, 7.1, 37, dtype=np.float32).reshape(1, 37)
act_cases = [case(a, keras.activations.get(a), line) for a in activations]

pool_input = fixed((2, 5, 6, 3))
act_input = fixed((2, 3, 4), scale=4.0)
layers = [
    keras.layers.AveragePooling2D(pool_size=2),
    keras.layers.AveragePooling2D(pool_size=3, strides=2, padding="same"),
    keras.layers.AveragePooling2D(pool_size=(2, 3), strides=1, padding="same"),
    keras.layers.AveragePooling2D(pool_size=(3, 2), strides=(1, 2), padding="valid"),
    keras.layers.GlobalAveragePooling2D(),
    keras.layers.GlobalAveragePooling2D(keepdims=True),
    keras.layers.GlobalMaxPooling2D(),
    keras.layers.GlobalMaxPooling2D(keepdims=True),
    keras.layers.Activation("gelu"),
    keras.layers.Activation("softmax"),
    keras.layers.ReLU(),
    keras.layers.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.5),
    keras.layers.ReLU(max_value=1.0),
    keras.layers.ReLU(threshold=1.5),
    keras.layers.ReLU(negative_slope=0.2),
    keras.layers.LeakyReLU(),
    keras.layers.LeakyReLU(negative_slope=0.05),
    keras.layers.ELU(),
    keras.layers.ELU(alpha=0.5),
    keras.layers.Softmax(),
]
layer_cases = []
for i, layer in enumerate(layers):
    x = pool_input if "Pooling" in type(layer).__name__ else act_input
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))["config"]
    layer_cases.append(case(f"{i}:{type(layer).__name__}", lambda v, l=layer: l(v), x, config,
                            type(layer).__name__))

out = {"keras_version": keras.__version__, "backend": keras.backend.backend(),
       "activations": act_cases, "layers": layer_cases}
path = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "keras-layers.json"
path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
print(f"wrote {path} ({len(act_cases)} activations, {len(layer_cases)} layers)")
