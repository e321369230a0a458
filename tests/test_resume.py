"""Resuming from a checkpoint reproduces the uninterrupted run bit for bit on the CPU.

Each test trains 4 epochs in one go, then 2 epochs, saves, loads into a fresh model and
trains 2 more from the same random state (the shuffle order and dropout draw from kiln's
generator, which a checkpoint of the weights does not hold: the test carries it over),
and compares every epoch's loss and the final weights exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln import io, keras, nn, optim


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((96, 6)).astype(np.float32), rng.integers(0, 3, 96)


def keras_model(optimizer: str, device: str | None = None):
    kiln.manual_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.25), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer, "sparse_categorical_crossentropy", device=device)
    return model


def keras_runs(optimizer, tmp_path, carry_optimizer_state: bool):
    x, y = data()
    whole = keras_model(optimizer)
    curve = whole.fit(x, y, epochs=4, batch_size=16, verbose=0).history["loss"]

    first = keras_model(optimizer)
    losses = first.fit(x, y, epochs=2, batch_size=16, verbose=0).history["loss"]
    first.save(tmp_path / "checkpoint.keras")
    if carry_optimizer_state:  # what model.save does not yet write: the optimizer's variables
        io.save_arrays(first.optimizer.get_state(), tmp_path / "optimizer.safetensors")
    random_state = kiln.random.generator().bit_generator.state

    kiln.manual_seed(12345)  # the fresh process draws something else until the state is restored
    resumed = keras.models.load_model(tmp_path / "checkpoint.keras")
    if carry_optimizer_state:
        resumed.optimizer.set_state(io.load_arrays(tmp_path / "optimizer.safetensors")[0])
    kiln.random.generator().bit_generator.state = random_state
    losses += resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0).history["loss"]
    return curve, losses, whole.get_weights(), resumed.get_weights()


@pytest.mark.parametrize("optimizer,carry", [("sgd", False), ("adam", True), ("rmsprop", True), ("adamw", True)])
def test_keras_fit_resumes_bit_for_bit(optimizer, carry, tmp_path):
    curve, resumed_curve, weights, resumed_weights = keras_runs(optimizer, tmp_path, carry)
    assert resumed_curve == curve
    assert len(weights) == len(resumed_weights)
    for a, b in zip(weights, resumed_weights):
        np.testing.assert_array_equal(a, b)


def test_keras_fit_resumes_bit_for_bit_from_the_keras_file_alone(tmp_path):
    curve, resumed_curve, _, _ = keras_runs("adam", tmp_path, carry_optimizer_state=False)
    assert resumed_curve == curve


needs_cuda = pytest.mark.skipif(not kiln.cuda.is_available(), reason="no cuda device (real or emulated)")


@needs_cuda
def test_keras_model_trained_on_cuda_saves_its_optimizer_state_per_weight(tmp_path):
    # The moments live in one device buffer per group: the file must hold them per weight.
    x, y = data()
    model = keras_model("adam", device="cuda")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "checkpoint.keras")
    state = model.optimizer.get_state()
    shapes = [w.shape for w in model.get_weights()]
    assert [state[f"{i}/exp_avg"].shape for i in range(len(shapes))] == shapes
    loaded = keras.models.load_model(tmp_path / "checkpoint.keras").optimizer.get_state()
    assert loaded.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(np.asarray(loaded[key]).reshape(np.shape(state[key])), state[key], err_msg=key)


def test_keras_optimizer_state_is_checked_when_set():
    x, y = data()
    model = keras_model("adam")
    model.fit(x[:16], y[:16], batch_size=16, verbose=0)
    state = model.optimizer.get_state()
    assert sorted(state) == sorted(f"{i}/{name}" for i in range(4) for name in ("exp_avg", "exp_avg_sq", "step"))
    other = keras_model("adam")
    other.optimizer.set_state(state)  # kept until fit builds the optimizer
    assert other.optimizer.get_state() is not state and other.optimizer.get_state().keys() == state.keys()
    bad = dict(state)
    bad["0/exp_avg"] = np.zeros((2, 2), np.float32)
    del bad["3/step"]
    with pytest.raises(ValueError, match=r"Adam.set_state: 3/step is missing; 0/exp_avg has shape \(2, 2\)"):
        model.optimizer.set_state(bad)


def torch_run(epochs, model=None, opt=None):
    x, y = data()
    if model is None:
        kiln.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3))
        opt = optim.Adam(model.parameters(), lr=0.01)
    loader = kiln.utils.data.DataLoader(kiln.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    losses = []
    for _ in range(epochs):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, model, opt


def test_the_pytorch_loop_resumes_bit_for_bit(tmp_path):
    curve, whole, _ = torch_run(4)
    losses, model, opt = torch_run(2)
    kiln.save(model.state_dict(), tmp_path / "model.safetensors")
    state = opt.state_dict()  # kiln.save holds flat dicts of arrays: the optimizer's, flattened
    kiln.save({f"{i}/{k}": np.asarray(v) for i, entry in state["state"].items() for k, v in entry.items()},
              tmp_path / "optimizer.safetensors")
    random_state = kiln.random.generator().bit_generator.state

    kiln.manual_seed(12345)
    fresh = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3))
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    fresh.load_state_dict(kiln.load(tmp_path / "model.safetensors"))
    saved = {}
    for key, value in kiln.load(tmp_path / "optimizer.safetensors").items():
        index, name = key.split("/")
        saved.setdefault(int(index), {})[name] = value
    fresh_opt.load_state_dict({"state": saved, "param_groups": state["param_groups"]})
    kiln.random.generator().bit_generator.state = random_state
    more, fresh, _ = torch_run(2, fresh, fresh_opt)
    assert losses + more == curve
    for (name, a), (_, b) in zip(whole.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
