"""keras.datasets.cifar10: 50000 + 10000 colour images, 32x32x3 uint8, 10 classes."""

from __future__ import annotations

import tarfile

import numpy as np

from ._cache import datasets_dir, locate, unpickle

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    d = unpickle(data, source)
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise ValueError(f"{source}: not a CIFAR-10 batch (a dict with data and labels)")
    x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32)
    return x, np.asarray(d[b"labels"], np.uint8)


def _read_batches(fn: str) -> dict[str, bytes]:
    """The six batch files' bytes: from the extracted folder Keras leaves (either layout), or
    straight from the downloaded archive."""
    folder = datasets_dir()
    for extracted in (folder / "cifar-10-batches-py-target" / "cifar-10-batches-py", folder / "cifar-10-batches-py"):
        if all((extracted / name).exists() for name in _BATCHES):
            return {name: (extracted / name).read_bytes() for name in _BATCHES}
    archive = locate(fn, "cifar-10-batches-py", ORIGIN, "cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz")
    if archive.is_dir():
        missing = [name for name in _BATCHES if not (archive / name).exists()]
        raise FileNotFoundError(f"{fn}: {archive} lacks {', '.join(missing)} (extract {ORIGIN} there)")
    out = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if base in _BATCHES and member.isfile():
                out[base] = tar.extractfile(member).read()
    missing = [name for name in _BATCHES if name not in out]
    if missing:
        raise ValueError(f"{archive}: the archive lacks {', '.join(missing)}")
    return out


def load_data():
    """((x_train (50000, 32, 32, 3) uint8, y_train (50000, 1) uint8), (x_test (10000, 32, 32, 3), y_test
    (10000, 1))), channels last as Keras's default image_data_format."""
    batches = _read_batches("cifar10.load_data")
    parts = [_batch(batches[name], name) for name in _BATCHES]
    x_train = np.concatenate([x for x, _ in parts[:5]])
    y_train = np.concatenate([y for _, y in parts[:5]])
    x_test, y_test = parts[5]
    return ((x_train.transpose(0, 2, 3, 1), y_train.reshape(-1, 1)),
            (x_test.transpose(0, 2, 3, 1), y_test.reshape(-1, 1)))
