"""keras.datasets.mnist: 60000 + 10000 handwritten digits, 28x28 uint8."""

from __future__ import annotations

from ._cache import load_npz, locate

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def load_data(path: str = "mnist.npz"):
    """((x_train (60000, 28, 28) uint8, y_train (60000,) uint8), (x_test (10000, 28, 28), y_test (10000,)))
    from ``path`` (relative to Keras's cache folder, ~/.keras/datasets)."""
    file = locate("mnist.load_data", path, ORIGIN)
    arrays = load_npz(file, ("x_train", "y_train", "x_test", "y_test"))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
