"""Saving: round trips, refusal of damaged files, atomic replacement."""

import os
import sys

import numpy as np
import pytest

import kiln
from kiln import keras, nn
from kiln.io import CorruptFileError
from kiln.keras import layers


def small_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X = np.random.default_rng(0).standard_normal((5, 6, 6, 1)).astype(np.float32)


def test_model_round_trip_predicts_identically(tmp_path):
    model = small_model()
    model.fit(X, np.arange(5) % 4, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert restored.compiled and [type(layer).__name__ for layer in restored.layers] == \
        ["Conv2D", "Flatten", "Dense"]
    restored.fit(X, np.arange(5) % 4, epochs=1, verbose=0)


def test_functional_model_round_trip(tmp_path):
    inp = keras.Input(shape=(7,))
    emb = layers.Embedding(20, 4)(inp)
    out = layers.Dense(2, activation="softmax")(layers.LSTM(5)(emb))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).integers(0, 20, (3, 7))
    model.save(tmp_path / "f.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "f.keras").predict(x), model.predict(x))


def test_weights_round_trip_and_mismatch_is_named(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "w.safetensors")
    other = small_model()
    other.set_weights([w * 0 for w in other.get_weights()])
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    different = keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.Conv2D(5, 3), layers.Flatten(),
                                  layers.Dense(4)])
    before = different.get_weights()
    with pytest.raises(ValueError, match=r"kernel.*\(3, 3, 1, 3\).*\(3, 3, 1, 5\)"):
        different.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(before, different.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_damaged_files_are_refused(tmp_path, damage):
    model = small_model()
    weights, whole = tmp_path / "w.safetensors", tmp_path / "m.keras"
    model.save_weights(weights)
    model.save(whole)
    for path in (weights, whole):
        raw = path.read_bytes()
        if damage == "truncate":
            raw = raw[: len(raw) * 2 // 3]
        elif damage == "flip_byte":
            raw = raw[:-10] + bytes([raw[-10] ^ 0xFF]) + raw[-9:]
        elif damage == "garbage":
            raw = b"not a model file at all" * 10
        else:
            raw = b""
        path.write_bytes(raw)
    with pytest.raises(CorruptFileError, match="truncated or damaged"):
        small_model().load_weights(weights)
    with pytest.raises(CorruptFileError):
        keras.models.load_model(whole)


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    model = small_model()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process is interrupted between writing and renaming

    monkeypatch.setattr(os, "replace", crash)
    model.set_weights([w + 1 for w in model.get_weights()])
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"], "the temporary file is cleaned up"


def test_torch_style_state_dict_save_and_load(tmp_path):
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    kiln.save(model.state_dict(), tmp_path / "model.pth")
    kiln.manual_seed(1)
    other = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    other.load_state_dict(kiln.load(tmp_path / "model.pth"))
    x = kiln.randn(5, 4)
    np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())
    with pytest.raises(TypeError, match="never pickles"):
        kiln.save(model, tmp_path / "whole.pth")


def test_load_state_dict_names_missing_and_misshapen_keys():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    state["1.weight"] = np.zeros((5, 3), np.float32)
    del state["0.bias"]
    with pytest.raises(ValueError, match=r"missing keys: 0\.bias.*1\.weight: shape \(5, 3\)"):
        model.load_state_dict(state)


def test_pytorch_weights_load_unchanged():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(2 * 4 * 4, 3))
    tlstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    lstm.load_state_dict({k: v.detach().numpy() for k, v in tlstm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(model(kiln.tensor(x)).numpy(), tmodel(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    seq = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    out, (h, c) = lstm(kiln.tensor(seq))
    tout, (th, tc) = tlstm(torch.tensor(seq))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), tc.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- matching by name and dtype -----------------------------------------------------------------

def two_dense(name_a=None, name_b=None):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(4,)), layers.Dense(4, name=name_a), layers.Dense(4, name=name_b)])


