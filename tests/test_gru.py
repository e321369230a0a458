"""GRU (and the Elman RNN): the fused kernels against the float64 reference on every native
backend, nn.GRU / GRUCell / RNN / RNNCell / LSTM against torch (forward, backward, stacked,
bidirectional, batch_first, given h0) on cpu and cuda, and the Keras layers GRU, SimpleRNN
and Bidirectional (shapes, Keras's equations in NumPy, fit, save and load, refused options)."""

import numpy as np
import pytest
from conftest import NATIVE_BACKENDS, assert_close, f32, reduction_tol
from torch_compare import DEVICES, needs_torch, torch

import kiln
from kiln import keras, nn, ops, reference
from kiln.keras import layers

# (T, B, I, H): a single unit, an empty batch, sizes that fit no SIMD width, a span past 512.
SHAPES = [(1, 1, 1, 1), (3, 0, 3, 17), (4, 1, 17, 33), (2, 5, 33, 3), (3, 2, 3, 520)]
GRADS = ("dx", "dh", "dw_ih", "dw_hh", "db_ih", "db_hh")
CUDA_SHAPES = [(1, 1, 1, 1), (3, 2, 5, 7), (2, 3, 4, 18)]


def f64(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


def normal(rng, *shape):
    return f32(rng.standard_normal(shape))


def gru_weights(rng, inputs, hidden, bias=True):
    scale = 1 / np.sqrt(max(hidden, 1))
    draw = lambda *shape: f32(rng.uniform(-scale, scale, shape))  # noqa: E731
    return draw(3 * hidden, inputs), draw(3 * hidden, hidden), *((draw(3 * hidden), draw(3 * hidden)) if bias
                                                                 else (None, None))


def grad_tolerances(steps, hidden, rows):
    return {"dx": reduction_tol(steps * 3 * hidden), "dh": reduction_tol(steps * 3 * hidden),
            "dw_ih": reduction_tol(rows), "dw_hh": reduction_tol(rows), "db_ih": reduction_tol(rows),
            "db_hh": reduction_tol(rows)}


# ---- the kernels, native vs the float64 reference ---------------------------------------------


def _check_kernels(backend, rng, steps, batch, inputs, hidden, bias, with_h0):
    x = normal(rng, steps, batch, inputs)
    w_ih, w_hh, b_ih, b_hh = gru_weights(rng, inputs, hidden, bias)
    h0 = normal(rng, batch, hidden) if with_h0 else None
    y, h_n, gates = ops.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, backend=backend)
    want = reference.gru_sequence(*map(f64, (x, w_ih, w_hh, b_ih, b_hh, h0)))
    to_host = lambda a: np.asarray(kiln.backends.get(backend).to_numpy(a))  # noqa: E731
    for name, g, w in zip(("y", "h_n", "gates"), (y, h_n, gates), want):
        assert_close(to_host(g), w, reduction_tol(inputs + hidden), name)
    gy, gh = normal(rng, steps, batch, hidden), normal(rng, batch, hidden)
    got = ops.gru_sequence_backward(gy, gh, x, w_ih, w_hh, h0, y, gates, backend=backend)
    want = reference.gru_sequence_backward(*map(f64, (gy, gh, x, w_ih, w_hh, h0, want[0], want[2])))
    tolerances = grad_tolerances(steps, hidden, steps * batch)
    for name, g, w in zip(GRADS, got, want):
        assert_close(to_host(g), w, tolerances[name], name)


@pytest.mark.parametrize("steps,batch,inputs,hidden", SHAPES)
@pytest.mark.parametrize("bias,with_h0", [(True, True), (False, False)])
def test_sequence_matches_reference(steps, batch, inputs, hidden, bias, with_h0, backend, rng):
    _check_kernels(backend, rng, steps, batch, inputs, hidden, bias, with_h0)


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no cuda device")
@pytest.mark.parametrize("steps,batch,inputs,hidden", CUDA_SHAPES)
def test_sequence_on_cuda_matches_reference(steps, batch, inputs, hidden, rng):
    _check_kernels("cuda", rng, steps, batch, inputs, hidden, True, True)
    _check_kernels("cuda", rng, steps, batch, inputs, hidden, False, False)


