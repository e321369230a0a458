"""Layer norm and batch norm: kiln.nn's LayerNorm/BatchNorm1d/2d/3d against torch (forward,
backward, running statistics, eval mode, state_dict from torch), F.layer_norm/F.batch_norm,
finite differences in float64, Keras's LayerNormalization/BatchNormalization (shapes,
training vs inference, the moving statistics, save/load, summary), errors; on the cpu and
cuda devices."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import finite_difference_check
from torch_compare import DEVICES

import kiln
from kiln import keras, nn
from kiln.nn import functional as F

torch = pytest.importorskip("torch")
TOL = 2e-5


def _close(got, want, tol=TOL, what=""):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
    assert err <= tol, f"{what}: relative error {err:.2e} > {tol}"


def _host(t):
    return t.numpy(force=True)


def _copy_params(module, torch_module):
    module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


def _step(module, torch_module, x, device, up):
    """One forward + backward on both; returns nothing, compares output and every gradient."""
    xt = kiln.tensor(x, device=device, requires_grad=True)
    y = module(xt)
    (y * kiln.tensor(up, device=device)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_module(tx)
    (ty * torch.tensor(up)).sum().backward()
    _close(_host(y), ty.detach().numpy(), what="forward")
    _close(_host(xt.grad), tx.grad.numpy(), what="input gradient")
    for (name, p), tp in zip(module.named_parameters(), torch_module.parameters()):
        _close(_host(p.grad), tp.grad.numpy(), what=f"{name} gradient")
        p.grad = None
    torch_module.zero_grad()


def _randomize(torch_module, rng):
    with torch.no_grad():
        for p in torch_module.parameters():
            p.copy_(torch.tensor(rng.standard_normal(p.shape).astype(np.float32)))


# ---- nn.LayerNorm ---------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,normalized,kwargs", [
    ((4, 7), 7, {}),
    ((2, 3, 5, 6), (5, 6), {"eps": 1e-3}),
    ((3, 9), (9,), {"elementwise_affine": False}),
    ((2, 4, 33), 33, {"bias": False}),
])
def test_layer_norm_matches_torch(device, shape, normalized, kwargs, rng):
    tm = torch.nn.LayerNorm(normalized, **kwargs)
    _randomize(tm, rng)
    m = nn.LayerNorm(normalized, **kwargs)
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_params(m, tm)
    m.to(device)
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    _step(m, tm, x, device, rng.standard_normal(shape).astype(np.float32))


def test_layer_norm_finite_differences(rng):
    m = nn.LayerNorm((3, 4), eps=1e-3)
    with kiln.no_grad():
        m.weight.copy_(rng.standard_normal((3, 4)))
        m.bias.copy_(rng.standard_normal((3, 4)))
    x = kiln.tensor(rng.standard_normal((2, 3, 4)), dtype=np.float64, requires_grad=True)
    finite_difference_check(m, [x], rng)


@pytest.mark.parametrize("device", DEVICES)
def test_functional_layer_norm_bias_without_weight(device, rng):
    x, b = rng.standard_normal((5, 6)).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    xt, bt = kiln.tensor(x, device=device, requires_grad=True), kiln.tensor(b, device=device, requires_grad=True)
    (F.layer_norm(xt, (6,), None, bt) ** 2).sum().backward()
    tx, tb = torch.tensor(x, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.nn.functional.layer_norm(tx, (6,), None, tb) ** 2).sum().backward()
    _close(_host(xt.grad), tx.grad.numpy())
    _close(_host(bt.grad), tb.grad.numpy())


# ---- nn.BatchNorm ---------------------------------------------------------------------------------

_BATCH = [(nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 5)), (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 5, 7)),
          (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 5, 4, 6)), (nn.BatchNorm3d, torch.nn.BatchNorm3d, (2, 5, 3, 2, 4))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("cls,tcls,shape", _BATCH, ids=["1d-NC", "1d-NCL", "2d", "3d"])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False, "eps": 1e-3}], ids=["default", "cma",
                                                                                                 "no-affine"])
def test_batch_norm_matches_torch_over_steps_and_in_eval(device, cls, tcls, shape, kwargs, rng):
    tm = tcls(5, **kwargs)
    _randomize(tm, rng)
    m = cls(5, **kwargs)
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_params(m, tm)
    m.to(device)
    for _ in range(3):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        _step(m, tm, x, device, rng.standard_normal(shape).astype(np.float32))
    _close(_host(m.running_mean), tm.running_mean.numpy(), what="running_mean")
    _close(_host(m.running_var), tm.running_var.numpy(), what="running_var")
    assert int(_host(m.num_batches_tracked)) == int(tm.num_batches_tracked) == 3
    m.eval(), tm.eval()
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    _step(m, tm, x, device, rng.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("device", DEVICES)
def test_batch_norm_without_running_stats_uses_the_batch_in_eval(device, rng):
    tm, m = torch.nn.BatchNorm2d(3, track_running_stats=False), nn.BatchNorm2d(3, track_running_stats=False)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight", "bias"]
    m.to(device).eval(), tm.eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    _step(m, tm, x, device, rng.standard_normal(x.shape).astype(np.float32))


def test_batch_norm_loads_a_torch_state_dict_and_predicts_as_torch(rng):
    tm = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    for _ in range(4):
        tm(torch.tensor(rng.standard_normal((3, 2, 6, 6)).astype(np.float32)))
    tm.eval()
    m = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    m.eval()
    x = rng.standard_normal((2, 2, 6, 6)).astype(np.float32)
    _close(m(kiln.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy())
    assert m.state_dict()["1.num_batches_tracked"].numpy() == 4


def test_batch_norm_finite_differences_in_training_and_eval(rng):
    for training in (True, False):
        m = nn.BatchNorm1d(3)
        with kiln.no_grad():
            m.weight.copy_(rng.standard_normal(3))
            m.bias.copy_(rng.standard_normal(3))
            m.running_var.copy_(np.abs(rng.standard_normal(3)) + 0.5)
        m.train(training)
        m.momentum = 0.0  # the running statistics stay put between the perturbed calls
        x = kiln.tensor(rng.standard_normal((4, 3, 2)), dtype=np.float64, requires_grad=True)
        finite_difference_check(m, [x], rng)


def test_batch_norm_is_bit_identical_across_thread_counts(rng):
    x = rng.standard_normal((16, 7, 2000)).astype(np.float32)  # past the ~1 Mflop threading threshold
    results = []
    for n in (1, 2):
        previous = kiln.get_num_threads()
        kiln.set_num_threads(n)
        try:
            m = nn.BatchNorm1d(7)
            xt = kiln.tensor(x, requires_grad=True)
            (m(xt) ** 3).sum().backward()
            ln = nn.LayerNorm(2000)
            lt = kiln.tensor(x, requires_grad=True)
            (ln(lt) ** 3).sum().backward()
            results.append([a.numpy().copy() for a in (xt.grad, m.weight.grad, m.running_var, lt.grad,
                                                        ln.weight.grad)])
        finally:
            kiln.set_num_threads(previous)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---- errors -------------------------------------------------------------------------------------

def test_error_messages(rng):
    with pytest.raises(ValueError, match=r"normalized_shape \(5,\) must be the trailing dimensions.*\(2, 3, 4\)"):
        nn.LayerNorm(5)(kiln.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 3 channels .* shape \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(kiln.tensor(np.zeros((2, 4, 5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(kiln.tensor(np.zeros((2, 3, 5), np.float32)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(kiln.tensor(np.zeros((1, 3), np.float32)))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(4,\), got \(3,\)"):
        F.batch_norm(kiln.tensor(np.zeros((2, 4), np.float32)), kiln.zeros(3), kiln.ones(4))
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        F.layer_norm(kiln.zeros(2, 3), (3,), eps=-1.0)


# ---- Keras ------------------------------------------------------------------------------------------

@pytest.fixture
def default_device(request):
    """The device parameter as kiln's default device (new weights and tensors go there)."""
    kiln.set_default_device(request.node.callspec.params["device"])
    yield
    kiln.set_default_device("cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_keras_layer_normalization(device, default_device, rng):
    layer = keras.layers.LayerNormalization()
    x = (rng.standard_normal((4, 3, 6)) * 2 + 1).astype(np.float32)
    y = layer(kiln.tensor(x))
    assert [n for n, _ in layer._named_weights()] == [f"{layer.name}/gamma", f"{layer.name}/beta"]
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    _close(_host(y), want)
    several = keras.layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False)
    several(kiln.tensor(x))
    assert [tuple(w.shape) for w in several.weights] == [(3, 6)]
    middle = keras.layers.LayerNormalization(axis=1)
    got = _host(middle(kiln.tensor(x)))
    _close(got, (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-3))


