#!/usr/bin/env python3
"""Writes the Keras 3 reference numbers under Tests/Fixtures/, one JSON file per section:

    keras-layers.json     outputs and input gradients of the activations and the parameter-free layers
    keras-batchnorm.json  BatchNormalization in inference and training mode (fields: see its section)
    keras-optimizers.json three apply_gradients steps of every optimizer and option Sequent implements
    keras-weighted-layers.json  Dense/Conv2D with set weights (output, input and weight gradients), Dropout,
                          Rescaling, MaxPooling2D
    keras-fit.json        two 2-epoch fits (MLP + Adam, CNN + SGD momentum) with their data and initial weights
    keras-models.json     tutorial-style Sequential models: to_json() and Keras's parameter counts
    keras-augmentation.json  the Random* augmentation layers in training mode, for draws fixed to a point

The Swift tests (KerasFixtureTests, ...) rebuild each layer, optimizer or model from the Keras config saved here,
run it on the same values and compare. Run once and commit the JSON; CI does not need Keras:

    python3 -m venv .venv-keras && .venv-keras/bin/pip install keras==3.15.1 jax scipy
    KERAS_BACKEND=jax .venv-keras/bin/python scripts/keras-fixtures.py [section ...]

With no arguments every section is written; otherwise only the named ones (layers, batchnorm,
optimizers, weighted, fit, models, augmentation).
"""
import inspect
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


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-optimizers.json — three apply_gradients steps of each optimizer (OptimizerFixtureTests).
#
# Top level: keras_version, backend, variable_shapes, initial (one flat list per variable), gradients
# (gradients[step][variable] flat), cases: [{name, optimizer: keras.optimizers.serialize(opt) (module,
# class_name, config = get_config()), steps: [[variable values after step 1], [after step 2], [after step 3]]}].
# Two variables of different sizes and gradient scales: clipnorm clips only the first, global_clipnorm both.
# ---------------------------------------------------------------------------------------------------------------
def optimizers_fixture():
    shapes = [(2, 3), (4,)]
    initial = [fixed(shapes[0], scale=1.0, phase=0.2), fixed(shapes[1], scale=0.8, phase=1.3)]
    # Three different steps; the first variable's gradient has norm ≈ 1.7–2.4, the second's ≈ 0.4–0.6.
    gradients = [[fixed(shapes[0], scale=1.0 + 0.3 * s, phase=0.9 + s), fixed(shapes[1], scale=0.3, phase=2.1 * s)]
                 for s in range(3)]
    O, S = keras.optimizers, keras.optimizers.schedules
    cases = [
        ("sgd", O.SGD(learning_rate=0.1)),
        ("sgd momentum", O.SGD(learning_rate=0.1, momentum=0.9)),
        ("sgd nesterov", O.SGD(learning_rate=0.1, momentum=0.8, nesterov=True)),
        ("sgd weight_decay", O.SGD(learning_rate=0.1, momentum=0.5, weight_decay=0.05)),
        ("sgd clipnorm", O.SGD(learning_rate=0.1, clipnorm=1.0)),
        ("sgd clipvalue", O.SGD(learning_rate=0.1, clipvalue=0.5)),
        ("sgd global_clipnorm", O.SGD(learning_rate=0.1, global_clipnorm=1.0)),
        ("sgd ExponentialDecay", O.SGD(learning_rate=S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5))),
        ("sgd ExponentialDecay staircase",
         O.SGD(learning_rate=S.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True))),
        ("rmsprop", O.RMSprop(learning_rate=0.01)),
        ("rmsprop rho", O.RMSprop(learning_rate=0.01, rho=0.5)),
        ("rmsprop momentum", O.RMSprop(learning_rate=0.01, momentum=0.9)),
        ("rmsprop centered", O.RMSprop(learning_rate=0.01, momentum=0.5, centered=True)),
        ("adam", O.Adam(learning_rate=0.01)),
        ("adam amsgrad", O.Adam(learning_rate=0.01, beta_2=0.5, amsgrad=True)),
        ("adam betas epsilon", O.Adam(learning_rate=0.01, beta_1=0.5, beta_2=0.9, epsilon=1e-3)),
        ("adam weight_decay", O.Adam(learning_rate=0.01, weight_decay=0.1)),
        ("adam clipnorm", O.Adam(learning_rate=0.01, clipnorm=1.0)),
        ("adam clipvalue", O.Adam(learning_rate=0.01, clipvalue=0.5)),
        ("adam global_clipnorm", O.Adam(learning_rate=0.01, global_clipnorm=1.0)),
        ("adam CosineDecay warmup",
         O.Adam(learning_rate=S.CosineDecay(0.0, decay_steps=4, alpha=0.1, warmup_target=0.02, warmup_steps=2))),
        ("adam InverseTimeDecay", O.Adam(learning_rate=S.InverseTimeDecay(0.01, decay_steps=1, decay_rate=0.5))),
        ("adam PiecewiseConstantDecay",
         O.Adam(learning_rate=S.PiecewiseConstantDecay(boundaries=[1], values=[0.01, 0.002]))),
        ("adamw", O.AdamW(learning_rate=0.01)),
        ("adamw weight_decay amsgrad", O.AdamW(learning_rate=0.01, weight_decay=0.2, amsgrad=True)),
        ("nadam", O.Nadam(learning_rate=0.01)),
        ("nadam weight_decay", O.Nadam(learning_rate=0.01, weight_decay=0.1, clipvalue=0.5)),
        ("adagrad", O.Adagrad(learning_rate=0.1)),
        ("adagrad accumulator epsilon", O.Adagrad(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-3)),
        ("adagrad global_clipnorm", O.Adagrad(learning_rate=0.1, global_clipnorm=1.0)),
    ]
    out = []
    for name, opt in cases:
        variables = [keras.Variable(v) for v in initial]
        steps = []
        for g in gradients:
            opt.apply_gradients(zip([jnp.asarray(x) for x in g], variables))
            steps.append([flat(v.numpy()) for v in variables])
        out.append({"name": name, "optimizer": json.loads(json.dumps(keras.optimizers.serialize(opt))),
                    "steps": steps})
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(),
            "variable_shapes": [list(s) for s in shapes], "initial": [flat(v) for v in initial],
            "gradients": [[flat(x) for x in g] for g in gradients], "cases": out}


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-weighted-layers.json — Dense and Conv2D with set weights, plus Dropout and Rescaling in
# inference and the MaxPooling2D variants (KerasWeightedLayerTests). cases: [{name, class_name, config,
# input_shape, input, output_shape, output, weighting, input_gradient, weights: [{name, shape, value, gradient}]}]:
# every gradient is of sum(y * weighting); weights are in the layer's order (kernel, then bias).
# ---------------------------------------------------------------------------------------------------------------
def weighted_layers_fixture():
    L = keras.layers
    dense_in, conv_in = fixed((3, 5), scale=2.0), fixed((2, 7, 6, 3), scale=2.0, phase=0.4)
    specs = [
        (L.Dense(4), dense_in),
        (L.Dense(3, activation="tanh"), dense_in),
        (L.Dense(6, activation="relu", use_bias=False), dense_in),
        (L.Conv2D(4, 3), conv_in),
        (L.Conv2D(2, 3, padding="same", activation="relu"), conv_in),
        (L.Conv2D(3, (3, 2), strides=2, padding="same"), conv_in),
        (L.Conv2D(3, (2, 3), strides=(2, 1), padding="valid", activation="sigmoid", use_bias=False), conv_in),
        (L.Conv2D(2, 4, strides=3, padding="same", use_bias=False), conv_in),
        (L.Dropout(0.5), conv_in),
        (L.Rescaling(1 / 255), conv_in),
        (L.Rescaling(0.5, offset=-1.0), dense_in),
        (L.MaxPooling2D(), conv_in),
        (L.MaxPooling2D(pool_size=3, strides=2, padding="same"), conv_in),
        (L.MaxPooling2D(pool_size=(2, 3), strides=1, padding="same"), conv_in),
        (L.MaxPooling2D(pool_size=(3, 2), strides=(1, 2)), conv_in),
    ]
    cases = []
    for i, (layer, x) in enumerate(specs):
        layer.build(x.shape)
        for k, v in enumerate(layer.weights):
            v.assign(fixed(v.shape, scale=0.5, phase=0.3 + k))
        x = jnp.asarray(x)
        trainable = [v.value for v in layer.trainable_variables]
        y = layer(x, training=False)
        w = jnp.asarray(fixed(y.shape, scale=1.0, phase=0.5))

        def loss(tv, v):
            # stateless_call calls layer.call directly, and only some calls take `training`.
            kw = {"training": False} if "training" in inspect.signature(layer.call).parameters else {}
            out, _ = layer.stateless_call(tv, [u.value for u in layer.non_trainable_variables], v, **kw)
            return jnp.sum(out * w)

        g_tv, g_x = jax.grad(loss, argnums=(0, 1))(trainable, x)
        cls = type(layer).__name__
        cases.append({"name": f"{i}:{cls}", "class_name": cls,
                      "config": json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))["config"],
                      "input_shape": list(x.shape), "input": flat(x), "output_shape": list(y.shape), "output": flat(y),
                      "weighting": flat(w), "input_gradient": flat(g_x),
                      "weights": [{"name": v.path.split("/")[-1], "shape": list(v.shape), "value": flat(v.numpy()),
                                   "gradient": flat(g)} for v, g in zip(layer.trainable_variables, g_tv)]})
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": cases}


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-fit.json — two 2-epoch fits with fixed data and initial weights, no shuffling
# (KerasFitFixtureTests). Top level: keras_version, backend, image_shape [12,12,1], pixels (320 images of
# 144 integers 0…255, row-major; x = float32(pixel) / float32(255)), labels (320 class indices), train 256 (the
# first 256 samples), validation 64 (the last 64). models: [{name, model: model.to_json(), compile: {optimizer:
# keras.optimizers.serialize, loss: keras.losses.serialize, metrics}, fit: {epochs, batch_size, shuffle},
# initial_weights / final_weights: [{shape, value}] in model.get_weights() order, history: history.history
# (per epoch: loss, accuracy, val_loss, val_accuracy), batch_logs: per training batch of epoch 1, the logs Keras
# passes to on_train_batch_end (running means over the epoch so far: loss, accuracy)}].
# ---------------------------------------------------------------------------------------------------------------
def fit_fixture():
    L = keras.layers
    rng = np.random.default_rng(20240)
    n, side = 320, 12
    labels = rng.integers(0, 10, n)
    pixels = rng.integers(0, 90, (n, side, side, 1))
    for i, k in enumerate(labels):
        # A bright 4×4 block whose place names the class, jittered by one pixel, over noise.
        r0, c0 = (k // 4) * 4 + rng.integers(0, 2), (k % 4) * 3 + rng.integers(0, 2) - (k % 4 == 3)
        pixels[i, r0:r0 + 4, c0:c0 + 4, 0] += 120 + rng.integers(0, 40)
    pixels = np.clip(pixels, 0, 255).astype(np.int64)
    x = pixels.astype(np.float32) / np.float32(255)
    y = labels.astype(np.int64)
    xt, yt, xv, yv = x[:256], y[:256], x[256:], y[256:]

    def mlp():
        I = keras.initializers
        return keras.Sequential([keras.Input(shape=(side, side, 1)), L.Flatten(),
                                 L.Dense(16, activation="relu", kernel_initializer=I.GlorotUniform(seed=11)),
                                 L.Dense(10, activation="softmax", kernel_initializer=I.GlorotUniform(seed=12))]), \
            keras.optimizers.Adam(learning_rate=0.01), keras.losses.SparseCategoricalCrossentropy()

    def cnn():
        I = keras.initializers
        return keras.Sequential([keras.Input(shape=(side, side, 1)),
                                 L.Conv2D(4, 3, activation="relu", kernel_initializer=I.GlorotUniform(seed=21)),
                                 L.MaxPooling2D(), L.Flatten(),
                                 L.Dense(10, kernel_initializer=I.GlorotUniform(seed=22))]), \
            keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), \
            keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    class BatchLogs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_train_batch_end(self, batch, logs=None):
            if len(self.logs) < 256 // 32:
                self.logs.append({k: float(v) for k, v in logs.items()})

    models = []
    for name, make in [("mlp adam", mlp), ("cnn sgd momentum logits", cnn)]:
        model, opt, loss = make()
        initial = [w.copy() for w in model.get_weights()]
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
        cb = BatchLogs()
        history = model.fit(xt, yt, batch_size=32, epochs=2, shuffle=False, validation_data=(xv, yv), callbacks=[cb],
                            verbose=0)
        models.append({"name": name, "model": json.loads(model.to_json()),
                       "compile": {"optimizer": json.loads(json.dumps(keras.optimizers.serialize(opt))),
                                   "loss": json.loads(json.dumps(keras.losses.serialize(loss))),
                                   "metrics": ["accuracy"]},
                       "fit": {"epochs": 2, "batch_size": 32, "shuffle": False},
                       "initial_weights": [{"shape": list(w.shape), "value": flat(w)} for w in initial],
                       "final_weights": [{"shape": list(w.shape), "value": flat(w)} for w in model.get_weights()],
                       "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
                       "batch_logs": cb.logs})
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(), "image_shape": [side, side, 1],
            "pixels": pixels.ravel().tolist(), "labels": y.tolist(), "train": 256, "validation": 64, "models": models}


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-models.json — tutorial-style Sequential models and Keras's parameter counts
# (KerasModelCountTests). cases: [{name, input_shape (without the batch axis), model: json.loads(model.to_json()),
# count_params, trainable, non_trainable}]. Some use layers Sequent lacks (Conv1D, LSTM, …); the test then
# expects a ConfigError naming what it refuses.
# ---------------------------------------------------------------------------------------------------------------
def models_fixture():
    L, R, I = keras.layers, keras.regularizers, keras.initializers

    def seq(shape, *layers):
        return keras.Sequential([keras.Input(shape=shape), *layers])

    frozen_dense = L.Dense(32, activation="relu")
    frozen_dense.trainable = False
    frozen_conv = L.Conv2D(8, 3, activation="relu")
    frozen_conv.trainable = False
    models = {
        "mnist mlp": seq((28, 28, 1), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10)),
        "mlp dropout softmax": seq((784,), L.Dense(256, activation="relu"), L.Dropout(0.2),
                                   L.Dense(128, activation="relu"), L.Dropout(0.2), L.Dense(10, activation="softmax")),
        "mlp no bias tanh": seq((20,), L.Dense(64, activation="tanh", use_bias=False), L.Dense(1, activation="sigmoid")),
        "mlp regularizers": seq((32,), L.Dense(64, activation="relu", kernel_regularizer=R.L2(1e-4)),
                                L.Dense(32, activation="elu", kernel_regularizer=R.L1L2(l1=1e-5, l2=1e-4),
                                        bias_regularizer=R.L1(1e-5)), L.Dense(3, activation="softmax")),
        "mlp seeded initializers": seq((16,), L.Dense(32, kernel_initializer=I.HeNormal(seed=1),
                                                      bias_initializer=I.Constant(0.1)),
                                       L.LeakyReLU(negative_slope=0.1),
                                       L.Dense(8, kernel_initializer=I.GlorotNormal(seed=2)), L.Softmax()),
        "mlp frozen layer": seq((10,), frozen_dense, L.Dense(5)),
        "fashion cnn": seq((28, 28, 1), L.Rescaling(1 / 255), L.Conv2D(32, 3, activation="relu"),
                           L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                           L.Dropout(0.5), L.Dense(10, activation="softmax")),
        "cnn same strides": seq((32, 32, 3), L.Conv2D(16, 3, padding="same", activation="relu"),
                                L.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
                                L.Conv2D(32, (5, 3), strides=(2, 1), padding="valid", use_bias=False),
                                L.ReLU(), L.GlobalAveragePooling2D(), L.Dense(10)),
        "cnn pooling variants": seq((24, 24, 3), L.Conv2D(8, 3, padding="same"), L.AveragePooling2D(3, strides=2,
                                                                                                   padding="same"),
                                    L.Conv2D(8, 3), L.MaxPooling2D(pool_size=(2, 3), strides=(1, 2), padding="same"),
                                    L.GlobalMaxPooling2D(), L.Dense(4, activation="sigmoid")),
        "cnn activations": seq((16, 16, 1), L.Conv2D(4, 3, activation="selu"), L.Activation("gelu"),
                               L.Conv2D(4, 3, activation="swish"), L.ELU(), L.Flatten(), L.Dense(2)),
        "cnn rescaling offset dropout seed": seq((20, 20, 3), L.Rescaling(1 / 127.5, offset=-1),
                                                 L.Conv2D(8, 3, activation="relu"), L.Dropout(0.25, seed=7),
                                                 L.Flatten(), L.Dense(5)),
        "cnn regularized conv": seq((12, 12, 1), L.Conv2D(6, 3, kernel_regularizer=R.L2(1e-3),
                                                          kernel_initializer=I.HeUniform(seed=3)),
                                    L.MaxPooling2D(), L.Flatten(), L.Dense(3)),
        "cnn frozen base": seq((28, 28, 1), frozen_conv, L.MaxPooling2D(), L.Flatten(), L.Dense(10)),
        "cnn batchnorm": seq((28, 28, 1), L.Conv2D(16, 3, use_bias=False), L.BatchNormalization(), L.ReLU(),
                             L.MaxPooling2D(), L.Flatten(), L.Dense(10)),
        "mlp batchnorm": seq((30,), L.Dense(64), L.BatchNormalization(momentum=0.9, epsilon=1e-5),
                             L.Activation("relu"), L.Dense(2, activation="softmax")),
        "cnn augmentation": seq((32, 32, 3), L.RandomFlip("horizontal"), L.RandomRotation(0.1), L.RandomZoom(0.1),
                                L.Rescaling(1 / 255), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
                                L.Flatten(), L.Dense(10)),
        "cnn random translation contrast": seq((28, 28, 1), L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.2),
                                               L.Conv2D(8, 3, activation="relu"), L.GlobalAveragePooling2D(),
                                               L.Dense(10)),
        "conv1d text": seq((100, 8), L.Conv1D(16, 5, activation="relu"), L.GlobalMaxPooling1D(), L.Dense(1)),
        "lstm": seq((20, 4), L.LSTM(16), L.Dense(1)),
        "embedding": seq((50,), L.Embedding(1000, 16), L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")),
        "depthwise conv": seq((32, 32, 3), L.DepthwiseConv2D(3, depth_multiplier=2), L.Flatten(), L.Dense(10)),
        "separable conv": seq((32, 32, 3), L.SeparableConv2D(8, 3, activation="relu"), L.GlobalAveragePooling2D(),
                              L.Dense(10)),
        "layernorm mlp": seq((16,), L.Dense(32), L.LayerNormalization(), L.Dense(4)),
        "resizing cnn": seq((64, 64, 3), L.Resizing(32, 32), L.Conv2D(8, 3), L.Flatten(), L.Dense(2)),
        "zero padding cnn": seq((28, 28, 1), L.ZeroPadding2D(2), L.Conv2D(6, 5, activation="tanh"),
                                L.AveragePooling2D(2), L.Flatten(), L.Dense(10)),
        "lenet-5": seq((32, 32, 1), L.Conv2D(6, 5, activation="tanh"), L.AveragePooling2D(2),
                       L.Conv2D(16, 5, activation="tanh"), L.AveragePooling2D(2), L.Flatten(),
                       L.Dense(120, activation="tanh"), L.Dense(84, activation="tanh"), L.Dense(10, activation="softmax")),
        "vgg-ish block": seq((32, 32, 3), L.Conv2D(32, 3, padding="same", activation="relu"),
                             L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(), L.Dropout(0.25),
                             L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(), L.Flatten(),
                             L.Dense(128, activation="relu"), L.Dropout(0.5), L.Dense(10, activation="softmax")),
    }
    cases = []
    for name, model in models.items():
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        assert trainable + non_trainable == model.count_params(), name
        cases.append({"name": name, "input_shape": list(model.input_shape[1:]), "model": json.loads(model.to_json()),
                      "count_params": model.count_params(), "trainable": trainable, "non_trainable": non_trainable})
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": cases}