@pytest.mark.parametrize("kiln_backend", [*NATIVE_BACKENDS, *(["cuda"] if kiln.cuda.is_available() else [])])
def test_cell_is_one_sequence_step(kiln_backend, rng):
    x, h = normal(rng, 3, 5), normal(rng, 3, 7)
    weights = gru_weights(rng, 5, 7)
    be = kiln.backends.get(kiln_backend)
    h_new, gates = ops.gru_cell(x, h, *weights, return_gates=True, backend=kiln_backend)
    want_h, want_gates = reference.gru_cell(*map(f64, (x, h, *weights)))
    assert_close(be.to_numpy(h_new), want_h, reduction_tol(12), "h_new")
    assert_close(be.to_numpy(gates), want_gates, reduction_tol(12), "gates")
    up = normal(rng, 3, 7)
    got = ops.gru_cell_backward(up, x, h, weights[0], weights[1], gates, backend=kiln_backend)
    want = reference.gru_cell_backward(*map(f64, (up, x, h, weights[0], weights[1], want_gates)))
    for name, g, w in zip(GRADS, got, want):
        assert_close(be.to_numpy(g), w, grad_tolerances(1, 7, 3)[name], name)


def test_empty_sequence_passes_the_state_through(backend, rng):
    h0 = normal(rng, 2, 4)
    y, h_n, _ = ops.gru_sequence(np.zeros((0, 2, 3), np.float32), *gru_weights(rng, 3, 4), h0, backend=backend)
    assert y.shape == (0, 2, 4)
    np.testing.assert_array_equal(h_n, h0)


@pytest.mark.parametrize("steps,batch,inputs,hidden", [(3, 32, 48, 64), (2, 41, 5, 603)])
def test_thread_count_does_not_change_result(steps, batch, inputs, hidden, rng):
    """Also 41 rows of 603 units: the gate passes' 512-unit work items split rows between threads."""
    x, h0 = normal(rng, steps, batch, inputs), normal(rng, batch, hidden)
    w_ih, w_hh, b_ih, b_hh = gru_weights(rng, inputs, hidden)
    gy, gh = normal(rng, steps, batch, hidden), normal(rng, batch, hidden)

    def run():
        y, h_n, gates = ops.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, backend="cpu")
        return (y, h_n, gates, *ops.gru_sequence_backward(gy, gh, x, w_ih, w_hh, h0, y, gates, backend="cpu"))

    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(1)
        one = run()
        kiln.set_num_threads(2)
        two = run()
    finally:
        kiln.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_bad_shapes_are_named(rng):
    w_ih, w_hh, b_ih, b_hh = gru_weights(rng, 3, 4)
    with pytest.raises(ValueError, match=r"gru_sequence: w_hh must have shape \(3\*H, H\)"):
        ops.gru_sequence(normal(rng, 2, 1, 3), w_ih, w_ih, b_ih, b_hh)
    with pytest.raises(ValueError, match=r"gru_cell: h must have shape \(B, H\)"):
        ops.gru_cell(normal(rng, 2, 3), normal(rng, 3, 4), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"gru_sequence: b_hh must have shape \(3\*H,\)"):
        ops.gru_sequence(normal(rng, 2, 1, 3), w_ih, w_hh, b_ih, b_hh[:-1])


# ---- nn layers against torch --------------------------------------------------------------------

def _copy_from_torch(module, tmodule):
    module.load_state_dict({k: v.detach().numpy().astype(np.float32) for k, v in tmodule.state_dict().items()})


