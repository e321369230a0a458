"""load_model: rebuild a model saved with ``model.save`` (see saving.py for the format).

Nothing here writes to disk or runs code from the file. In order:

1. the archive: exactly one ``config.json`` and one ``model.weights.safetensors``, stored or
   deflated, not encrypted; each member's declared size is checked against its compressed
   size (a stored member is its own size, a deflated one may inflate ``_MAX_INFLATION``
   times) before a byte is inflated, and reading stops at the declared size;
2. the weights: the whole safetensors file, from memory (``kiln.io.decode_arrays``);
3. the config: strict JSON, its structure (every field's type, layer names unique,
   references to known layers) and every layer's fields (``Layer.from_config``);
4. the build: each weight a layer asks for (``add_weight``) must be stored under its name
   with its shape, checked before it is allocated, so the file's own size bounds the memory
   a config can ask for;
5. the weights are assigned (``assign_weights``), then the compile settings.

Any failure is a ``CorruptFileError`` naming the file and what is wrong (a config this kiln
cannot build, such as ``LSTM(stateful=True)``, stays a NotImplementedError).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections import defaultdict, deque
from pathlib import Path

from .. import io
from ..io import CorruptFileError
from . import compile_utils
from . import layers as keras_layers
from . import losses as keras_losses
from . import metrics as keras_metrics
from . import optimizers as keras_optimizers
from .layers.base import check_config, checking_new_weights
from .model import Model
from .saving import _CONFIG, _OPTIMIZER, _WEIGHTS, FORMAT_VERSION, assign_weights, parse_key
from .sequential import Sequential

_LAYERS = {name: getattr(keras_layers, name) for name in keras_layers.__all__
           if isinstance(getattr(keras_layers, name), type)}
_MAX_CONFIG = 16 * 1024 * 1024
_MAX_LAYERS = 100_000  # Python objects take ~35 bytes for each byte of config
_MAX_INFLATION = 64
_INPUT_DTYPES = frozenset({"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                           "string"})
# What a malformed config makes the constructors and the build raise, turned into CorruptFileError.
_CONFIG_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


# ---- the archive ------------------------------------------------------------------------------

def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, archive_size: int, path) -> bytes:
    def bad(why):
        return CorruptFileError(f"{path}: {info.filename} {why}")

    if info.flag_bits & 0x1:
        raise bad("is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        limit = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        limit = _MAX_INFLATION * info.compress_size
    else:
        raise bad(f"uses compression method {info.compress_type} (kiln reads stored or deflated members)")
    if info.compress_size > archive_size:
        raise bad(f"claims {info.compress_size} compressed bytes in an archive of {archive_size}")
    if info.file_size > limit:
        bound = "a stored member holds" if info.compress_type == zipfile.ZIP_STORED else \
            f"{_MAX_INFLATION} times as many"
        raise bad(f"declares {info.file_size} bytes from {info.compress_size} compressed, more than {bound} "
                  "(a zip bomb?)")
    if info.filename == _CONFIG and info.file_size > _MAX_CONFIG:
        raise bad(f"declares {info.file_size} bytes, more than the {_MAX_CONFIG} a config may have")
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)  # zipfile stops at the declared size; never past it
    if len(data) != info.file_size:
        raise bad(f"holds {len(data)} bytes where it declares {info.file_size}")
    return data


def _read_archive(path: Path) -> tuple[bytes, bytes, bytes | None]:
    """(config bytes, weights bytes, optimizer bytes or None) of a .keras archive, with the
    checks of step 1."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
                members = []
                for name, optional in ((_CONFIG, False), (_WEIGHTS, False), (_OPTIMIZER, True)):
                    found = [info for info in infos if info.filename == name]
                    if optional and not found:
                        members.append(None)
                        continue
                    if len(found) != 1:
                        raise CorruptFileError(f"{path}: not a kiln model file (it needs one {name}, "
                                               f"it has {len(found)})")
                    members.append(_read_member(archive, found[0], size, path))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError) as error:
        if isinstance(error, CorruptFileError):
            raise
        raise CorruptFileError(f"{path}: not a valid kiln model file ({error}); it may be truncated or damaged") \
            from None
    return members[0], members[1], members[2]


