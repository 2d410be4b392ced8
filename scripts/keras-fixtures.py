#!/usr/bin/env python3
"""Writes the Keras 3 reference numbers under Tests/Fixtures/, one JSON file per section:

    keras-layers.json     outputs and input gradients of the activations and the parameter-free layers
    keras-batchnorm.json  BatchNormalization in inference and training mode (fields: see its section)

The Swift tests (KerasFixtureTests, ...) rebuild each layer, optimizer or model from the Keras config saved here,
run it on the same values and compare. Run once and commit the JSON; CI does not need Keras:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install keras==3.15.1 jax scipy
    KERAS_BACKEND=jax .venv-keras/bin/python scripts/keras-fixtures.py [section ...]

With no arguments every section is written; otherwise only the named ones (layers, batchnorm, ...).
"""
import json
import math
import os
import pathlib
import sys

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


def flat(a):
    """A float32 array as a flat list of Python floats (the exact float32 values, printed as doubles)."""
    return np.asarray(a, dtype=np.float32).ravel().tolist()


FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures"


def write(name, obj):
    path = FIXTURES / name
    path.write_text(json.dumps(obj, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-layers.json — activations and parameter-free layers (KerasFixtureTests).
# ---------------------------------------------------------------------------------------------------------------
def layers_fixture():
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
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(),
            "activations": act_cases, "layers": layer_cases}


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-batchnorm.json — BatchNormalization, for the engineer implementing it (no Swift test yet).
#
# Top level: keras_version, backend, cases: [case]. Each case:
#   name            "<index>:<short description>"
#   class_name      "BatchNormalization"; config: the layer's serialised Keras config (axis, momentum, epsilon,
#                   center, scale, ...), as ModelConfig.makeLayer(kerasKeys: true) reads it
#   input_shape     e.g. [4,3,3,2] (NHWC) or [5,3]; input: the input, row-major, flattened
#   gamma, beta, moving_mean, moving_variance   the values set before the calls (length = channels, axis -1);
#                   gamma/beta are absent (null) when scale=False/center=False, as Keras then has no such weight
#   weighting       w, same shape as the output: every gradient is of L = sum(y * w)
#   inference       {output, input_gradient}: layer(x, training=False), uses moving_mean/moving_variance
#   training        {output, input_gradient, gamma_gradient, beta_gradient, moving_mean, moving_variance}:
#                   layer(x, training=True) (batch statistics over all axes but the last, biased variance);
#                   moving_* are the values after that one call: m·momentum + batch_stat·(1 − momentum);
#                   gamma_gradient/beta_gradient are null when that weight does not exist
# All arrays are flattened row-major float32 values.
# ---------------------------------------------------------------------------------------------------------------
def batchnorm_fixture():
    cases = []
    settings = [("defaults", {}),
                ("center=False,scale=False", {"center": False, "scale": False}),
                ("momentum=0.9,epsilon=1e-5", {"momentum": 0.9, "epsilon": 1e-5})]
    for shape in [(4, 3, 3, 2), (5, 3)]:
        for label, kwargs in settings:
            layer = keras.layers.BatchNormalization(axis=-1, **kwargs)
            layer.build(shape)
            c = shape[-1]
            gamma = fixed((c,), scale=0.5, phase=0.3) + 1.0
            beta = fixed((c,), scale=0.4, phase=1.1)
            mean = fixed((c,), scale=0.7, phase=2.0)
            var = fixed((c,), scale=0.6, phase=0.7) ** 2 + 0.5
            if layer.scale:
                layer.gamma.assign(gamma)
            if layer.center:
                layer.beta.assign(beta)
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(var)
            x = jnp.asarray(fixed(shape, scale=2.0, phase=0.2) + 0.3)
            w = jnp.asarray(fixed(shape, scale=1.0, phase=0.5))
            trainable = [v.value for v in layer.trainable_variables]
            frozen = [v.value for v in layer.non_trainable_variables]

            def run(tv, v, training):
                y, new_frozen = layer.stateless_call(tv, frozen, v, training=training)
                return jnp.sum(y * w), (y, new_frozen)

            entry = {"name": f"{len(cases)}:{list(shape)} {label}", "class_name": "BatchNormalization",
                     "config": json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))["config"],
                     "input_shape": list(shape), "input": flat(x),
                     "gamma": flat(gamma) if layer.scale else None, "beta": flat(beta) if layer.center else None,
                     "moving_mean": flat(mean), "moving_variance": flat(var), "weighting": flat(w)}
            for mode, training in [("inference", False), ("training", True)]:
                grad = jax.grad(run, argnums=(0, 1), has_aux=True)
                (g_tv, g_x), (y, new_frozen) = grad(trainable, x, training)
                result = {"output": flat(y), "input_gradient": flat(g_x)}
                if training:
                    names = [v.path.split("/")[-1] for v in layer.trainable_variables]
                    by_name = dict(zip(names, g_tv))
                    result["gamma_gradient"] = flat(by_name["gamma"]) if "gamma" in by_name else None
                    result["beta_gradient"] = flat(by_name["beta"]) if "beta" in by_name else None
                    frozen_names = [v.path.split("/")[-1] for v in layer.non_trainable_variables]
                    after = dict(zip(frozen_names, new_frozen))
                    result["moving_mean"] = flat(after["moving_mean"])
                    result["moving_variance"] = flat(after["moving_variance"])
                entry[mode] = result
            cases.append(entry)
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": cases}


SECTIONS = {"layers": ("keras-layers.json", layers_fixture),
            "batchnorm": ("keras-batchnorm.json", batchnorm_fixture)}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(SECTIONS)
    for key in wanted:
        if key not in SECTIONS:
            sys.exit(f"unknown section {key!r}; known: {', '.join(SECTIONS)}")
        name, make = SECTIONS[key]
        write(name, make())