def _compare_sequence_layer(name, device, rng, states=1, **kwargs):
    kiln_cls, torch_cls = getattr(nn, name), getattr(torch.nn, name)
    inputs, hidden, layers_, dirs = 5, 6, kwargs.get("num_layers", 1), 2 if kwargs.get("bidirectional") else 1
    tmodule = torch_cls(inputs, hidden, **kwargs)
    module = kiln_cls(inputs, hidden, **kwargs)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in tmodule.named_parameters()]
    _copy_from_torch(module, tmodule)
    module.to(device)
    steps, batch = 4, 3
    x = normal(rng, batch, steps, inputs) if kwargs.get("batch_first") else normal(rng, steps, batch, inputs)
    h0 = [normal(rng, layers_ * dirs, batch, hidden) for _ in range(states)]
    tx = torch.tensor(x, requires_grad=True)
    th0 = [torch.tensor(h, requires_grad=True) for h in h0]
    tout, tstate = tmodule(tx, th0[0] if states == 1 else tuple(th0))
    kx = kiln.tensor(x, device=device, requires_grad=True)
    kh0 = [kiln.tensor(h, device=device, requires_grad=True) for h in h0]
    out, state = module(kx, kh0[0] if states == 1 else tuple(kh0))
    tstate = [tstate] if states == 1 else list(tstate)
    state = [state] if states == 1 else list(state)
    np.testing.assert_allclose(out.numpy(force=True), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    for s, ts in zip(state, tstate):
        np.testing.assert_allclose(s.numpy(force=True), ts.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = normal(rng, *out.shape)
    ups = [normal(rng, *s.shape) for s in state]
    loss = (out * kiln.tensor(up, device=device)).sum()
    tloss = (tout * torch.tensor(up)).sum()
    for s, ts, u in zip(state, tstate, ups):
        loss = loss + (s * kiln.tensor(u, device=device)).sum()
        tloss = tloss + (ts * torch.tensor(u)).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(kx.grad.numpy(force=True), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for k, t in zip(kh0, th0):
        np.testing.assert_allclose(k.grad.numpy(force=True), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    tparams = dict(tmodule.named_parameters())
    for param_name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(force=True), tparams[param_name].grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=param_name)


CONFIGS = [{}, {"num_layers": 2}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True,
                                                            "batch_first": True}, {"bias": False}]


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "default")
def test_nn_gru_matches_torch(device, config, rng):
    _compare_sequence_layer("GRU", device, rng, **config)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("config", [{}, {"num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}],
                         ids=["default", "stacked-relu"])
def test_nn_rnn_matches_torch(device, config, rng):
    _compare_sequence_layer("RNN", device, rng, **config)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_nn_lstm_bidirectional_stacked_matches_torch(device, rng):
    _compare_sequence_layer("LSTM", device, rng, states=2, num_layers=2, bidirectional=True)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["GRUCell", "RNNCell"])
def test_cells_match_torch(device, name, rng):
    tcell, cell = getattr(torch.nn, name)(5, 4), getattr(nn, name)(5, 4)
    _copy_from_torch(cell, tcell)
    cell.to(device)
    x, h = normal(rng, 3, 5), normal(rng, 3, 4)
    tx, th = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    kx, kh = kiln.tensor(x, device=device, requires_grad=True), kiln.tensor(h, device=device, requires_grad=True)
    tout, out = tcell(tx, th), cell(kx, kh)
    np.testing.assert_allclose(out.numpy(force=True), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    up = normal(rng, 3, 4)
    (out * kiln.tensor(up, device=device)).sum().backward()
    (tout * torch.tensor(up)).sum().backward()
    np.testing.assert_allclose(kx.grad.numpy(force=True), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kh.grad.numpy(force=True), th.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cell.weight_hh.grad.numpy(force=True), tcell.weight_hh.grad.numpy(), rtol=1e-5,
                               atol=1e-6)
    assert tuple(cell(kiln.tensor(x[0], device=device)).shape) == (4,)  # unbatched, zeros for h


def test_nn_gru_unbatched_init_and_errors():
    gru = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(p.numpy()).max() <= bound for p in gru.parameters())
    assert gru.weight_ih_l1_reverse.shape == (12, 8)
    out, h_n = gru(kiln.tensor(np.ones((5, 3), np.float32)))
    assert tuple(out.shape) == (5, 8) and tuple(h_n.shape) == (4, 4)
    with pytest.raises(ValueError, match=r"GRU: h_0 must have shape \(4, 2, 4\)"):
        gru(kiln.tensor(np.ones((5, 2, 3), np.float32)), kiln.tensor(np.ones((2, 2, 4), np.float32)))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="gelu")


def test_nn_gru_dropout_between_layers_only_in_training():
    gru = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = kiln.tensor(np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32))
    gru.eval()
    a, b = gru(x)[0].numpy(), gru(x)[0].numpy()
    np.testing.assert_array_equal(a, b)
    gru.train()
    assert not np.allclose(gru(x)[0].numpy(), a)