@pytest.mark.parametrize("device", DEVICES)
def test_keras_batch_normalization_training_and_inference(device, default_device, rng):
    layer = keras.layers.BatchNormalization(momentum=0.9)
    x = (rng.standard_normal((8, 3, 4)) * 2 + 1).astype(np.float32)
    layer(kiln.tensor(x))  # builds; inference: moving stats (0, 1) leave x / sqrt(1 + eps)
    assert [n.split("/")[-1] for n, _ in layer._named_weights()] == ["gamma", "beta", "moving_mean",
                                                                      "moving_variance"]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    y = layer(kiln.tensor(x), training=True)
    mean, var = x.mean((0, 1)), x.var((0, 1))
    _close(_host(y), (x - mean) / np.sqrt(var + 1e-3))
    _close(_host(layer.moving_mean), 0.1 * mean)
    _close(_host(layer.moving_variance), 0.9 + 0.1 * var)  # the biased variance, as Keras 3
    y = layer(kiln.tensor(x), training=False)
    _close(_host(y), (x - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-3))
    layer.trainable = False  # a frozen layer runs in inference mode even when training
    before = _host(layer.moving_mean).copy()
    layer(kiln.tensor(x), training=True)
    np.testing.assert_array_equal(_host(layer.moving_mean), before)


