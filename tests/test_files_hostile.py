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


def test_no_pickle_eval_or_exec_in_kiln():
    unsafe_modules = {"pickle", "marshal", "dill", "shelve", "cloudpickle"}
    unsafe_calls = {"eval", "exec", "__import__"}
    for source in Path(kiln.__file__).parent.rglob("*.py"):
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
