#!/usr/bin/env python3
"""Writes Tests/Fixtures/keras-layers.json: Keras 3's outputs and input gradients for the activation functions
and the parameter-free layers Sequent implements, on fixed inputs; and Tests/Fixtures/keras-augmentation.json:
the random augmentation layers' training-mode outputs and input gradients, for settings whose random draw is a
single point (a factor range [a, a]), or with the draw given explicitly where Keras cannot collapse it.

The Swift tests (KerasFixtureTests) rebuild each layer from the Keras config saved here, run it on the same
input and compare. Run once and commit the JSON; CI does not need Keras:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install keras==3.15.1 jax scipy
    KERAS_BACKEND=jax .venv-keras/bin/python scripts/keras-fixtures.py [layers] [augmentation]

With arguments, only the named fixture files are written (both without).
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


def layer_fixtures():
    """keras-layers.json."""
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


def augmentation_fixtures():
    """keras-augmentation.json: each layer's transform_images in training mode, with the transformation Keras
    draws for a point-sized factor range (the same for every sample), or the one given in `draw`."""
    x = fixed((2, 5, 7, 2))
    L = keras.layers
    fills = ["reflect", "wrap", "constant", "nearest"]
    geometric = []
    for interpolation in ["bilinear", "nearest"]:
        for fill in fills:
            kw = dict(fill_mode=fill, interpolation=interpolation, fill_value=0.5)
            geometric += [L.RandomRotation((0.1, 0.1), **kw),
                          L.RandomZoom((-0.3, -0.3), (0.2, 0.2), **kw),
                          L.RandomTranslation((0.2, 0.2), (-0.1, -0.1), **kw)]
    geometric += [L.RandomRotation((-0.05, -0.05)),
                  L.RandomRotation((0.3, 0.3), fill_mode="constant", interpolation="nearest", fill_value=-1.0),
                  L.RandomZoom((0.25, 0.25), fill_mode="constant"),
                  L.RandomTranslation((-0.3, -0.3), (0.4, 0.4), fill_mode="wrap")]
    contrasts = [L.RandomContrast((-0.5, 0.5), value_range=(-2, 2)),
                 L.RandomContrast(0.0),
                 L.RandomContrast((-1.0, 1.0), value_range=(-10, 10))]
    cases = []

    def add(layer, transformation, draw=None):
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))["config"]
        name = f"{len(cases)}:{type(layer).__name__}"
        c = case(name, lambda v: layer.transform_images(v, transformation, training=True), x, config,
                 type(layer).__name__)
        if draw is not None:
            c["draw"] = draw
        cases.append(c)

    for layer in geometric + contrasts:
        add(layer, layer.get_random_transformation(jnp.asarray(x), training=True))
    # Draws Keras cannot collapse to a point: RandomFlip's coin and a contrast below 1.
    for mode in ["horizontal", "vertical", "horizontal_and_vertical"]:
        add(L.RandomFlip(mode), {"flips": jnp.array([True, False]).reshape(2, 1, 1, 1), "input_shape": x.shape},
            draw=[1, 0])
    add(L.RandomContrast(0.5, value_range=(-2.5, 2.5)),
        {"contrast_factor": jnp.array([0.6, 1.3], dtype="float32").reshape(2, 1, 1, 1)}, draw=[0.6, 1.3])

    out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "layers": cases}
    path = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "keras-augmentation.json"
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")


targets = sys.argv[1:] or ["layers", "augmentation"]
if "layers" in targets:
    layer_fixtures()
if "augmentation" in targets:
    augmentation_fixtures()