# ---- the config -------------------------------------------------------------------------------

_MAX_DEPTH = 32  # models nested in models


def _check_structure(config, path) -> None:
    """Every field load_model reads has the type it needs; layer names are unique."""
    def need(condition, what):
        if not condition:
            raise CorruptFileError(f"{path}: not a valid kiln model config ({what})")

    need(isinstance(config, dict), "not a JSON object")
    need(config.get("format") == "kiln.keras.model", f"format {config.get('format')!r}")
    version = config.get("version")
    need(type(version) is int and 1 <= version, f"version {version!r}")
    if version > FORMAT_VERSION:
        raise CorruptFileError(f"{path}: written in format version {version} by a newer kiln; this one reads "
                               f"up to {FORMAT_VERSION}")
    need(config.get("class_name") in ("Sequential", "Functional"), f"class_name {config.get('class_name')!r}")
    need(config.get("name") is None or isinstance(config["name"], str), "name is not a string")
    _check_body(config["class_name"], config.get("config"), need, set(), 0)
    _check_compile(config, need)


def _check_body(class_name: str, body, need, names: set, depth: int) -> None:
    """A model's config (its layers, recursively for nested models); ``names`` collects the layer
    names of the whole file, which must be unique (each weight is stored under its layer's name)."""
    def is_ref(ref):
        return isinstance(ref, list) and len(ref) in (2, 3) and isinstance(ref[0], str) and \
            all(type(r) is int and 0 <= r for r in ref[1:])

    need(depth <= _MAX_DEPTH, f"models nested more than {_MAX_DEPTH} deep")
    need(isinstance(body, dict) and isinstance(body.get("layers"), list), "config.layers is not a list")
    need(len(body["layers"]) <= _MAX_LAYERS, f"{len(body['layers'])} layers, more than {_MAX_LAYERS}")
    for i, entry in enumerate(body["layers"]):
        need(isinstance(entry, dict) and isinstance(entry.get("class_name"), str)
             and isinstance(entry.get("config"), dict), f"layer {i} is not {{class_name, config}}")
        name = entry["config"].get("name")
        need(name is None or isinstance(name, str), f"layer {i} has the name {name!r}")
        shared = entry.get("shared", False)
        need(isinstance(shared, bool), f"layer {i} has shared={shared!r}")
        if shared:
            need(class_name == "Functional" and name in names, f"layer {i} calls again {name!r}, no earlier layer")
        else:
            need(name is None or name not in names, f"two layers are named {name!r}")
            names.add(name)
        if class_name == "Sequential":
            need(entry["class_name"] != "InputLayer", f"layer {i} is an InputLayer (Sequential has input_shape)")
        else:
            need(isinstance(entry.get("inbound"), list) and all(is_ref(r) for r in entry["inbound"]),
                 f"layer {i} has no list of inbound [layer, index] pairs")
            if entry["class_name"] == "InputLayer":
                need(isinstance(name, str), f"input {i} has no name")
                need(entry["config"].get("dtype", "float32") in _INPUT_DTYPES,
                     f"input {name!r} has dtype {entry['config'].get('dtype')!r}")
            else:
                need(entry["inbound"], f"layer {i} has no inputs")
            # attention: a call's plain keyword arguments
            kwargs = entry.get("call_kwargs", {})
            need(isinstance(kwargs, dict) and all(isinstance(k, str) and k.isidentifier() and k != "training"
                                                  and isinstance(v, (bool, int, float, str, type(None)))
                                                  for k, v in kwargs.items()),
                 f"layer {i} has call_kwargs that are not plain named values")
        if entry["class_name"] in ("Functional", "Sequential") and not shared:
            _check_body(entry["class_name"], entry["config"], need, names, depth + 1)
    if class_name == "Functional":
        for key in ("input_layers", "output_layers"):
            refs = body.get(key)
            need(isinstance(refs, list) and refs and all(is_ref(r) for r in refs), f"{key} is not a list of pairs")
        need(all(isinstance(body.get(k, False), bool) for k in ("multi_input", "multi_output")),
             "multi_input/multi_output are not true or false")
        for key, refs in (("input_keys", "input_layers"), ("output_keys", "output_layers")):
            keys = body.get(key)
            need(keys is None or isinstance(keys, list) and len(keys) == len(body[refs]) and
                 all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys),
                 f"{key} is not a list of distinct names, one per {refs[:-7]}")


