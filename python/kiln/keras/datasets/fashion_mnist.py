"""keras.datasets.fashion_mnist: 60000 + 10000 images of clothes, 28x28 uint8, 10 classes."""

from __future__ import annotations

import gzip

import numpy as np

from ._cache import datasets_dir, locate

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz")


def _idx(path, offset: int, what: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < offset:
        raise ValueError(f"{path}: too short for an IDX {what} file")
    return np.frombuffer(data, np.uint8, offset=offset)


def load_data():
    """((x_train (60000, 28, 28) uint8, y_train (60000,) uint8), (x_test (10000, 28, 28), y_test (10000,)))
    from the four IDX files Keras keeps in ~/.keras/datasets/fashion-mnist/."""
    paths = [locate("fashion_mnist.load_data", f"fashion-mnist/{name}", ORIGIN + name) for name in FILES]
    y_train = _idx(paths[0], 8, "label")
    x_train = _idx(paths[1], 16, "image")
    y_test = _idx(paths[2], 8, "label")
    x_test = _idx(paths[3], 16, "image")
    for x, y, name in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if x.size != y.size * 28 * 28:
            raise ValueError(f"{datasets_dir() / 'fashion-mnist'}: {name} holds {y.size} labels and {x.size} pixels "
                             f"(28 x 28 per image expected)")
    return (x_train.reshape(len(y_train), 28, 28), y_train), (x_test.reshape(len(y_test), 28, 28), y_test)