# ---- Keras layers -------------------------------------------------------------------------------


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def keras_gru_numpy(x, kernel, recurrent_kernel, bias, go_backwards=False):
    """Keras 3's GRU cell (reset_after=True), step by step: gates z, r, h."""
    u = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], u))
    steps = range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])
    ys = []
    for t in steps:
        xw = x[:, t] @ kernel + bias[0]
        hw = h @ recurrent_kernel + bias[1]
        z = _sigmoid(xw[:, :u] + hw[:, :u])
        r = _sigmoid(xw[:, u:2 * u] + hw[:, u:2 * u])
        hh = np.tanh(xw[:, 2 * u:] + r * hw[:, 2 * u:])
        h = z * h + (1 - z) * hh
        ys.append(h)
    return np.stack(ys, 1), h


@pytest.fixture(autouse=False)
def seeded():
    keras.utils.set_random_seed(0)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_keras_gru_matches_keras_equations(go_backwards, rng, seeded):
    layer = layers.GRU(5, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = normal(rng, 3, 4, 2)
    layer(x)
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (2, 15) and recurrent.shape == (5, 15) and bias.shape == (2, 15)
    bias = normal(rng, 2, 15)
    layer.set_weights([kernel, recurrent, bias])
    y, h = layer(x)
    want_y, want_h = keras_gru_numpy(f64(x), f64(kernel), f64(recurrent), f64(bias), go_backwards)
    np.testing.assert_allclose(y.numpy(), want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), want_h, rtol=1e-5, atol=1e-6)


def test_keras_simple_rnn_matches_its_equation(rng, seeded):
    layer = layers.SimpleRNN(4, activation="relu", return_sequences=True)
    x = normal(rng, 2, 3, 5)
    y = layer(x).numpy()
    kernel, recurrent, bias = map(f64, layer.get_weights())
    h = np.zeros((2, 4))
    for t in range(3):
        h = np.maximum(f64(x[:, t]) @ kernel + h @ recurrent + bias, 0)
        np.testing.assert_allclose(y[:, t], h, rtol=1e-5, atol=1e-6)
    linear = layers.SimpleRNN(3, activation=None)
    assert tuple(linear(x).shape) == (2, 3)


@pytest.mark.parametrize("merge_mode,width", [("concat", 8), ("sum", 4), ("mul", 4), ("ave", 4), (None, 4)])
@pytest.mark.parametrize("inner", ["GRU", "LSTM", "SimpleRNN"])
def test_keras_bidirectional_merges_forward_and_flipped_backward(merge_mode, width, inner, rng, seeded):
    layer = layers.Bidirectional(getattr(layers, inner)(4, return_sequences=True), merge_mode=merge_mode)
    x = normal(rng, 2, 5, 3)
    out = layer(x)
    forward = layer.forward_layer(x).numpy()
    backward = layer.backward_layer(x).numpy()[:, ::-1]
    want = {"concat": lambda: np.concatenate([forward, backward], -1), "sum": lambda: forward + backward,
            "mul": lambda: forward * backward, "ave": lambda: (forward + backward) / 2}
    if merge_mode is None:
        assert len(out) == 2
        np.testing.assert_allclose(out[1].numpy(), backward, rtol=1e-6)
    else:
        assert tuple(out.shape) == (2, 5, width)
        np.testing.assert_allclose(out.numpy(), want[merge_mode](), rtol=1e-5, atol=1e-6)
    assert layer.forward_layer.name.startswith("forward_") and layer.backward_layer.go_backwards


def test_keras_bidirectional_return_state_and_functional_shapes(seeded):
    inputs = keras.Input((6, 3))
    outputs = layers.Bidirectional(layers.LSTM(4, return_state=True))(inputs)
    assert [tuple(o.shape) for o in outputs] == [(None, 8), (None, 4), (None, 4), (None, 4), (None, 4)]
    gru_out = layers.Bidirectional(layers.GRU(5, return_sequences=True, return_state=True))(inputs)
    assert [tuple(o.shape) for o in gru_out] == [(None, 6, 10), (None, 5), (None, 5)]
    x = np.ones((2, 6, 3), np.float32)
    eager = layers.Bidirectional(layers.GRU(5, return_state=True))(x)
    assert [tuple(o.shape) for o in eager] == [(2, 10), (2, 5), (2, 5)]