def _is_metric(m) -> bool:
    return m is None or isinstance(m, str) or (isinstance(m, dict) and isinstance(m.get("class_name"), str)
                                               and isinstance(m.get("config", {}), dict))


def _is_loss(value) -> bool:
    return isinstance(value, dict) and (value.get("class_name") is None or isinstance(value["class_name"], str)) \
        and isinstance(value.get("config", {}), dict)


def _check_compile(config, need) -> None:
    compile_config = config.get("compile_config")
    if compile_config is not None:
        need(isinstance(compile_config, dict), "compile_config is not an object")
        for key in ("optimizer", "loss"):
            value = compile_config.get(key)
            need(isinstance(value, dict) and (value.get("class_name") is None or isinstance(value["class_name"], str))
                 and isinstance(value.get("config", {}), dict), f"compile_config.{key} is not {{class_name, config}}")
        for key in ("metrics", "weighted_metrics"):
            metrics = compile_config.get(key, [])
            need(isinstance(metrics, list) and all(_is_metric(m) for m in metrics),
                 f"compile_config.{key} is not a list of names and {{class_name, config}} objects")
        weight = compile_config.get("loss_weights", 1.0)
        need(isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight),
             "compile_config.loss_weights is not a finite number")
        outputs = compile_config.get("outputs")
        if outputs is not None:  # a model with several outputs: per-output losses, weights and metrics
            need(isinstance(outputs, dict) and isinstance(outputs.get("names"), list) and outputs["names"]
                 and all(isinstance(n, str) for n in outputs["names"]), "compile_config.outputs has no names")
            count = len(outputs["names"])

            def per_output(key, ok):
                values = outputs.get(key)
                need(isinstance(values, list) and len(values) == count and all(ok(v) for v in values),
                     f"compile_config.outputs.{key} is not one entry per output")

            per_output("losses", lambda v: v is None or _is_loss(v))
            per_output("loss_weights", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v))
            for key in ("metrics", "weighted_metrics"):
                per_output(key, lambda v: isinstance(v, list) and all(_is_metric(m) for m in v))


def _shape(value, where, path) -> tuple:
    try:
        if value is None:
            raise ValueError
        return tuple(check_config("Input", {"shape": value})["shape"])
    except (TypeError, ValueError):
        raise CorruptFileError(f"{path}: the {where} is {value!r}, not a list of sizes in [0, 2**31 - 1] "
                               "(null for any)") from None


def _why(error: Exception) -> str:
    if isinstance(error, KeyError):  # the registries' lookups: a name this kiln does not know
        return f"unknown name {error.args[0]!r}" if error.args else "a missing name"
    return str(error)


