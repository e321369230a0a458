"""model.save, save_weights / load_weights (load_model, which rebuilds a model, is in loading.py).

Two documented formats, no pickle anywhere:

- weights (``save_weights``, any file name): one safetensors file (see ``kiln.io``), each
  array named ``{position:03d}/{layer name}/{weight name}`` in Keras's layouts;
- a whole model (``save``, conventionally ``*.keras``): a zip archive holding
  ``config.json`` (the architecture and the compile settings) and ``model.weights.safetensors``,
  both stored uncompressed.

Both are written atomically (a uniquely named temporary file renamed over the target), so
an interrupted or killed save leaves the previous file intact. Loading never writes to
disk; it checks the file (a damaged, truncated or malformed one is refused with
``CorruptFileError``) and then every weight's position and shape against the model, naming
what does not match; nothing is changed unless everything matches.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from .. import io
from ..autograd import no_grad
from ..io import CorruptFileError
from . import losses as keras_losses
from . import optimizers as keras_optimizers

FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "model.weights.safetensors"
_KEY = re.compile(r"(\d{3,})/(.+)/([^/]+)")


def _weights_dict(model) -> dict:
    return {f"{i:03d}/{name}": w.numpy(force=True) for i, (name, w) in enumerate(model._named_weights())}


def _weights_metadata() -> dict:
    return {"format": "kiln.keras.weights", "version": FORMAT_VERSION}


def _check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")


def save_weights(model, filepath, overwrite: bool = True) -> None:
    path = Path(filepath)
    _check_overwrite(path, overwrite)
    if not model.built:
        raise ValueError("save_weights: the model has no weights yet (build or fit it first)")
    io.save_arrays(_weights_dict(model), path, _weights_metadata())


def parse_key(key: str):
    """``{position:03d}/{layer}/{weight}`` -> (position, layer, weight), or None."""
    match = _KEY.fullmatch(key)
    return None if match is None else (int(match.group(1)), match.group(2), match.group(3))


def assign_weights(model, arrays: dict, source) -> None:
    named = model._named_weights()
    stored = list(arrays.items())
    problems = []
    if len(stored) != len(named):
        problems.append(f"the file holds {len(stored)} weights, the model has {len(named)}")
    for i, ((file_name, value), (name, w)) in enumerate(zip(stored, named)):
        if value.shape != w.shape:
            problems.append(f"weight {i} ({name}): file has {file_name} of shape {value.shape}, "
                            f"the model needs {w.shape}")
    if problems:
        raise ValueError(f"cannot load weights from {source}: " + "; ".join(problems))
    with no_grad():
        for (_, value), (_, w) in zip(stored, named):
            w.copy_(value)


def load_weights(model, filepath) -> None:
    arrays, _ = io.load_arrays(filepath)
    if not model.built:
        raise ValueError("load_weights: build the model first (input_shape, build() or one call) so that its "
                         "weights exist to receive the values")
    assign_weights(model, arrays, filepath)


def save_model(model, filepath, overwrite: bool = True) -> None:
    path = Path(filepath)
    _check_overwrite(path, overwrite)
    if not model.built:
        raise ValueError("save: the model has no weights yet (build or fit it first)")
    config = {
        "format": "kiln.keras.model", "version": FORMAT_VERSION,
        "class_name": "Sequential" if type(model).__name__ == "Sequential" else "Functional",
        "name": model.name, "config": model.get_config(),
    }
    if getattr(model, "compiled", False):
        config["compile_config"] = {"optimizer": keras_optimizers.serialize(model.optimizer),
                                    "loss": keras_losses.serialize(model.loss),
                                    "metrics": [m if isinstance(m, str) else None for m in model._metric_specs]}
    weights = b"".join(io.encode_arrays(_weights_dict(model), _weights_metadata()))

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_CONFIG, json.dumps(config, indent=1))
            archive.writestr(_WEIGHTS, weights)

    io.atomic_write(path, write)


__all__ = ["save_model", "save_weights", "load_weights", "assign_weights", "CorruptFileError"]