@pytest.mark.parametrize("device", DEVICES)
def test_keras_batch_normalization_channels_first(device, default_device, rng):
    layer = keras.layers.BatchNormalization(axis=1, momentum=0.5, epsilon=1e-5, center=False)
    x = (rng.standard_normal((4, 3, 5, 2)) * 3 - 1).astype(np.float32)
    y = layer(kiln.tensor(x), training=True)
    assert [tuple(w.shape) for w in layer.weights] == [(3,)] * 3  # gamma, moving_mean, moving_variance
    mean, var = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    _close(_host(y), (x - mean) / np.sqrt(var + 1e-5))
    _close(_host(layer.moving_variance), 0.5 + 0.5 * var.reshape(3))
    with pytest.raises(ValueError, match=r"expected 3 channels on axis 1, got input of shape \(4, 2, 5, 2\)"):
        layer(kiln.tensor(x[:, :2]))


def _bn_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(5), keras.layers.BatchNormalization(),
                             keras.layers.LayerNormalization(), keras.layers.Dense(3, activation="softmax")])


@pytest.mark.parametrize("device", DEVICES)
def test_keras_model_with_norms_fits_saves_and_loads(device, rng, tmp_path, capsys):
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = _bn_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", device=device)
    model.summary()
    out = capsys.readouterr().out
    # Dense 35, BatchNormalization 20 (10 trainable), LayerNormalization 10, Dense 18
    assert "Total params: 83" in out and "Trainable params: 73" in out and "Non-trainable params: 10" in out
    bn = model.layers[1]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    moved = _host(bn.moving_mean)
    assert np.abs(moved).max() > 0  # fit trains with training=True
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(_host(bn.moving_mean), moved)  # predict is inference
    if device != "cpu":
        return  # saving a model compiled for the device: its optimizer state does not save yet
    model.save(tmp_path / "norm.keras")
    restored = keras.models.load_model(tmp_path / "norm.keras")
    np.testing.assert_array_equal(_host(restored.layers[1].moving_variance), _host(bn.moving_variance))
    _close(restored.predict(x, verbose=0), first, tol=1e-6)
    assert restored.layers[1].get_config()["momentum"] == 0.99
