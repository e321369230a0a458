"""Where Keras keeps downloaded datasets, and the errors that say what to put there."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np


def datasets_dir() -> Path:
    """$KERAS_HOME/datasets, or ~/.keras/datasets (Keras's cache folder)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def locate(fn: str, name: str, origin: str, *alternatives: str) -> Path:
    """The cached file ``name`` (or the first alternative present), else FileNotFoundError
    naming the file, the folder and where it comes from."""
    folder = datasets_dir()
    for candidate in (name, *alternatives):
        path = Path(candidate).expanduser()
        path = path if path.is_absolute() else folder / path
        if path.exists():
            return path
    raise FileNotFoundError(f"{fn}: {folder / name} is missing. kiln does not download datasets (no network): "
                            f"put the file Keras downloads from {origin} at {folder / name} (the folder is "
                            "$KERAS_HOME/datasets, ~/.keras/datasets without KERAS_HOME)")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only: any other class in the stream is refused,
    so reading a dataset never runs code (CIFAR's batches and IMDB's object arrays are pickles)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "dict"),
                ("_codecs", "encode")}  # how protocol 2 writes bytes (as PyTorch's weights_only admits it)

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):  # files written before NumPy 2
                module = "numpy._core." + module[len("numpy.core."):]
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file (only arrays and "
                                     "plain data are read)")


def unpickle(data: bytes, source: str):
    try:
        return _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise ValueError(f"{source}: not a dataset file kiln can read ({error})") from None


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz; object arrays (IMDB's lists of word ids) through the
    restricted unpickler, never NumPy's allow_pickle."""
    out = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for key in keys:
                with archive.open(f"{key}.npy") as member:
                    data = member.read()
                out[key] = _read_npy(data, f"{path}:{key}")
    except (zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path}: not the dataset file Keras writes ({error})") from None
    return out


def _read_npy(data: bytes, source: str) -> np.ndarray:
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{source}: .npy format version {version} is not supported")
    if dtype.hasobject:
        array = unpickle(stream.read(), source)
        if not isinstance(array, np.ndarray):
            raise ValueError(f"{source}: expected an array, got {type(array).__name__}")
        return array
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False)
