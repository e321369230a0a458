"""model.save, save_weights / load_weights (load_model, which rebuilds a model, is in loading.py).

Two documented formats, no pickle anywhere:

- weights (``save_weights``, any file name): one safetensors file (see ``kiln.io``), each
  array named ``{position:03d}/{layer name}/{weight name}`` in Keras's layouts;
- a whole model (``save``, conventionally ``*.keras``): a zip archive holding
  ``config.json`` (the architecture and the compile settings), ``model.weights.safetensors``
  and, for a compiled model that has trained, ``optimizer.safetensors`` (the optimizer's
  variables, ``{weight index}/{name}``: moments and step counts, so that ``fit`` resumes
  exactly where it stopped), all stored uncompressed.

Both are written atomically (a uniquely named temporary file renamed over the target), so
an interrupted or killed save leaves the previous file intact. Loading never writes to
disk; it checks the file (a damaged, truncated or malformed one is refused with
``CorruptFileError``) and then matches every stored array to a weight of the model:

- **by name**, when every weight's ``layer name/weight name`` is found in the file exactly
  once (a model rebuilt by ``load_model``, or built by the same code in a fresh process):
  positions are then not needed, and the file's header order never matters;
- otherwise **by position**: the array stored at the weight's position must have the same
  weight name (``kernel``, ``bias``, ...) and the same layer name, up to the ``_N`` suffix
  Keras adds to automatic names (``dense`` in the file loads into ``dense_3``: the same code
  run twice in one process), so a renamed or reordered entry is refused.

An array must have the weight's shape, and a float weight refuses integer or bool arrays.
Every mismatch is named (the layer, the stored entry, both shapes); nothing is changed
unless everything matches.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from .. import io
from ..autograd import no_grad
from ..io import CorruptFileError
from . import losses as keras_losses
from . import metrics as keras_metrics
from . import optimizers as keras_optimizers

FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "model.weights.safetensors"
_OPTIMIZER = "optimizer.safetensors"  # the optimizer's variables (moments, step counts), when it has any
_KEY = re.compile(r"(\d{3,})/(.+)/([^/]+)")
_AUTOMATIC_SUFFIX = re.compile(r"_\d+$")


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


def _same_layer(stored: str, own: str) -> bool:
    return stored == own or _AUTOMATIC_SUFFIX.sub("", stored) == _AUTOMATIC_SUFFIX.sub("", own)


def _by_name(named, stored) -> list | None:
    """Stored keys for each weight by ``layer/weight`` name, or None if names do not identify them."""
    names = [name for name, _ in named]
    by_name = {}
    for key in stored:
        parsed = parse_key(key)
        if parsed is None:
            return None
        by_name.setdefault(f"{parsed[1]}/{parsed[2]}", []).append(key)
    if len(set(names)) != len(names) or len(by_name) != len(stored) or set(by_name) != set(names):
        return None
    return [by_name[name][0] for name in names]


def _by_position(named, stored, problems: list) -> list:
    """Stored keys for each weight by position, checking that names agree (see the module doc)."""
    at, unnamed = {}, []
    for key in stored:
        parsed = parse_key(key)
        if parsed is None:
            unnamed.append(key)
        elif parsed[0] in at:
            problems.append(f"the file holds two weights at position {parsed[0]} ({at[parsed[0]]}, {key})")
        else:
            at[parsed[0]] = key
    if unnamed:
        problems.append(f"entries not named position/layer/weight: {', '.join(map(repr, unnamed[:5]))}")
    if len(stored) != len(named):
        problems.append(f"the file holds {len(stored)} weights, the model has {len(named)}")
    keys = []
    for i, (name, _) in enumerate(named):
        key = at.get(i)
        keys.append(key)
        layer, weight = name.rsplit("/", 1)
        if key is None:
            if len(stored) == len(named):
                problems.append(f"weight {i} ({name}): the file holds nothing at position {i}")
            continue
        _, stored_layer, stored_weight = parse_key(key)
        if stored_weight != weight or not _same_layer(stored_layer, layer):
            problems.append(f"weight {i} ({name}): the file holds {key} there, a weight of another "
                            f"{'name' if stored_weight != weight else 'layer'}")
    return keys


def match_weights(model, arrays: dict, source) -> list:
    """[(weight, array)] for every weight of ``model``, or a ValueError naming what does not match."""
    named = model._named_weights()
    problems = []
    keys = _by_name(named, arrays)
    if keys is None:
        keys = _by_position(named, arrays, problems)
    pairs = []
    for i, ((name, w), key) in enumerate(zip(named, keys)):
        if key is None:
            continue
        value = arrays[key]
        if value.shape != w.shape:
            problems.append(f"weight {i} ({name}): file has {key} of shape {value.shape}, "
                            f"the model needs {w.shape}")
        elif np.dtype(w.dtype).kind == "f" and value.dtype.kind != "f":
            problems.append(f"weight {i} ({name}): file has {key} of dtype {value.dtype}, "
                            f"the model's weight is {np.dtype(w.dtype)} (integer and bool arrays are refused)")
        pairs.append((w, value))
    if problems:
        raise ValueError(f"cannot load weights from {source}: " + "; ".join(problems))
    return pairs


def assign_weights(model, arrays: dict, source) -> None:
    pairs = match_weights(model, arrays, source)
    with no_grad():
        for w, value in pairs:
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
    outputs = getattr(model, "_compiled_outputs", None)
    if getattr(model, "compiled", False) and outputs is not None:  # several outputs: see compile_utils
        config["compile_config"] = {"optimizer": keras_optimizers.serialize(model.optimizer),
                                    "loss": {"class_name": None}, "outputs": outputs.serialize()}
    elif getattr(model, "compiled", False):
        config["compile_config"] = {"optimizer": keras_optimizers.serialize(model.optimizer),
                                    "loss": keras_losses.serialize(model.loss),
                                    "metrics": [keras_metrics.serialize(m) for m in model._metric_specs],
                                    "weighted_metrics": [keras_metrics.serialize(m)
                                                         for m in getattr(model, "_weighted_metric_specs", [])]}
        if getattr(model, "_loss_weight", 1.0) != 1.0:
            config["compile_config"]["loss_weights"] = model._loss_weight
    weights = b"".join(io.encode_arrays(_weights_dict(model), _weights_metadata()))
    state = model.optimizer.get_state() if getattr(model, "compiled", False) else {}
    optimizer = b"".join(io.encode_arrays(state)) if state else None

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_CONFIG, json.dumps(config, indent=1))
            archive.writestr(_WEIGHTS, weights)
            if optimizer is not None:  # so that fit resumes where it stopped, as Keras does
                archive.writestr(_OPTIMIZER, optimizer)

    io.atomic_write(path, write)


__all__ = ["save_model", "save_weights", "load_weights", "assign_weights", "match_weights", "CorruptFileError"]