def _rewrite(path, change):
    """Re-save a weights file with ``change(list of (name, array))`` applied (a well-formed file)."""
    arrays = list(kiln.io.load_arrays(path)[0].items())
    kiln.io.save_arrays(dict(change(arrays)), path)


def test_header_order_does_not_decide_which_layer_gets_which_weights(tmp_path):
    model = two_dense("first", "second")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    _rewrite(path, lambda arrays: arrays[2:] + arrays[:2])  # the second layer's entries first
    other = two_dense("first", "second")
    other.set_weights([w * 0 for w in other.get_weights()])
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = two_dense()  # automatic names (dense_N): matched by position, header order still ignored
    model_auto = two_dense()
    model_auto.save_weights(path)
    _rewrite(path, lambda arrays: arrays[::-1])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model_auto.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_names_decide_over_positions(tmp_path):
    model = two_dense("first", "second")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    # positions swapped, names kept: each layer still gets its own weights
    _rewrite(path, lambda arrays: [(f"{(int(k[:3]) + 2) % 4:03d}{k[3:]}", v) for k, v in arrays])
    other = two_dense("first", "second")
    other.load_weights(path)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rename", [("000/first/kernel", "000/other/kernel"), ("001/first/bias", "001/first/gain"),
                                    ("000/first/kernel", "000/first/kernel_1")])
def test_renamed_entries_are_refused(tmp_path, rename):
    model = two_dense("first", "second")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    _rewrite(path, lambda arrays: [(rename[1] if k == rename[0] else k, v) for k, v in arrays])
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"weight \d \(first/\w+\): the file holds {rename[1]}"):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_layer_of_another_kind_at_the_same_position_is_refused(tmp_path):
    keras.utils.set_random_seed(0)
    conv = keras.Sequential([keras.Input(shape=(4,)), layers.Embedding(4, 4)])
    conv.save_weights(tmp_path / "e.safetensors")
    dense = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(4, use_bias=False)])
    with pytest.raises(ValueError, match=r"dense\w*/kernel\): the file holds 000/embedding\w*/embeddings"):
        dense.load_weights(tmp_path / "e.safetensors")


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_integer_and_bool_arrays_are_refused_for_float_weights(tmp_path, dtype):
    model = two_dense("first", "second")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    _rewrite(path, lambda arrays: [(k, (v * 1000).astype(dtype) if k == "002/second/kernel" else v)
                                   for k, v in arrays])
    with pytest.raises(ValueError, match=rf"weight 2 \(second/kernel\).*dtype {np.dtype(dtype)}.*float32"):
        model.load_weights(path)


def test_float16_and_float64_arrays_load_into_float32_weights(tmp_path):
    model = two_dense("first", "second")
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    _rewrite(path, lambda arrays: [(k, v.astype(np.float64 if i % 2 else np.float16)) for i, (k, v)
                                   in enumerate(arrays)])
    model.load_weights(path)
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_a_count_mismatch_names_both_counts(tmp_path):
    model = two_dense()
    model.save_weights(tmp_path / "w.safetensors")
    bigger = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(4), layers.Dense(4), layers.Dense(4)])
    with pytest.raises(ValueError, match="the file holds 4 weights, the model has 6"):
        bigger.load_weights(tmp_path / "w.safetensors")


def test_load_state_dict_refuses_integer_arrays_for_float_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for dtype in (np.int64, np.bool_):
        bad = dict(state, **{"1.weight": state["1.weight"].astype(dtype)})
        with pytest.raises(ValueError, match=rf"1\.weight: dtype {np.dtype(dtype)} in the state dict, float32"):
            model.load_state_dict(bad)
    model.load_state_dict({k: v.astype(np.float64) for k, v in state.items()})


def _old_format(arrays: dict, metadata=None) -> bytes:
    """The writer as it was before the header checksum (kiln's format version 1 as first shipped)."""
    import json
    import struct
    import zlib
    header, chunks, offset = {}, [], 0
    codes = {np.dtype(np.float32): "F32"}
    for name, arr in arrays.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": codes[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta["kiln.crc32"] = f"{zlib.crc32(b''.join(chunks)):08x}"
    header["__metadata__"] = meta
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + b"".join(chunks)


