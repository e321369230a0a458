"""Hostile files: every malformed weights file or model archive is a CorruptFileError, before any
allocation the file does not justify, and loading never runs code or writes to disk.

Each case is one kind of hostile file; ``test_the_kinds_are_counted`` keeps the count the
closing note of issue 10 gives.
"""

import ast
import io as stdio
import json
import pickle
import struct
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kiln
from kiln import keras
from kiln.io import CorruptFileError, decode_arrays, encode_arrays
from kiln.keras import layers


def safetensors(header, data=b"", *, length=None) -> bytes:
    """A file from a header (a dict, or raw bytes) and data; ``length`` overrides the header length."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(blob) if length is None else length) + blob + data


def entry(dtype="F32", shape=(2, 2), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


W16 = b"\x00" * 16
DEEP = b"[" * 100_000 + b"]" * 100_000

# name -> the bytes of a hostile safetensors file (plain safetensors: no kiln checksums to hide behind)
HOSTILE_SAFETENSORS = {
    "shorter_than_length": b"\x01\x02\x03",
    "length_past_end": safetensors({"w": entry()}, W16, length=10**6),
    "length_2_64": safetensors({"w": entry()}, W16, length=2**64 - 1),
    "header_not_utf8": safetensors(b'{"w\xff\xfe": 1}'),
    "header_not_json": safetensors(b"{this is not json", W16),
    "header_bom": safetensors(b"\xef\xbb\xbf" + json.dumps({"w": entry()}).encode(), W16),
    "header_trailing_garbage": safetensors(json.dumps({"w": entry()}).encode() + b"}x", W16),
    "header_not_object": safetensors(b"[1, 2, 3]"),
    "header_nan": safetensors(b'{"w": {"dtype": "F32", "shape": [NaN], "data_offsets": [0, 0]}}'),
    "header_nested_deeply": safetensors(DEEP),
    "header_huge_int": safetensors(b'{"w": {"dtype": "F32", "shape": [1' + b"0" * 5000
                                   + b'], "data_offsets": [0, 0]}}'),
    "duplicate_name": safetensors(b'{"w": ' + json.dumps(entry(offsets=(0, 16))).encode() + b', "w": '
                                  + json.dumps(entry(offsets=(16, 32))).encode() + b"}", W16 * 2),
    "entry_not_object": safetensors({"w": "F32"}, W16),
    "entry_missing_offsets": safetensors({"w": {"dtype": "F32", "shape": [4]}}, W16),
    "entry_unknown_field": safetensors({"w": {**entry(), "code": "import os"}}, W16),
    "dtype_unknown": safetensors({"w": entry(dtype="F128")}, W16),
    "dtype_object": safetensors({"w": entry(dtype="O")}, W16),
    "dtype_not_string": safetensors({"w": {**entry(), "dtype": ["F32"]}}, W16),
    "shape_string": safetensors({"w": {**entry(), "shape": "22"}}, W16),
    "shape_not_list": safetensors({"w": {**entry(), "shape": 4}}, W16),
    "shape_negative": safetensors({"w": entry(shape=(-2, -2))}, W16),
    "shape_float": safetensors({"w": entry(shape=(2.0, 2.0))}, W16),
    "shape_fraction": safetensors({"w": entry(shape=(2.5, 1.6))}, W16),
    "shape_bool": safetensors({"w": entry(shape=(True, 4))}, W16),
    "shape_nested": safetensors({"w": entry(shape=([2], [2]))}, W16),
    "shape_wraps_int64": safetensors({"w": entry(shape=(2**62 + 1, 4))}, W16),  # np.prod: 4 elements
    "shape_too_large_when_empty": safetensors({"w": entry(shape=(0, 2**62, 2**62), offsets=(0, 0))}),
    "shape_too_many_dims": safetensors({"w": entry(shape=(1,) * 40, offsets=(0, 4))}, b"\x00" * 4),
    "offsets_float": safetensors({"w": entry(offsets=(0.0, 16.0))}, W16),
    "offsets_fraction": safetensors({"w": entry(offsets=(0, 16.5))}, W16 + b"\x00"),
    "offsets_strings": safetensors({"w": entry(offsets=("0", "16"))}, W16),
    "offsets_bool": safetensors({"w": entry(shape=(4,), offsets=(False, 16))}, W16),
    "offsets_one_value": safetensors({"w": {**entry(), "data_offsets": [16]}}, W16),
    "offsets_three_values": safetensors({"w": {**entry(), "data_offsets": [0, 8, 16]}}, W16),
    "offsets_reversed": safetensors({"w": entry(offsets=(16, 0))}, W16),
    "offsets_negative": safetensors({"w": entry(offsets=(-16, 0))}, W16),
    "offsets_past_end": safetensors({"w": entry(offsets=(0, 32))}, W16),
    "offsets_gap": safetensors({"a": entry(shape=(2,), offsets=(0, 8)), "b": entry(shape=(2,), offsets=(12, 20))},
                               W16 + b"\x00" * 4),
    "offsets_overlap": safetensors({"a": entry(offsets=(0, 16)), "b": entry(offsets=(8, 24))}, W16 + b"\x00" * 8),
    "offsets_alias": safetensors({"a": entry(offsets=(0, 16)), "b": entry(offsets=(0, 16))}, W16),
    "size_mismatch": safetensors({"w": entry(shape=(3, 3))}, W16),
    "bytes_past_last_array": safetensors({"w": entry()}, W16 + b"\x00" * 4),
    "metadata_not_strings": safetensors({"w": entry(), "__metadata__": {"kiln.crc32": 5}}, W16),
    "metadata_not_object": safetensors({"w": entry(), "__metadata__": ["kiln"]}, W16),
    "metadata_nested": safetensors({"w": entry(), "__metadata__": {"a": {"b": "c"}}}, W16),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_SAFETENSORS))
def test_hostile_safetensors_are_refused(tmp_path, kind):
    raw = HOSTILE_SAFETENSORS[kind]
    with pytest.raises(CorruptFileError, match="not a valid kiln weights file"):
        decode_arrays(raw)
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(raw)
    with pytest.raises(CorruptFileError):
        kiln.load(path)
    model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(2)])
    with pytest.raises(CorruptFileError):
        model.load_weights(path)


def test_the_well_formed_twin_of_the_hostile_files_loads():
    arrays, metadata = decode_arrays(safetensors({"w": entry(), "e": entry(shape=(0, 3), offsets=(16, 16))}, W16))
    assert list(arrays) == ["w", "e"] and arrays["w"].shape == (2, 2) and arrays["e"].shape == (0, 3)
    assert metadata == {} and arrays["w"].flags.writeable
    bools = decode_arrays(safetensors({"b": entry("BOOL", (3,), (0, 3))}, b"\x00\x07\x01"))[0]["b"]
    assert bools.tolist() == [False, True, True] and bools.view(np.uint8).tolist() == [0, 1, 1]


def test_header_length_above_the_maximum_is_refused(monkeypatch):
    raw = safetensors({"w": entry()}, W16)
    monkeypatch.setattr(kiln.io, "_MAX_HEADER", 16)
    with pytest.raises(CorruptFileError, match="more than the 16 allowed"):
        decode_arrays(raw)


def _zip(members: dict, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = stdio.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile kinds
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in (members.items() if isinstance(members, dict) else members):
                archive.writestr(name, data)
    return buffer.getvalue()


def kiln_file(arrays=None) -> bytes:
    return b"".join(encode_arrays(arrays or {"w": np.arange(4, dtype=np.float32).reshape(2, 2) + 0.5}))


def test_the_checksum_covers_the_header():
    raw = kiln_file()
    np.testing.assert_array_equal(decode_arrays(raw)[0]["w"], [[0.5, 1.5], [2.5, 3.5]])
    flipped = raw.replace(b'"F32"', b'"I32"', 1)  # same size, same byte range: only a checksum sees it
    assert flipped != raw
    with pytest.raises(CorruptFileError, match="header checksum"):
        decode_arrays(flipped)
    for old, new in [(b'"shape":[2,2]', b'"shape":[4,1]'), (b'"w"', b'"v"')]:
        with pytest.raises(CorruptFileError, match="header checksum"):
            decode_arrays(raw.replace(old, new, 1))
    with pytest.raises(CorruptFileError, match="checksum"):
        decode_arrays(raw[:-1] + bytes([raw[-1] ^ 1]))


def test_a_file_with_only_the_old_data_checksum_still_loads():
    """Files written before the header checksum: the data CRC alone, checked."""
    data = np.arange(4, dtype=np.float32).tobytes()
    header = {"w": entry(shape=(4,)), "__metadata__": {"kiln.crc32": f"{__import__('zlib').crc32(data):08x}"}}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    raw = struct.pack("<Q", len(blob)) + blob + data
    np.testing.assert_array_equal(decode_arrays(raw)[0]["w"], [0, 1, 2, 3])
    with pytest.raises(CorruptFileError, match="checksum"):
        decode_arrays(raw[:-1] + b"\x01")


def test_pickles_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    payload = pickle.dumps({"w": Payload()})
    for name, raw in [("model.pth", payload), ("zipped.pth", _zip({"archive/data.pkl": payload}))]:
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(CorruptFileError):
            kiln.load(tmp_path / name)
    archive = tmp_path / "pickled.keras"
    archive.write_bytes(_zip({"config.json": b"{}", "model.weights.safetensors": payload}))
    with pytest.raises(CorruptFileError):
        keras.models.load_model(archive)
    assert not marker.exists()


# A DataLoader's worker processes hand batches to their parent (multiprocessing pickles them
# anyway): process-to-process within one program, never a file.
PICKLE_BETWEEN_OWN_PROCESSES = {"utils/_workers.py"}
# keras.datasets reads the files Keras downloads, and two of them are pickles (CIFAR-10's
# python batches, IMDB's object arrays): an Unpickler whose find_class admits NumPy's array
# reconstruction only, so no other callable can be named by the file
# (tests/test_keras_data.py::test_dataset_pickles_cannot_run_code).
RESTRICTED_UNPICKLER = {"keras/datasets/_cache.py"}


def test_no_pickle_eval_or_exec_in_kiln():
    unsafe_modules = {"pickle", "marshal", "dill", "shelve", "cloudpickle"}
    unsafe_calls = {"eval", "exec", "__import__"}
    package = Path(kiln.__file__).parent
    for source in package.rglob("*.py"):
        if source.relative_to(package).as_posix() in PICKLE_BETWEEN_OWN_PROCESSES | RESTRICTED_UNPICKLER:
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                names = {node.func.id} & unsafe_calls
            else:
                continue
            assert not names & (unsafe_modules | unsafe_calls), f"{source}:{node.lineno}: {names}"


# ---- .keras archives ----------------------------------------------------------------------------

def saved_model(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(4, activation="relu", name="hidden"),
                              layers.Dense(2, name="out")])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "good.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.safetensors")
    return config, weights


def _edit(config, change):
    config = json.loads(json.dumps(config))
    change(config)
    return json.dumps(config).encode()


def _layer(config, i):
    return config["config"]["layers"][i]["config"]


def _functional(tmp_path):
    inp = keras.Input(shape=(3,), name="x")
    model = keras.Model(inp, layers.Dense(2, name="head")(inp))
    model.save(tmp_path / "f.keras")
    with zipfile.ZipFile(tmp_path / "f.keras") as archive:
        return json.loads(archive.read("config.json")), archive.read("model.weights.safetensors")


def _wrong_weights(weights):
    arrays = decode_arrays(weights)[0]
    return b"".join(encode_arrays({k.replace("hidden", "other"): v for k, v in arrays.items()}))


def _int_weights(weights):
    return b"".join(encode_arrays({k: v.astype(np.int32) for k, v in decode_arrays(weights)[0].items()}))


# name -> (config, weights) -> the archive's members; each must be refused with CorruptFileError
HOSTILE_CONFIGS = {
    "missing_config": lambda c, w: {"model.weights.safetensors": w},
    "missing_weights": lambda c, w: {"config.json": json.dumps(c)},
    "duplicate_config": lambda c, w: [("config.json", json.dumps(c)), ("config.json", b"{}"),
                                      ("model.weights.safetensors", w)],
    "config_not_utf8": lambda c, w: {"config.json": b"\xff\xfe{}", "model.weights.safetensors": w},
    "config_not_json": lambda c, w: {"config.json": b"{'format': 1}", "model.weights.safetensors": w},
    "config_nested_deeply": lambda c, w: {"config.json": DEEP, "model.weights.safetensors": w},
    "config_not_object": lambda c, w: {"config.json": b"[]", "model.weights.safetensors": w},
    "config_nan": lambda c, w: {"config.json": json.dumps(c).replace('"rate": 0.0', '"x": NaN').replace(
        '"trainable": true', '"trainable": NaN', 1), "model.weights.safetensors": w},
    "format_wrong": lambda c, w: {"config.json": _edit(c, lambda c: c.update(format="keras")),
                                  "model.weights.safetensors": w},
    "version_future": lambda c, w: {"config.json": _edit(c, lambda c: c.update(version=99)),
                                    "model.weights.safetensors": w},
    "version_string": lambda c, w: {"config.json": _edit(c, lambda c: c.update(version="1")),
                                    "model.weights.safetensors": w},
    "class_unknown": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"][0].update(
        class_name="Lambda")), "model.weights.safetensors": w},
    "class_dunder": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"][0].update(
        class_name="__class__")), "model.weights.safetensors": w},
    "model_class_unknown": lambda c, w: {"config.json": _edit(c, lambda c: c.update(class_name="os.system")),
                                         "model.weights.safetensors": w},
    "layers_not_list": lambda c, w: {"config.json": _edit(c, lambda c: c["config"].update(layers={"a": 1})),
                                     "model.weights.safetensors": w},
    "layers_too_many": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"].__setitem__(
        slice(1, 1), [{"class_name": "Dropout", "config": {"rate": 0.5}}] * 100_000)), "model.weights.safetensors": w},
    "input_layer_in_sequential": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"].insert(
        1, {"class_name": "InputLayer", "config": {"input_shape": [4]}})), "model.weights.safetensors": w},
    "layer_not_object": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"].append([1])),
                                      "model.weights.safetensors": w},
    "layer_config_not_object": lambda c, w: {"config.json": _edit(
        c, lambda c: c["config"]["layers"][0].update(config=[4])), "model.weights.safetensors": w},
    "units_string": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(units="4")),
                                  "model.weights.safetensors": w},
    "units_fraction": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(units=4.5)),
                                    "model.weights.safetensors": w},
    "units_bool": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 1).update(units=True)),
                                "model.weights.safetensors": w},
    "units_negative": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(units=-4)),
                                    "model.weights.safetensors": w},
    "units_huge": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(units=2**40)),
                                "model.weights.safetensors": w},
    "units_beyond_the_file": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(units=2**25)),
                                           "model.weights.safetensors": w},
    "input_shape_string": lambda c, w: {"config.json": _edit(c, lambda c: c["config"].update(input_shape="3")),
                                        "model.weights.safetensors": w},
    "input_shape_negative": lambda c, w: {"config.json": _edit(c, lambda c: c["config"].update(input_shape=[-3])),
                                          "model.weights.safetensors": w},
    "input_shape_wraps": lambda c, w: {"config.json": _edit(c, lambda c: c["config"].update(
        input_shape=[2**62 + 1, 4])), "model.weights.safetensors": w},
    "activation_unknown": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(
        activation="__import__('os').system('true')")), "model.weights.safetensors": w},
    "activation_object": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(
        activation={"class_name": "relu"})), "model.weights.safetensors": w},
    "trainable_string": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(trainable="yes")),
                                      "model.weights.safetensors": w},
    "name_not_string": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(name=["hidden"])),
                                     "model.weights.safetensors": w},
    "field_unknown": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(__class__="x")),
                                   "model.weights.safetensors": w},
    "initializer_unknown": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(
        kernel_initializer={"class_name": "os.system", "config": {}})), "model.weights.safetensors": w},
    "initializer_bad_arguments": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 0).update(
        kernel_initializer={"class_name": "constant", "config": {"value": 1, "shell": "rm"}})),
        "model.weights.safetensors": w},
    "duplicate_layer_names": lambda c, w: {"config.json": _edit(c, lambda c: _layer(c, 1).update(name="hidden")),
                                           "model.weights.safetensors": w},
    "weights_of_other_layers": lambda c, w: {"config.json": json.dumps(c),
                                             "model.weights.safetensors": _wrong_weights(w)},
    "weights_of_ints": lambda c, w: {"config.json": json.dumps(c), "model.weights.safetensors": _int_weights(w)},
    "weights_missing_one": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"].append(
        {"class_name": "Dense", "config": {"name": "extra", "units": 2}})), "model.weights.safetensors": w},
    "weights_one_too_many": lambda c, w: {"config.json": _edit(c, lambda c: c["config"]["layers"].pop()),
                                          "model.weights.safetensors": w},
    "weights_damaged": lambda c, w: {"config.json": json.dumps(c), "model.weights.safetensors": w[:-3] + b"abc"},
    "optimizer_unknown": lambda c, w: {"config.json": _edit(c, lambda c: c["compile_config"]["optimizer"].update(
        class_name="subprocess")), "model.weights.safetensors": w},
    "optimizer_bad_arguments": lambda c, w: {"config.json": _edit(
        c, lambda c: c["compile_config"]["optimizer"]["config"].update(learning_rate=[1])),
        "model.weights.safetensors": w},
    "loss_unknown": lambda c, w: {"config.json": _edit(c, lambda c: c["compile_config"]["loss"].update(
        class_name="nope")), "model.weights.safetensors": w},
    "metrics_not_names": lambda c, w: {"config.json": _edit(c, lambda c: c["compile_config"].update(metrics=[{}])),
                                       "model.weights.safetensors": w},
}

HOSTILE_FUNCTIONAL = {
    "inbound_unknown_layer": lambda c: c["config"]["layers"][1].update(inbound=[["nowhere", 0]]),
    "inbound_not_pairs": lambda c: c["config"]["layers"][1].update(inbound="x"),
    "inbound_empty": lambda c: c["config"]["layers"][1].update(inbound=[]),
    "outputs_unknown": lambda c: c["config"].update(output_layers=[["head", 7]]),
    "outputs_empty": lambda c: c["config"].update(output_layers=[]),
    "input_without_shape": lambda c: c["config"]["layers"][0]["config"].pop("shape"),
    "input_dtype_object": lambda c: c["config"]["layers"][0]["config"].update(dtype="object"),
    "multi_output_string": lambda c: c["config"].update(multi_output="yes"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_CONFIGS))
def test_hostile_model_archives_are_refused(tmp_path, kind):
    config, weights = saved_model(tmp_path)
    path = tmp_path / "hostile.keras"
    path.write_bytes(_zip(HOSTILE_CONFIGS[kind](config, weights)))
    with pytest.raises(CorruptFileError, match=str(path)):
        keras.models.load_model(path)


@pytest.mark.parametrize("kind", sorted(HOSTILE_FUNCTIONAL))
def test_hostile_functional_configs_are_refused(tmp_path, kind):
    config, weights = _functional(tmp_path)
    path = tmp_path / "hostile.keras"
    path.write_bytes(_zip({"config.json": _edit(config, HOSTILE_FUNCTIONAL[kind]),
                           "model.weights.safetensors": weights}))
    with pytest.raises(CorruptFileError, match=str(path)):
        keras.models.load_model(path)


def test_the_untouched_archives_load(tmp_path):
    config, weights = saved_model(tmp_path)
    path = tmp_path / "rezipped.keras"
    path.write_bytes(_zip({"config.json": json.dumps(config), "model.weights.safetensors": weights},
                          compression=zipfile.ZIP_DEFLATED))  # deflated by another tool: still fine
    assert keras.models.load_model(path).compiled
    config, weights = _functional(tmp_path)
    path.write_bytes(_zip({"config.json": json.dumps(config), "model.weights.safetensors": weights}))
    assert keras.models.load_model(path).layers[-1].name == "head"


def test_a_deep_stack_is_built_once(tmp_path):
    """Sequential.add rebuilds the stack each time: 1500 Dropouts in a 200 KB config took ~30 s to load."""
    config, weights = saved_model(tmp_path)
    path = tmp_path / "deep.keras"
    dropouts = [{"class_name": "Dropout", "config": {"rate": 0.5}}] * 1500
    deep = _edit(config, lambda c: c["config"]["layers"].__setitem__(slice(1, 1), dropouts))
    path.write_bytes(_zip({"config.json": deep, "model.weights.safetensors": weights}))
    start = time.perf_counter()
    model = keras.models.load_model(path)
    assert time.perf_counter() - start < 3 and len(model.layers) == 1502


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_config_cannot_ask_for_more_memory_than_its_file_holds(tmp_path):
    """A 4 KB file whose config says Dense(units=2**25): refused before the (3, 2**25) kernel exists."""
    config, weights = saved_model(tmp_path)
    path = tmp_path / "big.keras"
    path.write_bytes(_zip({"config.json": _edit(config, lambda c: _layer(c, 0).update(units=2**25)),
                           "model.weights.safetensors": weights}))
    assert path.stat().st_size < 4096

    def load():
        with pytest.raises(CorruptFileError, match=r"hidden/kernel of shape \(3, 33554432\).*\(3, 4\)"):
            keras.models.load_model(path)

    assert _peak_bytes(load) < 4 * 2**20


def _bomb(tmp_path, inflated: int) -> Path:
    config, _ = saved_model(tmp_path)
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps(config))
        with archive.open("model.weights.safetensors", "w", force_zip64=True) as member:
            chunk = b"\x00" * 2**20
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
    return path


def test_a_zip_bomb_is_refused_before_inflating(tmp_path):
    path = _bomb(tmp_path, 64 * 2**20)
    assert path.stat().st_size < 2**20

    def load():
        with pytest.raises(CorruptFileError, match="zip bomb"):
            keras.models.load_model(path)

    assert _peak_bytes(load) < 4 * 2**20


def _patch_central_directory(raw: bytes, name: bytes, patch) -> bytes:
    """Apply ``patch(record: bytearray)`` to the central directory and local header of member ``name``."""
    raw = bytearray(raw)
    at = raw.find(b"PK\x01\x02" + b"", 0)
    while at >= 0:
        n, m, k = struct.unpack("<HHH", raw[at + 28:at + 34])
        if raw[at + 46:at + 46 + n] == name:
            record = bytearray(raw[at:at + 46])
            patch(record, central=True)
            raw[at:at + 46] = record
            local = struct.unpack("<I", raw[at + 42:at + 46])[0]
            record = bytearray(raw[local:local + 30])
            patch(record, central=False)
            raw[local:local + 30] = record
        at = raw.find(b"PK\x01\x02", at + 46 + n + m + k)
    return bytes(raw)


def test_a_member_that_inflates_past_its_declared_size_is_cut_and_refused(tmp_path):
    config, weights = saved_model(tmp_path)
    raw = _zip({"config.json": json.dumps(config), "model.weights.safetensors": weights + b"\x00" * 100_000},
               compression=zipfile.ZIP_DEFLATED)

    def declare_less(record, central):
        offset = 24 if central else 22  # uncompressed size
        record[offset:offset + 4] = struct.pack("<I", len(weights))

    path = tmp_path / "liar.keras"
    path.write_bytes(_patch_central_directory(raw, b"model.weights.safetensors", declare_less))
    with pytest.raises(CorruptFileError):
        keras.models.load_model(path)


def test_encrypted_and_exotic_members_are_refused(tmp_path):
    config, weights = saved_model(tmp_path)
    members = {"config.json": json.dumps(config), "model.weights.safetensors": weights}
    path = tmp_path / "odd.keras"
    path.write_bytes(_zip(members, compression=zipfile.ZIP_LZMA))
    with pytest.raises(CorruptFileError, match="compression method 14"):
        keras.models.load_model(path)

    def encrypt(record, central):
        offset = 8 if central else 6  # general purpose flags
        record[offset] |= 1

    path.write_bytes(_patch_central_directory(_zip(members), b"config.json", encrypt))
    with pytest.raises(CorruptFileError, match="encrypted"):
        keras.models.load_model(path)


def test_the_kinds_are_counted():
    kinds = (len(HOSTILE_SAFETENSORS)  # 45
             + 1  # a header above the maximum length
             + 4  # what only a checksum sees: the header's dtype, shape and name flipped, a data byte flipped
             + 3  # pickles: a plain one, a zipped one (torch's layout), one as a .keras archive's weights
             + len(HOSTILE_CONFIGS) + len(HOSTILE_FUNCTIONAL)  # 45 + 8 (Dense(units=2**25) among them)
             + 1  # the zip bomb
             + 1  # a member inflating past its declared size
             + 2)  # an LZMA member, an encrypted one
    print(f"\n{kinds} kinds of hostile file refused")
    assert kinds == 110
