"""load_model: rebuild a model saved with ``model.save`` (see saving.py for the format)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from .. import io
from ..io import CorruptFileError
from . import layers as keras_layers
from . import losses as keras_losses
from . import optimizers as keras_optimizers
from .model import Model
from .saving import _CONFIG, _WEIGHTS, assign_weights
from .sequential import Sequential

_LAYERS = {name: getattr(keras_layers, name) for name in keras_layers.__all__
           if isinstance(getattr(keras_layers, name), type)}


def _layer_from_config(entry: dict, custom_objects: dict):
    cls = (custom_objects or {}).get(entry["class_name"]) or _LAYERS.get(entry["class_name"])
    if cls is None:
        raise ValueError(f"load_model: unknown layer class {entry['class_name']!r} "
                         "(pass custom_objects={name: class})")
    return cls.from_config(dict(entry["config"]))


def _rebuild(config: dict, custom_objects: dict):
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
    assign_weights(model, arrays, path)
    compile_config = config.get("compile_config")
    if compile and compile_config and compile_config.get("loss", {}).get("class_name"):
        model.compile(optimizer=keras_optimizers.deserialize(compile_config["optimizer"]),
                      loss=keras_losses.deserialize(compile_config["loss"]),
                      metrics=[m for m in compile_config.get("metrics", []) if m])
    return model


__all__ = ["load_model"]
