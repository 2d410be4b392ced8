"""The recipes Sequent benchmarks, as the peers build them: each recipe's network shape (from config/jobs), its input
samples, and the batch sizes its inference is measured at. No framework imports here."""
import os
import sys

import numpy as np

SHARED_BENCH = os.environ.get("SHARED_BENCH") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench")
sys.path.insert(0, SHARED_BENCH)
import common  # noqa: E402  (../shared/bench: Fashion-MNIST loader, synthetic images, RSS)

# Sequent's recipe name (its job spec's "name") → the input shape (H, W, C), and the largest batch whose
# throughput is measured (a 300×300 batch of 256 is 276 MB of input alone; serving batches are smaller).
RECIPES = {
    "fashion-dense": {"shape": (28, 28, 1), "batches": (1, 32, 256)},
    "fashion-cnn": {"shape": (28, 28, 1), "batches": (1, 32, 256)},
    "horses-or-humans-150": {"shape": (150, 150, 3), "batches": (1, 32, 256)},
    "horses-or-humans": {"shape": (300, 300, 3), "batches": (1, 32)},
}

# The shared training scripts' --model (and --size) for each recipe.
TRAIN_MODEL = {"fashion-dense": ("dense", None), "fashion-cnn": ("cnn2", None),
               "horses-or-humans-150": ("hh", 150), "horses-or-humans": ("hh", 300)}


def samples(recipe, n=256):
    """`n` input images of `recipe`, float32 NHWC in [0, 1]: Fashion-MNIST test images, or random colour images
    for horses-or-humans (the speed does not depend on the pixels)."""
    h, w, c = RECIPES[recipe]["shape"]
    if recipe.startswith("fashion"):
        _, _, x, _ = common.load_fashion_mnist()
        return np.ascontiguousarray(x[:n, :, :, None])
    x, _ = common.synthetic_hh(n, h)
    return x


def torch_model(recipe):
    """The recipe's network in PyTorch (NCHW), with its output activation, in eval mode."""
    from torch import nn
    R, M, F = nn.ReLU, lambda: nn.MaxPool2d(2), nn.Flatten
    if recipe == "fashion-dense":
        m = nn.Sequential(F(), nn.Linear(784, 128), R(), nn.Linear(128, 10), nn.Softmax(1))
    elif recipe == "fashion-cnn":
        m = nn.Sequential(nn.Conv2d(1, 64, 3), R(), M(), nn.Conv2d(64, 64, 3), R(), M(), F(),
                          nn.Linear(64 * 5 * 5, 128), R(), nn.Linear(128, 10), nn.Softmax(1))
    else:
        f = RECIPES[recipe]["shape"][0]
        for _ in range(3):
            f = (f - 2) // 2
        m = nn.Sequential(nn.Conv2d(3, 16, 3), R(), M(), nn.Conv2d(16, 32, 3), R(), M(),
                          nn.Conv2d(32, 64, 3), R(), M(), F(), nn.Linear(64 * f * f, 512), R(),
                          nn.Linear(512, 1), nn.Sigmoid())
    return m.eval()


def keras_model(recipe):
    """The recipe's network in Keras 3 (NHWC), as its job spec describes it."""
    import keras
    from keras import layers
    C, M, F, D = layers.Conv2D, layers.MaxPooling2D, layers.Flatten, layers.Dense
    shape = RECIPES[recipe]["shape"]
    if recipe == "fashion-dense":
        body = [F(), D(128, activation="relu"), D(10, activation="softmax")]
    elif recipe == "fashion-cnn":
        body = [C(64, 3, activation="relu"), M(2), C(64, 3, activation="relu"), M(2), F(),
                D(128, activation="relu"), D(10, activation="softmax")]
    else:
        body = [C(16, 3, activation="relu"), M(2), C(32, 3, activation="relu"), M(2), C(64, 3, activation="relu"),
                M(2), F(), D(512, activation="relu"), D(1, activation="sigmoid")]
    return keras.Sequential([keras.Input(shape)] + body)
