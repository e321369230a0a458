"""model.save / load_model, save_weights / load_weights.

Two documented formats, no pickle anywhere:

- weights (``save_weights``, any file name): one safetensors file (see ``kiln.io``), each
  array named ``{position:03d}/{layer name}/{weight name}`` in Keras's layouts;
- a whole model (``save``, conventionally ``*.keras``): a zip archive holding
  ``config.json`` (the architecture and the compile settings) and ``model.weights.safetensors``.

Both are written atomically (a temporary file renamed over the target), so an interrupted
save leaves the previous file intact. Loading checks the file (a damaged or truncated one is
refused with ``CorruptFileError``) and then every weight's position and shape against the
model, naming what does not match; nothing is changed unless everything matches.
"""

from __future__ import annotations

import io as _stdio
import json
import os
import zipfile
from pathlib import Path


from .. import io
from ..io import CorruptFileError
from . import layers as keras_layers
from . import losses as keras_losses
from . import optimizers as keras_optimizers

FORMAT_VERSION = 1
_CONFIG = "config.json"
_WEIGHTS = "model.weights.safetensors"


def _weights_dict(model) -> dict:
    return {f"{i:03d}/{name}": w.numpy() for i, (name, w) in enumerate(model._named_weights())}


def _check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")


def save_weights(model, filepath, overwrite: bool = True) -> None:
    path = Path(filepath)
    _check_overwrite(path, overwrite)
    if not model.built:
        raise ValueError("save_weights: the model has no weights yet (build or fit it first)")
    io.save_arrays(_weights_dict(model), path, {"format": "kiln.keras.weights", "version": FORMAT_VERSION})


def _assign_weights(model, arrays: dict, source) -> None:
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
    for (_, value), (_, w) in zip(stored, named):
        w._array[...] = value


def load_weights(model, filepath) -> None:
    arrays, _ = io.load_arrays(filepath)
    if not model.built:
        raise ValueError("load_weights: build the model first (input_shape, build() or one call) so that its "
                         "weights exist to receive the values")
    _assign_weights(model, arrays, filepath)


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
    weights = _stdio.BytesIO()

    def write_weights(f):
        f.write(weights.getvalue())

    # Serialise the weights into memory through the same safetensors writer.
    tmp = path.with_name(f".{path.name}.weights.tmp")
    io.save_arrays(_weights_dict(model), tmp)
    try:
        blob = tmp.read_bytes()
    finally:
        os.unlink(tmp)

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(_CONFIG, json.dumps(config, indent=1))
            archive.writestr(_WEIGHTS, blob)

    io.atomic_write(path, write)


_LAYERS = {name: getattr(keras_layers, name) for name in keras_layers.__all__
           if isinstance(getattr(keras_layers, name), type)}


def _layer_from_config(entry: dict, custom_objects: dict):
    cls = (custom_objects or {}).get(entry["class_name"]) or _LAYERS.get(entry["class_name"])
    if cls is None:
        raise ValueError(f"load_model: unknown layer class {entry['class_name']!r} "
                         "(pass custom_objects={name: class})")
    return cls.from_config(dict(entry["config"]))


def _rebuild(config: dict, custom_objects: dict):
    from .models import Model, Sequential

    body = config["config"]
    if config["class_name"] == "Sequential":
        model = Sequential(name=config.get("name"))
        if body.get("input_shape") is not None:
            model.add(keras_layers.Input(shape=tuple(body["input_shape"])))
        for entry in body["layers"]:
            model.add(_layer_from_config(entry, custom_objects))
        return model
    tensors = {}
    for entry in body["layers"]:
        if entry["class_name"] == "InputLayer":
            c = entry["config"]
            tensors[(c["name"], 0)] = keras_layers.Input(shape=tuple(c["shape"]), name=c["name"], dtype=c.get("dtype", "float32"))
            continue
        layer = _layer_from_config(entry, custom_objects)
        args = [tensors[tuple(k)] for k in entry["inbound"]]
        out = layer(args[0] if len(args) == 1 else args)
        for i, t in enumerate(out if isinstance(out, list) else [out]):
            tensors[(layer.name, i)] = t
    inputs = [tensors[tuple(k)] for k in body["input_layers"]]
    outputs = [tensors[tuple(k)] for k in body["output_layers"]]
    return Model(inputs if body.get("multi_input") else inputs[0],
                 outputs if body.get("multi_output") else outputs[0], name=config.get("name"))


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save``: architecture, weights and compile settings."""
    path = Path(filepath)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if _CONFIG not in names or _WEIGHTS not in names:
                raise CorruptFileError(f"{path}: not a kiln model file (needs {_CONFIG} and {_WEIGHTS})")
            config = json.loads(archive.read(_CONFIG))
            blob = archive.read(_WEIGHTS)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError, KeyError, EOFError) as error:
        raise CorruptFileError(f"{path}: not a valid kiln model file ({error}); it may be truncated or damaged") \
            from None
    if config.get("format") != "kiln.keras.model":
        raise CorruptFileError(f"{path}: not a kiln model file (format {config.get('format')!r})")
    model = _rebuild(config, custom_objects or {})
    tmp = path.with_name(f".{path.name}.load.tmp")
    try:
        tmp.write_bytes(blob)
        arrays, _ = io.load_arrays(tmp)
    finally:
        if tmp.exists():
            os.unlink(tmp)
    _assign_weights(model, arrays, path)
    compile_config = config.get("compile_config")
    if compile and compile_config and compile_config.get("loss", {}).get("class_name"):
        model.compile(optimizer=keras_optimizers.deserialize(compile_config["optimizer"]),
                      loss=keras_losses.deserialize(compile_config["loss"]),
                      metrics=[m for m in compile_config.get("metrics", []) if m])
    return model


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "CorruptFileError"]
