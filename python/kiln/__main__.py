"""``python -m kiln``: kiln's main job. Trains a small CNN on handwritten digits in the Keras
idiom, with the progress bar, and reports test accuracy and training time.

The digits are scikit-learn's bundled 8x8 set when scikit-learn is installed
(``pip install "kiln[examples]"``); otherwise the job draws its own digit glyphs, so it
runs with nothing but kiln and NumPy. ``python -m kiln.bench --quick`` prints the kernel tables.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from . import backends, keras
from .keras import layers

# 5x7 bitmaps of the digits 0-9, one string per row.
_GLYPHS = [
    ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
]


def generated_digits(n: int = 1800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 8, 8) images in [0, 1] of the glyphs, shifted by a pixel, with varied ink and noise."""
    rng = np.random.default_rng(seed)
    glyphs = np.array([[[c == "1" for c in row] for row in g] for g in _GLYPHS], np.float32)
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, 8, 8), np.float32)
    for i, label in enumerate(labels):
        top, left = rng.integers(0, 2), rng.integers(0, 4)
        images[i, top:top + 7, left:left + 5] = glyphs[label] * rng.uniform(0.6, 1.0)
    images += rng.normal(0.0, 0.15, images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0), labels


def load_digits() -> tuple[str, np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        images, labels = generated_digits()
        return "generated digit glyphs (install scikit-learn for its handwritten digits)", images, labels
    data = sklearn_digits()
    return "scikit-learn's handwritten digits", (data.images / 16.0).astype(np.float32), data.target


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kiln", description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    engine = backends.for_device("cpu").description
    source, images, labels = load_digits()
    keras.utils.set_random_seed(args.seed)
    order = np.random.default_rng(args.seed).permutation(len(labels))
    images, labels = images[order, :, :, None], labels[order]
    split = len(labels) * 3 // 4
    x_train, y_train, x_test, y_test = images[:split], labels[:split], images[split:], labels[split:]
    print(f"kiln: a CNN on {source}: {len(y_train)} training and {len(y_test)} test images, on {engine}\n")

    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.1, verbose=1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nTest accuracy {accuracy:.1%} (loss {loss:.4f}) after {seconds:.1f} s of training.")
    print("Kernel by kernel against NumPy and PyTorch: python -m kiln.bench --quick")


if __name__ == "__main__":
    main()