def _sequence_task(n=256, steps=8, seed=0):
    """Is the sum of the sequence positive? Needs the whole sequence."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, steps, 2)).astype(np.float32)
    return x, (x[:, :, 0].sum(1) > 0).astype(np.int64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [lambda: layers.GRU(8), lambda: layers.Bidirectional(layers.GRU(6)),
                                  lambda: layers.SimpleRNN(8)], ids=["gru", "bidirectional", "simple_rnn"])
def test_keras_recurrent_models_learn_and_reload(make, device, tmp_path, seeded):
    x, y = _sequence_task()
    model = keras.Sequential([keras.Input((8, 2)), make(), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(2e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=device)
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.85
    if device != "cpu":
        return  # saving a model whose optimizer state lives on the device is keras/saving.py's gap, not tested here
    path = tmp_path / "rnn.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x[:16], verbose=0), model.predict(x[:16], verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_keras_gru_gradients_reach_keras_layout(seeded):
    layer = layers.GRU(3)
    x = kiln.tensor(np.random.default_rng(1).standard_normal((2, 4, 5)).astype(np.float32))
    layer(x).sum().backward()
    assert layer.kernel.grad.shape == (5, 9) and layer.bias.grad.shape == (2, 9)
    assert np.abs(layer.recurrent_kernel.grad.numpy()).sum() > 0


@pytest.mark.parametrize("make", [lambda: layers.GRU(3, stateful=True), lambda: layers.SimpleRNN(3, stateful=True)])
def test_keras_stateful_is_refused_by_name(make):
    with pytest.raises(NotImplementedError, match="stateful=True is not supported"):
        make()


def keras_gru_before_numpy(x, kernel, recurrent_kernel, bias, activation, recurrent_activation):
    """Keras 3's GRU cell with reset_after=False: the reset gate before the product."""
    u = recurrent_kernel.shape[0]
    h = np.zeros((x.shape[0], u))
    for t in range(x.shape[1]):
        xw = x[:, t] @ kernel + bias
        z = recurrent_activation(xw[:, :u] + h @ recurrent_kernel[:, :u])
        r = recurrent_activation(xw[:, u:2 * u] + h @ recurrent_kernel[:, u:2 * u])
        h = z * h + (1 - z) * activation(xw[:, 2 * u:] + (r * h) @ recurrent_kernel[:, 2 * u:])
    return h


def test_keras_gru_composed_path_follows_keras_equations(rng, seeded):
    layer = layers.GRU(4, activation="relu", recurrent_activation="tanh", reset_after=False)
    x = normal(rng, 3, 5, 2)
    layer(x)
    kernel, recurrent = layer.get_weights()[:2]
    bias = normal(rng, 12)
    assert layer.bias.shape == (12,)
    layer.set_weights([kernel, recurrent, bias])
    want = keras_gru_before_numpy(f64(x), f64(kernel), f64(recurrent), f64(bias), lambda v: np.maximum(v, 0),
                                  np.tanh)
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-6)


def test_keras_gru_composed_path_equals_the_fused_kernel(rng, seeded):
    layer = layers.GRU(5, return_sequences=True, recurrent_dropout=0.3)
    x = kiln.tensor(normal(rng, 2, 4, 3))
    fused = layer(x, training=False).numpy()
    y, _ = layer._composed(x, False, kiln.zeros((2, 5)))
    np.testing.assert_allclose(y.numpy(), fused, rtol=1e-5, atol=1e-6)
    trained = layer(x, training=True)  # recurrent dropout: the composed path, with masks
    assert tuple(trained.shape) == (2, 4, 5) and not np.allclose(trained.numpy(), fused)
    simple = layers.SimpleRNN(3, recurrent_dropout=0.5, return_sequences=True)
    assert not np.allclose(simple(x, training=True).numpy(), simple(x, training=False).numpy())


def test_keras_bidirectional_refuses_other_layers():
    with pytest.raises(ValueError, match="Bidirectional: layer must be an LSTM, GRU or SimpleRNN"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.GRU(3), merge_mode="max")