def _layer_from_config(i: int, entry: dict, custom_objects: dict, path):
    if entry["class_name"] in ("Functional", "Sequential"):  # a nested model, checked by _check_body
        return _rebuild({"class_name": entry["class_name"], "name": entry["config"].get("name"),
                         "config": entry["config"]}, custom_objects, path)
    cls = (custom_objects or {}).get(entry["class_name"]) or _LAYERS.get(entry["class_name"])
    if cls is None:
        raise CorruptFileError(f"{path}: layer {i} has the unknown class {entry['class_name']!r} "
                               "(pass custom_objects={name: class} for your own layers)")
    config = dict(entry["config"])
    if cls is _LAYERS.get("Lambda") and isinstance(config.get("function"), str):
        # a Lambda's function is saved by name; the code comes from the caller, never the file
        function = (custom_objects or {}).get(config["function"])
        if not callable(function):
            raise CorruptFileError(f"{path}: layer {i} is a Lambda of the function {config['function']!r}: pass "
                                   f"custom_objects={{{config['function']!r}: function}} to load it")
        config["function"] = function
    try:
        return cls.from_config(config)
    except CorruptFileError:
        raise
    except _CONFIG_ERRORS as error:
        raise CorruptFileError(f"{path}: layer {i} ({entry['class_name']}) has an invalid config: {_why(error)}") \
            from None


def _build(what: str, call, path):
    try:
        return call()
    except CorruptFileError:
        raise
    except _CONFIG_ERRORS as error:
        raise CorruptFileError(f"{path}: cannot build {what} from the config: {_why(error)}") from None


def _rebuild(config: dict, custom_objects: dict, path):
    body = config["config"]
    if config["class_name"] == "Sequential":
        stack = [_layer_from_config(i, entry, custom_objects, path) for i, entry in enumerate(body["layers"])]
        shape = None if body.get("input_shape") is None else _shape(body["input_shape"], "input_shape", path)
        model = Sequential(name=config.get("name"))
        # Sequential.add builds the whole stack again whenever it knows its input (quadratic in
        # the layers: a 264 KB config of 2000 Dropouts took a minute), so the stack is added
        # unbuilt, the first layer's input_shape held back, and built once.
        hint = stack[0].input_shape_hint if stack else None
        if stack:
            object.__setattr__(stack[0], "input_shape_hint", None)
        try:
            for layer in stack:
                model.add(layer)
        finally:
            if stack:
                object.__setattr__(stack[0], "input_shape_hint", hint)
        shape = shape if shape is not None else hint
        dtype = body.get("input_dtype", "float32")
        if dtype not in _INPUT_DTYPES:
            raise CorruptFileError(f"{path}: the Sequential's input_dtype is {dtype!r}")
        if shape is not None:
            def build():
                model._input = keras_layers.Input(shape=tuple(shape), dtype=dtype)
                model._build_symbolic()
            _build("the layers", build, path)
        return model
    tensors, built, calls = {}, {}, {}

    def tensor(ref, i):
        key = (ref[0], ref[1], ref[2] if len(ref) == 3 else 0)  # [layer, output, call]: call 0 if left out
        if key not in tensors:
            raise CorruptFileError(f"{path}: {i} reads {ref}, which no earlier layer makes")
        return tensors[key]

    for i, entry in enumerate(body["layers"]):
        if entry["class_name"] == "InputLayer":
            c = entry["config"]
            shape = _shape(c.get("shape"), f"shape of input {c['name']!r}", path)
            tensors[(c["name"], 0, 0)] = keras_layers.Input(shape=shape, name=c["name"],
                                                            dtype=c.get("dtype", "float32"))
            continue
        if entry.get("shared"):  # another call of a layer made earlier (_check_body: it exists)
            layer = built[entry["config"]["name"]]
        else:
            layer = _layer_from_config(i, entry, custom_objects, path)
            built[layer.name] = layer
        call = calls.get(layer.name, 0)
        calls[layer.name] = call + 1
        args = [tensor(ref, f"layer {i}") for ref in entry["inbound"]]
        kwargs = entry.get("call_kwargs", {})
        out = _build(f"layer {i} ({layer.name})", lambda: layer(args[0] if len(args) == 1 else args, **kwargs), path)
        if isinstance(out, dict):
            out = [out[k] for k in sorted(out)]
        for k, t in enumerate(out if isinstance(out, list) else [out]):
            tensors[(layer.name, k, call)] = t
    inputs = [tensor(ref, "the model's input_layers") for ref in body["input_layers"]]
    outputs = [tensor(ref, "the model's output_layers") for ref in body["output_layers"]]

    def structure(tensors_, keys, multi):
        if keys is not None:
            return dict(zip(keys, tensors_))
        return tensors_ if multi else tensors_[0]

    return _build("the model", lambda: Model(structure(inputs, body.get("input_keys"), body.get("multi_input")),
                                             structure(outputs, body.get("output_keys"), body.get("multi_output")),
                                             name=config.get("name")), path)


