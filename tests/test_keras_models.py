"""The structure of Keras 3 models in kiln.keras: nested models, shared layers, several inputs
and outputs (lists and dicts), per-output losses, loss weights and metrics.

The History keys and the evaluate() orders written here are those Keras 3.15 (torch backend)
gives for the same models and compile calls."""

import numpy as np
import pytest

from kiln import keras
from kiln.keras import layers

rng = np.random.default_rng(3)
X1 = rng.normal(size=(32, 4)).astype(np.float32)
X2 = rng.normal(size=(32, 3)).astype(np.float32)
YA = rng.normal(size=(32, 2)).astype(np.float32)
YB = rng.integers(0, 3, size=(32,))


def _two_outputs(dict_io=False):
    a, b = keras.Input((4,), name="in_a"), keras.Input((3,), name="in_b")
    h = layers.Dense(5, activation="relu", name="hidden")(layers.concatenate([a, b]))
    out_a = layers.Dense(2, name="out_a")(h)
    out_b = layers.Dense(3, activation="softmax", name="out_b")(h)
    if dict_io:
        return keras.Model({"a": a, "b": b}, {"ya": out_a, "yb": out_b})
    return keras.Model([a, b], [out_a, out_b])


def _val(keys):
    return keys + [f"val_{k}" for k in keys]


def _mse(y, p):
    return float(np.mean((p - y) ** 2))


def _sparse_ce(y, p):
    return float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1 - 1e-7))))


# ---- nested models and shared layers ----------------------------------------------------------------

def _nested():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, layers.Dense(3, name="idense")(inner_in), name="inner")
    a, b = keras.Input((4,), name="x"), keras.Input((4,), name="x2")
    shared = layers.Dense(4, name="shared")
    u, v = inner(shared(a)), inner(shared(b))  # the shared layer and the inner model, each called twice
    seq = keras.Sequential([layers.Dense(3, name="sdense")], name="seqn")
    return keras.Model([a, b], [seq(u), layers.Add(name="add")([u, v])], name="outer"), inner, shared


def test_nested_functional_model_and_shared_layers():
    model, inner, shared = _nested()
    assert [layer.name for layer in model.layers] == ["shared", "inner", "seqn", "add"]
    # Keras 3's weight paths for the same model; each shared weight once
    assert [name for name, _ in model._named_weights()] == ["shared/kernel", "shared/bias", "idense/kernel",
                                                            "idense/bias", "sdense/kernel", "sdense/bias"]
    assert model.count_params() == 20 + 15 + 12
    x1, x2 = X1, rng.normal(size=(32, 4)).astype(np.float32)
    first, second = model.predict([x1, x2], verbose=0)
    k, bias = shared.get_weights()
    ik, ib = inner.get_weights()
    u, v = (x1 @ k + bias) @ ik + ib, (x2 @ k + bias) @ ik + ib
    np.testing.assert_allclose(second, u + v, rtol=1e-5, atol=1e-5)
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line.split()[:2] for line in lines if "(" in line and ")" in line and line.startswith(" ")]
    assert ["inner", "(Functional)"] in rows and ["seqn", "(Sequential)"] in rows