def test_files_of_the_first_format_still_load(tmp_path):
    import json
    import zipfile
    model = small_model()
    arrays = {f"{i:03d}/{name}": w.numpy() for i, (name, w) in enumerate(model._named_weights())}
    (tmp_path / "old.safetensors").write_bytes(_old_format(arrays, {"format": "kiln.keras.weights", "version": 1}))
    other = small_model()
    other.load_weights(tmp_path / "old.safetensors")
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    config = {"format": "kiln.keras.model", "version": 1, "class_name": "Sequential", "name": model.name,
              "config": model.get_config()}
    with zipfile.ZipFile(tmp_path / "old.keras", "w") as archive:
        archive.writestr("config.json", json.dumps(config, indent=1))
        archive.writestr("model.weights.safetensors", _old_format(arrays))
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "old.keras").predict(X), model.predict(X))


# ---- no fixed temporary names, loading never writes ---------------------------------------------

class _Writes:
    """Records every file opened for writing, created, renamed or removed while ``active``."""
    active = False
    seen: list = []

    @classmethod
    def hook(cls, event, args):
        if not cls.active:
            return
        if event == "open":
            path, mode, flags = args
            if (mode and any(c in mode for c in "wax+")) or (flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                cls.seen.append((event, path))
        elif event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.truncate",
                       "os.chmod"):
            cls.seen.append((event, args[0]))


def test_loading_writes_nothing(tmp_path):
    if not _Writes.seen:  # an audit hook stays for the process: add it once, make it cheap when inactive
        sys.addaudithook(_Writes.hook)
        _Writes.seen = [None]
    model = small_model()
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.safetensors")
    kiln.save({"w": np.ones(3, np.float32)}, tmp_path / "s.pth")
    listing = sorted(os.listdir(tmp_path))
    _Writes.seen, _Writes.active = [], True
    try:
        keras.models.load_model(tmp_path / "m.keras")
        small_model().load_weights(tmp_path / "w.safetensors")
        kiln.load(tmp_path / "s.pth")
    finally:
        _Writes.active = False
    assert _Writes.seen == []
    assert sorted(os.listdir(tmp_path)) == listing


def test_links_planted_at_temporary_names_are_never_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    model = small_model()
    path = tmp_path / "m.keras"
    for name in (".m.keras.load.tmp", ".m.keras.weights.tmp"):  # the fixed names of the first format
        (tmp_path / name).symlink_to(victim)
    model.save(path)
    keras.models.load_model(path)
    model.save_weights(tmp_path / "w.safetensors")
    assert victim.read_text() == "precious"


def test_stale_temporaries_are_cleaned_and_live_ones_kept(tmp_path):
    import fcntl
    model = small_model()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    stale = [tmp_path / f".w.safetensors.{i:016x}.tmp" for i in range(3)]
    for p in stale:
        p.write_bytes(b"left by a killed save")
    live = tmp_path / ".w.safetensors.00000000000000ff.tmp"
    live.write_bytes(b"a save in progress")
    others = [tmp_path / n for n in (".w.safetensors.notours.tmp", ".w.safetensors.abc.tmp", "w.safetensors.bak",
                                     ".x.safetensors.0000000000000000.tmp", ".w.safetensors.00000000000000.tmp")]
    for p in others:
        p.write_bytes(b"not ours")
    (tmp_path / ".w.safetensors.000000000000000a.tmp").symlink_to(tmp_path / "w.safetensors.bak")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running save holds its own
        model.save_weights(path)
    assert not any(p.exists() for p in stale)
    assert live.exists() and all(p.exists() for p in others)
    assert (tmp_path / ".w.safetensors.000000000000000a.tmp").is_symlink()
    small_model().load_weights(path)


def test_saved_files_get_the_usual_permissions(tmp_path):
    model = small_model()
    umask = os.umask(0o022)
    os.umask(umask)
    model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(tmp_path / "m.keras", 0o600)
    model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").stat().st_mode & 0o777 == 0o600
