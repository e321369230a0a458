"""The one tape, through the layers: which nodes a model records, that native nodes and the
closures they replace agree bit for bit, and that a CNN's or an LSTM's backward runs no Python.

The walker and the node objects themselves are tested in tests/test_tape_native.py.
"""

import numpy as np
import pytest

import kiln
from kiln import autograd, backends, keras, nn, optim
from kiln.nn import functional as F

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="kiln._C is not built")


def mlp(seed=0, activation=nn.ReLU):
    kiln.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), activation(), nn.Linear(9, 7), activation(), nn.Linear(7, 4))


def cnn(seed=0):
    kiln.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3),
                         nn.Tanh(), nn.AvgPool2d(2, 1), nn.Flatten(), nn.Linear(8, 4))


def batch(shape=(11, 6), seed=0):
    rng = np.random.default_rng(seed)
    return (kiln.tensor(rng.standard_normal(shape).astype(np.float32)), kiln.tensor(rng.integers(0, 4, shape[0])))


def graph_nodes(root):
    """Every node reachable from root's node (leaves excluded)."""
    seen, stack, nodes = set(), [root._node], []
    while stack:
        node = stack.pop()
        node = getattr(node, "node", node)  # an Output: its node
        if node is None or id(node) in seen or isinstance(node, autograd.Leaf):
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(node.edges)
    return nodes


def python_nodes(root) -> list:
    return [n for n in graph_nodes(root) if isinstance(n, autograd.PythonNode)]


def without_native_nodes(monkeypatch):
    """The cpu backend without its native nodes and fused ops: every node a closure over the
    same kernels."""
    monkeypatch.setattr(backends.get("cpu"), "native_nodes", {})
    monkeypatch.setattr(backends.get("cpu"), "native_ops", {})


def grads_of(model, x, y, reduction="mean"):
    for p in model.parameters():
        p.grad = None
    F.cross_entropy(model(x), y, reduction=reduction).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_layers_record_native_nodes():
    model, (x, y) = mlp(), batch()
    loss = F.cross_entropy(model(x), y)
    kinds = sorted(type(n).__name__ for n in graph_nodes(loss))
    assert kinds == ["ActivationNode"] * 2 + ["LinearNode"] * 3 + ["ScaledGradNode"]


@pytest.mark.parametrize("make", [mlp, cnn])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_native_nodes_equal_their_closures_bit_for_bit(make, reduction, monkeypatch):
    shape = (11, 6) if make is mlp else (5, 1, 8, 8)
    model, (x, y) = make(), batch(shape)
    native = grads_of(model, x, y, reduction)
    with monkeypatch.context() as m:
        without_native_nodes(m)
        closures = grads_of(model, x, y, reduction)
        assert python_nodes(F.cross_entropy(model(x), y))
    for a, b in zip(native, closures):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh])
def test_native_gradients_match_float64_reference(activation):
    model, (x, y) = mlp(activation=activation), batch()
    native = grads_of(model, x, y)
    model64 = mlp(activation=activation).to(np.float64)  # same seed: same weights
    with kiln.use_backend("numpy"):
        want = grads_of(model64, kiln.tensor(x.numpy().astype(np.float64)), y)
    for got, w in zip(native, want):
        assert np.linalg.norm(got - w) <= 1e-5 * max(np.linalg.norm(w), 1e-12)


def _keras_cnn():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _keras_lstm():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(7,)), keras.layers.Embedding(20, 5), keras.layers.LSTM(6),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("make, x", [
    (_keras_cnn, np.random.default_rng(1).random((4, 8, 8, 1), dtype=np.float32)),
    (_keras_lstm, np.random.default_rng(1).integers(0, 20, (4, 7)))], ids=["cnn", "lstm"])
def test_keras_cnn_and_lstm_backward_is_one_native_call(make, x):
    model = make()
    model.train_on_batch(x, np.array([0, 1, 2, 1]))  # builds weights and optimizer
    y_pred = model(x, training=True)
    loss = model.loss(np.array([0, 1, 2, 1]), y_pred)
    assert python_nodes(loss) == []
    with kiln.profiler.kernel_time() as kt:
        before = autograd.python_seconds()
        loss.backward()
        assert autograd.python_seconds() == before  # the walk called no Python at all
    assert kt.calls["run_backward"] == 1 and sum(kt.calls.values()) == 1


def test_pytorch_idiom_cnn_and_lstm_record_no_closures():
    model, (x, y) = cnn(), batch((5, 1, 8, 8))
    assert python_nodes(F.cross_entropy(model(x), y)) == []
    kiln.manual_seed(2)
    lstm, head = nn.LSTM(5, 6, num_layers=2, batch_first=True), nn.Linear(6, 3)
    seq = kiln.randn(4, 7, 5)
    out, (h, c) = lstm(seq)
    loss = F.cross_entropy(head(out[:, -1]), kiln.tensor([0, 1, 2, 1]))
    assert any(type(n).__name__ == "LstmSequenceNode" for n in graph_nodes(loss))


def test_shared_weight_gradients_are_summed():
    kiln.manual_seed(3)
    layer = nn.Linear(5, 5)
    x = kiln.tensor(np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32))
    layer(layer(x)).sum().backward()
    twice = layer.weight.grad.numpy().copy()
    w, b = layer.weight.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)
    h = x.numpy() @ w.T + b
    want = np.ones((4, 5)).T @ h + (np.ones((4, 5)) @ w).T @ x.numpy()
    assert np.linalg.norm(twice - want) <= 1e-5 * np.linalg.norm(want)


def test_gradients_land_in_the_optimizers_flat_buffer():
    model, (x, y) = mlp(), batch()
    opt = optim.Adam(model.parameters())
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    flat = opt._flat[0]
    for p in model.parameters():
        assert p.grad._array is p._node.destination
        assert np.shares_memory(p.grad.numpy(), flat.grad)
    assert flat.buffer.collect() is None
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_second_backward_through_a_freed_graph_is_refused():
    model, (x, y) = mlp(), batch()
    loss = F.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    loss.backward()
    with pytest.raises(RuntimeError, match="a second time"):
        loss.backward()


def test_frozen_parameters_get_no_gradient():
    model, (x, y) = mlp(), batch()
    model[0].weight.requires_grad_(False)
    F.cross_entropy(model(x), y).backward()
    assert model[0].weight.grad is None and model[0].bias.grad is not None


def test_profiler_counts_one_backward_call():
    model, (x, y) = mlp(), batch()
    opt = optim.Adam(model.parameters())
    with kiln.profiler.kernel_time() as kt:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert kt.calls["run_backward"] == 1 and kt.calls["adam_step"] == 1 and kt.calls["linear_op"] == 3
    assert 0 < kt.seconds


def test_batched_input_records_a_native_node(monkeypatch):
    """x (batch, time, features) through Linear: the leading axes fold into the GEMM's rows."""
    kiln.manual_seed(4)
    layer = nn.Linear(6, 3)
    x = kiln.tensor(np.random.default_rng(4).standard_normal((2, 5, 6)).astype(np.float32), requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 5, 3) and type(y._node).__name__ == "LinearNode"

    def run():
        x.grad = layer.weight.grad = layer.bias.grad = None
        (layer(x) * 1.0).sum().backward()
        return x.grad.numpy().copy(), layer.weight.grad.numpy().copy()

    native = run()
    with monkeypatch.context() as m:
        without_native_nodes(m)
        closures = run()
    for a, b in zip(native, closures):
        np.testing.assert_array_equal(a, b)
    assert native[0].shape == (2, 5, 6)