# ---------------------------------------------------------------------------------------------------------------
# Tests/Fixtures/keras-augmentation.json — the random augmentation layers' training-mode outputs and input
# gradients, for settings whose random draw is a single point (a factor range [a, a]), or with the draw given
# explicitly (`draw`) where Keras cannot collapse it (RandomFlip's coin, a contrast below 1).
# ---------------------------------------------------------------------------------------------------------------
def augmentation_fixture():
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

    return {"keras_version": keras.__version__, "backend": keras.backend.backend(), "layers": cases}


SECTIONS = {"layers": ("keras-layers.json", layers_fixture),
            "batchnorm": ("keras-batchnorm.json", batchnorm_fixture),
            "optimizers": ("keras-optimizers.json", optimizers_fixture),
            "weighted": ("keras-weighted-layers.json", weighted_layers_fixture),
            "fit": ("keras-fit.json", fit_fixture),
            "models": ("keras-models.json", models_fixture),
            "augmentation": ("keras-augmentation.json", augmentation_fixture)}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(SECTIONS)
    for key in wanted:
        if key not in SECTIONS:
            sys.exit(f"unknown section {key!r}; known: {', '.join(SECTIONS)}")
        name, make = SECTIONS[key]
        # Auto-generated layer and model names count per session: reset so a section writes the same file
        # whether it runs alone or after others.
        keras.backend.clear_session()
        write(name, make())
