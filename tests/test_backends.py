"""A backend is one table entry: a toy backend, registered here and nowhere else, trains the
digits MLP and CNN; arrays on two devices are refused; ``import kiln`` stays light."""

from __future__ import annotations

import subprocess
import sys
import numpy as np
import pytest

import kiln
from kiln import backends, nn, optim
from kiln.nn import functional as F
from toy_backend import ToyArray, ToyBackend


@pytest.fixture
def toy():
    backend = backends.register(ToyBackend())
    yield backend
    backends.unregister("toy")


def digits(n=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 10))


def train_steps(make_model, device: str, steps: int = 2):
    kiln.manual_seed(0)
    model = make_model().to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    images, labels = digits()
    x, y = kiln.tensor(images).to(device), kiln.tensor(labels).to(device)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, [p.numpy(force=True).copy() for p in model.parameters()]


@pytest.mark.parametrize("make_model", [mlp, cnn], ids=["digits-mlp", "digits-cnn"])
def test_toy_backend_trains_like_the_reference(toy, make_model):
    with kiln.use_backend("numpy"):
        want_losses, want_params = train_steps(make_model, "cpu")
    losses, params = train_steps(make_model, "toy")
    assert losses == want_losses
    for got, want in zip(params, want_params):
        np.testing.assert_array_equal(got, want)
    kernels = {"matmul", "linear_backward", "softmax_cross_entropy", "adam_step"}
    if make_model is cnn:
        kernels |= {"conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward"}
    assert kernels <= set(toy.calls), f"kernels not run on the toy device: {kernels - set(toy.calls)}"


def test_tensors_live_on_the_toy_device(toy):
    t = kiln.ones(2, 3, device="toy")
    assert t.device == kiln.device("toy") and str(t.device) == "toy"
    assert isinstance(t._array, ToyArray)
    assert isinstance((t * 2 + 1).sum()._array, ToyArray)
    np.testing.assert_array_equal(t.cpu().numpy(), np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="can't convert toy tensor to numpy"):
        t.numpy()
    a = kiln.randn(3, 4, requires_grad=True)
    (a.to("toy") * 3).sum().backward()  # the gradient comes back to the cpu tensor
    np.testing.assert_array_equal(a.grad.numpy(), np.full((3, 4), 3, np.float32))


def test_arrays_on_two_devices_are_refused(toy):
    with pytest.raises(RuntimeError, match="at least two: cpu and toy|at least two: toy and cpu"):
        kiln.ones(3) + kiln.ones(3, device="toy")
    with pytest.raises(RuntimeError, match="cpu and toy"):
        kiln.ops.matmul(np.ones((2, 2), np.float32), toy.from_numpy(np.ones((2, 2), np.float32)))


def test_unknown_device_and_backend_are_clear_errors():
    with pytest.raises(RuntimeError, match="no backend for device 'tpu'"):
        kiln.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        kiln.ops.relu(np.ones(2, np.float32), backend="tpu")


def test_import_kiln_loads_no_idiom_package():
    code = ("import sys, time; t = time.perf_counter(); import kiln; t = time.perf_counter() - t; "
            "print(t, [m for m in ('kiln.keras', 'kiln.nn', 'kiln.optim', 'kiln.utils') if m in sys.modules])")
    seconds, loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout.split(" ", 1)
    assert loaded.strip() == "[]"
    assert float(seconds) < 2.0  # NumPy's import is most of it; a loaded idiom package would add ~1 s


def test_both_idioms_from_the_top_level():
    import kiln as tf
    import kiln as torch
    model = tf.keras.Sequential([tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(3)])
    assert model.count_params() == 15
    assert torch.nn.Linear(2, 3).weight.shape == (3, 2)
    accuracy = tf.keras.ops.mean(tf.keras.ops.cast(tf.keras.ops.equal(
        tf.keras.ops.argmax(np.array([[0.1, 0.9], [0.8, 0.2]]), axis=-1), np.array([1, 1])), "float32"))
    assert accuracy.item() == 0.5