def _weight_claims(arrays: dict, path):
    """add_weight's check during the build: each weight must be stored, by name, with its shape."""
    stored = defaultdict(deque)
    for key in sorted(arrays, key=lambda k: (parse_key(k) or (0,))[0]):
        parsed = parse_key(key)
        if parsed is None:
            raise CorruptFileError(f"{path}: the weights file holds {key!r}, not named position/layer/weight")
        stored[f"{parsed[1]}/{parsed[2]}"].append(key)

    def check(layer, name, shape):
        keys = stored.get(f"{layer.name}/{name}")
        if not keys:
            raise CorruptFileError(f"{path}: the config makes layer {layer.name!r} ask for a weight {name!r} of "
                                   f"shape {shape}, which the weights file does not hold")
        key = keys.popleft()
        if arrays[key].shape != shape:
            raise CorruptFileError(f"{path}: the config makes {layer.name}/{name} of shape {shape}, the weights "
                                   f"file holds {key} of shape {arrays[key].shape}")

    return check


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save``: architecture, weights and compile settings.

    ``safe_mode`` is accepted for Keras's signature: kiln's files hold no code, so there is
    nothing unsafe to allow.
    """
    path = Path(filepath)
    config_bytes, weights_bytes, optimizer_bytes = _read_archive(path)
    arrays, _ = io.decode_arrays(weights_bytes, f"{path}: {_WEIGHTS}")
    del weights_bytes
    try:
        config = io.parse_json(config_bytes, _CONFIG)
    except ValueError as error:
        raise CorruptFileError(f"{path}: not a valid kiln model file ({error}); it may be truncated or damaged") \
            from None
    _check_structure(config, path)
    with checking_new_weights(_weight_claims(arrays, path)):
        model = _rebuild(config, custom_objects or {}, path)
    try:
        assign_weights(model, arrays, path)
    except ValueError as error:
        raise CorruptFileError(str(error)) from None
    compile_config = config.get("compile_config")
    if compile and compile_config and compile_config.get("outputs") is not None:
        _build("the compile settings", lambda: model.compile(
            optimizer=keras_optimizers.deserialize(compile_config["optimizer"]),
            **compile_utils.deserialize(compile_config["outputs"])), path)
        if optimizer_bytes is not None:
            state, _ = io.decode_arrays(optimizer_bytes, f"{path}: {_OPTIMIZER}")
            model.optimizer.set_state(state)
    elif compile and compile_config and compile_config["loss"].get("class_name"):
        _build("the compile settings", lambda: model.compile(
            optimizer=keras_optimizers.deserialize(compile_config["optimizer"]),
            loss=keras_losses.deserialize(compile_config["loss"]), loss_weights=compile_config.get("loss_weights"),
            metrics=[keras_metrics.deserialize(m) for m in compile_config.get("metrics", []) if m],
            weighted_metrics=[keras_metrics.deserialize(m) for m in compile_config.get("weighted_metrics", []) if m]),
            path)
        if optimizer_bytes is not None:
            state, _ = io.decode_arrays(optimizer_bytes, f"{path}: {_OPTIMIZER}")
            model.optimizer.set_state(state)  # checked against the optimizer when fit builds it
    return model


__all__ = ["load_model"]