def test_nested_model_trains_and_names_outputs_as_keras(tmp_path):
    model, _, _ = _nested()
    x2 = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.normal(size=(32, 3)).astype(np.float32)
    model.compile("adam", loss="mse", metrics=[["mae"], ["mse"]])
    history = model.fit({"x": X1, "x2": x2}, [y, y], epochs=3, verbose=0, validation_data=([X1, x2], [y, y]))
    assert list(history.history) == _val(["add_loss", "add_mse", "loss", "seqn_loss", "seqn_mae"])
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "nested.keras")
    back = keras.load_model(tmp_path / "nested.keras")
    assert [layer.name for layer in back.layers] == ["shared", "inner", "seqn", "add"]
    for got, want in zip(back.predict([X1, x2], verbose=0), model.predict([X1, x2], verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert back.evaluate([X1, x2], [y, y], verbose=0, return_dict=True) == pytest.approx(
        model.evaluate([X1, x2], [y, y], verbose=0, return_dict=True))
    back.fit([X1, x2], [y, y], verbose=0)  # resumes: the optimizer's state came back too


def test_sequential_holding_a_functional_model(tmp_path):
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, layers.Dense(3, name="idense")(inner_in), name="inner")
    seq = keras.Sequential([keras.Input((4,)), inner, layers.Dense(2, name="top")], name="seq")
    assert [layer.name for layer in seq.layers] == ["inner", "top"]
    assert [name for name, _ in seq._named_weights()] == ["idense/kernel", "idense/bias", "top/kernel", "top/bias"]
    lines = []
    seq.summary(print_fn=lines.append)
    assert any(line.split()[:2] == ["inner", "(Functional)"] for line in lines)
    seq.compile("sgd", "mse")
    seq.fit(X1, YA, epochs=2, verbose=0)
    k, b = inner.get_weights()
    tk, tb = seq.layers[1].get_weights()
    np.testing.assert_allclose(seq.predict(X1, verbose=0), (X1 @ k + b) @ tk + tb, rtol=1e-5, atol=1e-5)
    seq.save(tmp_path / "seq.keras")
    back = keras.load_model(tmp_path / "seq.keras")
    np.testing.assert_allclose(back.predict(X1, verbose=0), seq.predict(X1, verbose=0), rtol=1e-6)
    # a Sequential without an input, built from the shape of the tensor it is first called on
    outer_in = keras.Input((4,))
    stack = keras.Sequential([layers.Dense(3), layers.Dense(1)])
    model = keras.Model(outer_in, stack(outer_in))
    assert model.predict(X1, verbose=0).shape == (32, 1)
    assert model.layers == [stack]


# ---- several inputs and outputs -------------------------------------------------------------------

DICT_KEYS = ["loss", "out_a_loss", "out_a_mae", "out_b_accuracy", "out_b_loss"]


@pytest.mark.parametrize("compile_args, keys", [
    (dict(loss={"out_a": "mse", "out_b": "sparse_categorical_crossentropy"},
          metrics={"out_a": ["mae"], "out_b": ["accuracy"]}), DICT_KEYS),
    (dict(loss=["mse", "sparse_categorical_crossentropy"], metrics=[["mae"], ["accuracy"]], loss_weights=[0.5, 2.0]),
     DICT_KEYS),
    (dict(loss=["mse", "sparse_categorical_crossentropy"], metrics=["mae", "accuracy"]), DICT_KEYS),
    (dict(loss={"out_a": "mse", "out_b": "sparse_categorical_crossentropy"}, metrics={"out_b": "accuracy"},
          loss_weights={"out_a": 0.3, "out_b": 1.0}), ["loss", "out_a_loss", "out_b_accuracy", "out_b_loss"]),
    (dict(loss=["mse", "sparse_categorical_crossentropy"], metrics=[["mae", "mse"], ["accuracy", "accuracy"]]),
     ["loss", "out_a_loss", "out_a_mae", "out_a_mse", "out_b_accuracy", "out_b_accuracy_1", "out_b_loss"]),
    (dict(loss=["mse", "sparse_categorical_crossentropy"],
          metrics=[[keras.metrics.MeanAbsoluteError()], [keras.metrics.SparseCategoricalAccuracy()]]),
     ["loss", "out_a_loss", "out_a_mean_absolute_error", "out_b_loss", "out_b_sparse_categorical_accuracy"]),
])
def test_history_keys_are_keras_3s(compile_args, keys):
    model = _two_outputs()
    model.compile("sgd", **compile_args)
    history = model.fit([X1, X2], [YA, YB], epochs=1, verbose=0, validation_data=([X1, X2], [YA, YB]))
    assert list(history.history) == _val(keys)
    assert list(model.evaluate([X1, X2], [YA, YB], verbose=0, return_dict=True)) == keys


def test_one_loss_for_every_output_and_dict_inputs_outputs():
    model = _two_outputs()
    model.compile("sgd", loss="mse", metrics=[["mae"], ["mae"]])
    yb = np.eye(3, dtype=np.float32)[YB]
    history = model.fit([X1, X2], [YA, yb], verbose=0)
    assert list(history.history) == ["loss", "out_a_loss", "out_a_mae", "out_b_loss", "out_b_mae"]
    model = _two_outputs(dict_io=True)
    model.compile("sgd", loss={"ya": "mse", "yb": "mae"}, metrics={"ya": "mae"})
    history = model.fit({"a": X1, "b": X2}, {"ya": YA, "yb": yb}, verbose=0,
                        validation_data=({"a": X1, "b": X2}, {"ya": YA, "yb": yb}))
    assert list(history.history) == _val(["loss", "ya_loss", "ya_mae", "yb_loss"])
    out = model.predict({"a": X1, "b": X2}, verbose=0)
    assert sorted(out) == ["ya", "yb"] and out["ya"].shape == (32, 2) and out["yb"].shape == (32, 3)
    logs = model.evaluate({"b": X2, "a": X1}, {"yb": yb, "ya": YA}, verbose=0, return_dict=True)
    assert logs["ya_loss"] == pytest.approx(_mse(YA, out["ya"]), rel=1e-5)
    assert logs["yb_loss"] == pytest.approx(float(np.mean(np.abs(out["yb"] - yb))), rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["ya_loss"] + logs["yb_loss"], rel=1e-6)


def test_total_loss_is_the_weighted_sum_of_the_outputs_losses():
    model = _two_outputs()
    model.compile("sgd", loss={"out_b": "sparse_categorical_crossentropy", "out_a": "mse"},
                  loss_weights={"out_a": 0.5, "out_b": 2.0}, metrics={"out_a": "mae", "out_b": "accuracy"})
    pa, pb = model.predict([X1, X2], verbose=0)
    logs = model.evaluate([X1, X2], [YA, YB], batch_size=32, verbose=0, return_dict=True)
    assert logs["out_a_loss"] == pytest.approx(_mse(YA, pa), rel=1e-5)
    assert logs["out_b_loss"] == pytest.approx(_sparse_ce(YB, pb), rel=1e-5)
    assert logs["loss"] == pytest.approx(0.5 * _mse(YA, pa) + 2.0 * _sparse_ce(YB, pb), rel=1e-5)
    assert logs["out_a_mae"] == pytest.approx(float(np.mean(np.abs(pa - YA))), rel=1e-5)
    assert logs["out_b_accuracy"] == pytest.approx(float(np.mean(pb.argmax(1) == YB)))
    # the list: the loss, each output's loss, then the metrics by name (Keras's order)
    values = model.evaluate([X1, X2], [YA, YB], batch_size=32, verbose=0)
    assert values == pytest.approx([logs[k] for k in ["loss", "out_a_loss", "out_b_loss", "out_a_mae",
                                                       "out_b_accuracy"]])
    # one training step moves the weights by the gradient of that weighted sum
    before = model.get_weights()
    first = model.train_on_batch([X1, X2], {"out_a": YA, "out_b": YB})
    assert first == pytest.approx(logs["loss"], rel=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_sample_weights_per_output_and_class_weight():
    model = _two_outputs()
    model.compile("sgd", loss=["mse", "sparse_categorical_crossentropy"])
    pa, pb = model.predict([X1, X2], verbose=0)
    w = rng.uniform(size=32).astype(np.float32)
    per_a = np.mean((pa - YA) ** 2, axis=-1)
    per_b = -np.log(pb[np.arange(32), YB])
    logs = model.evaluate([X1, X2], [YA, YB], sample_weight=[w, None], batch_size=32, verbose=0, return_dict=True)
    assert logs["out_a_loss"] == pytest.approx(float(np.sum(w * per_a) / 32), rel=1e-5)
    assert logs["out_b_loss"] == pytest.approx(float(per_b.mean()), rel=1e-5)
    # one array weighs every output (as Keras)
    logs = model.evaluate([X1, X2], [YA, YB], sample_weight=w, batch_size=32, verbose=0, return_dict=True)
    assert logs["out_b_loss"] == pytest.approx(float(np.sum(w * per_b) / 32), rel=1e-5)
    logs = model.evaluate([X1, X2], {"out_a": YA, "out_b": YB}, sample_weight={"out_b": w}, batch_size=32, verbose=0,
                          return_dict=True)
    assert logs["out_a_loss"] == pytest.approx(float(per_a.mean()), rel=1e-5)
    model.fit([X1, X2], [YA, YB], sample_weight=[w, w], validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match="single output"):
        model.fit([X1, X2], [YA, YB], class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_multi_output_errors_name_the_outputs():
    model = _two_outputs()
    with pytest.raises(ValueError, match=r"not outputs of the model .*out_a"):
        model.compile("sgd", loss={"out_c": "mse"})
    with pytest.raises(ValueError, match="one entry per output"):
        model.compile("sgd", loss=["mse"] * 3)
    with pytest.raises(ValueError, match="one list per output"):
        model.compile("sgd", loss="mse", metrics=["mae"])
    model.compile("sgd", loss=["mse", "sparse_categorical_crossentropy"])
    with pytest.raises(ValueError, match="2 outputs"):
        model.fit([X1, X2], YA, verbose=0)
    with pytest.raises(ValueError, match="no target for the output 'out_b'"):
        model.fit([X1, X2], {"out_a": YA}, verbose=0)
    with pytest.raises(ValueError, match=r"lacks \['in_b'\]"):
        model.predict({"in_a": X1}, verbose=0)
    with pytest.raises(ValueError, match=r"y\[1\] has 31"):
        model.fit([X1, X2], [YA, YB[:31]], verbose=0)


def test_save_load_keeps_the_per_output_compile(tmp_path):
    model = _two_outputs(dict_io=True)
    model.compile("adam", loss={"ya": "mse", "yb": "sparse_categorical_crossentropy"}, loss_weights={"ya": 0.25},
                  metrics={"yb": ["accuracy"]}, weighted_metrics={"ya": ["mae"]})
    model.fit({"a": X1, "b": X2}, {"ya": YA, "yb": YB}, epochs=2, verbose=0)
    model.save(tmp_path / "multi.keras")
    back = keras.load_model(tmp_path / "multi.keras")
    want = model.evaluate({"a": X1, "b": X2}, {"ya": YA, "yb": YB}, verbose=0, return_dict=True)
    got = back.evaluate({"a": X1, "b": X2}, {"ya": YA, "yb": YB}, verbose=0, return_dict=True)
    assert list(got) == ["loss", "ya_loss", "ya_mae", "yb_accuracy", "yb_loss"]
    assert got == pytest.approx(want)
    assert got["loss"] == pytest.approx(0.25 * got["ya_loss"] + got["yb_loss"], rel=1e-5)
    out = back.predict({"a": X1, "b": X2}, verbose=0)
    np.testing.assert_allclose(out["yb"], model.predict({"a": X1, "b": X2}, verbose=0)["yb"], rtol=1e-6)


def test_single_output_given_as_a_dict_or_list_of_one():
    inp = keras.Input((4,))
    model = keras.Model(inp, layers.Dense(2, name="out")(inp))
    model.compile("sgd", loss={"out": "mse"}, metrics={"out": ["mae"]})
    history = model.fit(X1, {"out": YA}, verbose=0)
    assert set(history.history) == {"loss", "mae"}


def test_loss_weight_of_one_output_scales_its_loss(tmp_path):
    inp = keras.Input((4,))
    model = keras.Model(inp, layers.Dense(2)(inp))
    model.compile("sgd", loss="mse", loss_weights=[3.0])
    pred = model.predict(X1, verbose=0)
    assert model.evaluate(X1, YA, batch_size=32, verbose=0) == pytest.approx(3.0 * _mse(YA, pred), rel=1e-5)
    model.fit(X1, YA, verbose=0)
    model.save(tmp_path / "w.keras")
    back = keras.load_model(tmp_path / "w.keras")
    assert back.evaluate(X1, YA, verbose=0) == pytest.approx(model.evaluate(X1, YA, verbose=0), rel=1e-6)


class _Pairs(keras.utils.PyDataset):
    """Batches of ({inputs}, {targets}) for the two-output model."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        rows = slice(8 * i, 8 * (i + 1))
        return {"a": X1[rows], "b": X2[rows]}, {"ya": YA[rows], "yb": YB[rows]}


def test_py_dataset_of_dicts_for_several_outputs():
    model = _two_outputs(dict_io=True)
    model.compile("sgd", loss={"ya": "mse", "yb": "sparse_categorical_crossentropy"})
    history = model.fit(_Pairs(), epochs=1, verbose=0, validation_data=_Pairs())
    assert list(history.history) == _val(["loss", "ya_loss", "yb_loss"])
    assert model.evaluate(_Pairs(), verbose=0, return_dict=True) == pytest.approx(
        model.evaluate({"a": X1, "b": X2}, {"ya": YA, "yb": YB}, batch_size=8, verbose=0, return_dict=True))
    assert model.output_names == ["out_a", "out_b"]  # as Keras: the layers, not the dict keys


def _rewrite_config(path, change):
    """The .keras archive at ``path`` with its config.json passed through ``change``."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_tampered_nested_config_is_refused(tmp_path):
    from kiln.io import CorruptFileError

    model, _, _ = _nested()
    model.save(tmp_path / "m.keras")
    layers_of = lambda c: c["config"]["layers"]  # noqa: E731

    def unknown_shared(config):
        second = next(e for e in layers_of(config) if e.get("shared"))
        second["config"]["name"] = "nowhere"

    def bad_ref(config):
        layers_of(config)[-1]["inbound"][0] = ["shared", 0, -1]

    def deep(config):
        entry = next(e for e in layers_of(config) if e["class_name"] == "Functional")
        body = entry["config"]
        for _ in range(40):
            body = {"name": None, "layers": [{"class_name": "Functional", "config": body, "inbound": [["x", 0]]}],
                    "input_layers": [["x", 0]], "output_layers": [["x", 0]]}
        entry["config"] = body

    for change, message in ((unknown_shared, "calls again 'nowhere'"), (bad_ref, "inbound"),
                            (deep, "nested more than 32 deep")):
        path = tmp_path / f"{change.__name__}.keras"
        path.write_bytes((tmp_path / "m.keras").read_bytes())
        _rewrite_config(path, change)
        with pytest.raises(CorruptFileError, match=message):
            keras.load_model(path)


@pytest.mark.skipif(not __import__("kiln").cuda.is_available(), reason="no cuda device (kiln built without CUDA)")
def test_nested_multi_output_model_trains_on_the_cuda_device():
    model, _, _ = _nested()
    x2 = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.normal(size=(32, 3)).astype(np.float32)
    model.compile("adam", loss=["mse", "mae"], loss_weights=[1.0, 0.5], metrics=[["mae"], []], device="cuda")
    history = model.fit([X1, x2], [y, y], epochs=2, batch_size=8, verbose=0)
    assert all(w._array.__class__ is not np.ndarray for w in model.weights)  # they moved to the device
    assert history.history["loss"][-1] < history.history["loss"][0]
    logs = model.evaluate([X1, x2], [y, y], batch_size=32, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["seqn_loss"] + 0.5 * logs["add_loss"], rel=1e-5)


def test_one_output_in_a_list_or_dict():
    inp = keras.Input((4,))
    out = layers.Dense(2, name="only")(inp)
    for outputs, y in (([out], [YA]), ({"only": out}, {"only": YA})):
        model = keras.Model(inp, outputs)
        model.compile("sgd", loss="mse", metrics=["mae"])
        history = model.fit(X1, y, verbose=0)
        assert set(history.history) == {"loss", "mae"}
        pred = model.predict(X1, verbose=0)  # as Keras: an array for [output], a dict for {name: output}
        assert (pred["only"] if isinstance(outputs, dict) else pred).shape == (32, 2)
