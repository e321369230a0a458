"""The native tape (python/src/bind_tape.cpp): C++ backward nodes and the C++ walk.

Graphs made only of native nodes (Linear/Dense, relu/sigmoid/tanh, cross-entropy on the
cpu backend) are walked in C++; any other graph by kiln/autograd.py. Both walkers must
give bit-identical gradients, and the nodes must agree with the float64 reference.
"""

import numpy as np
import pytest

import kiln
from kiln import autograd, nn, optim
from kiln import functional as F

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="kiln._C is not built")


def mlp(seed=0, activation=nn.ReLU):
    kiln.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), activation(), nn.Linear(9, 7), activation(), nn.Linear(7, 4))


def batch(seed=0, n=11):
    rng = np.random.default_rng(seed)
    return (kiln.tensor(rng.standard_normal((n, 6)).astype(np.float32)),
            kiln.tensor(rng.integers(0, 4, n)))


def grads_of(model, x, y, walker: str, monkeypatch, reduction="mean"):
    for p in model.parameters():
        p.grad = None
    with monkeypatch.context() as m:
        if walker == "python":
            m.setattr(autograd, "_native", None)
        F.cross_entropy(model(x), y, reduction=reduction).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def test_layers_record_native_nodes():
    model, (x, y) = mlp(), batch()
    loss = F.cross_entropy(model(x), y)
    node, kinds = loss, []
    while node._backward is not None:
        kinds.append(type(node._backward).__name__)
        node = node._parents[0]
    assert kinds == ["ScaledGradBackward", "LinearBackward", "ActivationBackward", "LinearBackward",
                     "ActivationBackward", "LinearBackward"]
    assert all(isinstance(t._backward, kiln._C.NativeBackward) for t in (loss, loss._parents[0]))


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Sigmoid, nn.Tanh])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_native_walk_equals_python_walk_bit_for_bit(activation, reduction, monkeypatch):
    model, (x, y) = mlp(activation=activation), batch()
    native = grads_of(model, x, y, "native", monkeypatch, reduction)
    python = grads_of(model, x, y, "python", monkeypatch, reduction)
    for a, b in zip(native, python):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh])
def test_native_gradients_match_float64_reference(activation):
    model, (x, y) = mlp(activation=activation), batch()
    F.cross_entropy(model(x), y).backward()
    native = [p.grad.numpy().copy() for p in model.parameters()]
    model64 = mlp(activation=activation).to(np.float64)  # same seed: same weights
    with kiln.use_backend("numpy"):
        F.cross_entropy(model64(kiln.tensor(x.numpy().astype(np.float64))), y).backward()
    for got, p in zip(native, model64.parameters()):
        want = p.grad.numpy()
        assert np.linalg.norm(got - want) <= 1e-5 * max(np.linalg.norm(want), 1e-12)


def test_native_walker_takes_only_all_native_graphs():
    model, (x, y) = mlp(), batch()
    walk = autograd._native.run_backward
    loss = F.cross_entropy(model(x), y)
    assert walk(loss, None, False, autograd._graph_freed) is True
    assert loss._backward is autograd._graph_freed
    h = model[0](x) * 2.0  # a Python node (multiplication) in the graph
    mixed = F.cross_entropy(model[2](h), y)
    assert walk(mixed, None, False, autograd._graph_freed) is False
    assert isinstance(mixed._backward, kiln._C.NativeBackward)  # refused before touching anything
    model[0].weight.grad = None
    mixed.backward()  # the Python walker, calling the native nodes as callables
    assert model[0].weight.grad is not None


def test_mixed_graph_matches_pure_python_walk(monkeypatch):
    model, (x, y) = mlp(), batch()

    def loss_of():
        h = model[1](model[0](x))
        return F.cross_entropy(model[4](model[3](model[2](h * 0.5 + h))), y)

    for p in model.parameters():
        p.grad = None
    loss_of().backward()
    mixed = [p.grad.numpy().copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    with monkeypatch.context() as m:
        m.setattr(autograd, "_native", None)
        loss_of().backward()
    for a, p in zip(mixed, model.parameters()):
        np.testing.assert_array_equal(a, p.grad.numpy())


def test_shared_weight_gradients_are_summed(monkeypatch):
    """One Linear applied twice: the weight leaf gets two gradients, summed in C++."""
    kiln.manual_seed(3)
    layer = nn.Linear(5, 5)
    x = kiln.tensor(np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32))
    y = kiln.tensor(np.array([0, 1, 2, 3]))

    def run(walker):
        layer.weight.grad = layer.bias.grad = None
        with monkeypatch.context() as m:
            if walker == "python":
                m.setattr(autograd, "_native", None)
            F.cross_entropy(layer(F.relu(layer(x))), y).backward()
        return layer.weight.grad.numpy().copy(), layer.bias.grad.numpy().copy()

    for a, b in zip(run("native"), run("python")):
        np.testing.assert_array_equal(a, b)


def test_gradients_accumulate_across_backward_calls():
    model, (x, y) = mlp(), batch()
    F.cross_entropy(model(x), y).backward()
    once = [p.grad.numpy().copy() for p in model.parameters()]
    F.cross_entropy(model(x), y).backward()
    for a, p in zip(once, model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), 2 * a, rtol=1e-6, atol=1e-7)


def test_optimizer_buffers_receive_gradients_in_place():
    model, (x, y) = mlp(), batch()
    opt = optim.Adam(model.parameters())
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        for p in model.parameters():
            assert p.grad is p._grad_tensor and np.shares_memory(p.grad.numpy(), opt._flat[0].grad)
        opt.step()


def test_second_backward_refused_unless_graph_retained():
    model, (x, y) = mlp(), batch()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="a second time"):
        loss.backward()
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)
    first = model[0].weight.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(model[0].weight.grad.numpy(), 2 * first, rtol=1e-6)


def test_frozen_parameters_and_input_gradients():
    model, (x, y) = mlp(), batch()
    model[0].weight.requires_grad_(False)
    x.requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    assert model[0].weight.grad is None and model[0].bias.grad is not None
    assert x.grad is not None and x.grad.shape == x.shape


def test_no_graph_without_grad():
    model, (x, y) = mlp(), batch()
    with kiln.no_grad():
        loss = F.cross_entropy(model(x), y)
    assert loss._backward is None and not loss.requires_grad


def test_nodes_as_callables_match_the_kernels():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((2, 4)).astype(np.float32)
    y = np.maximum(x @ w.T, 0)
    g = rng.standard_normal((3, 2)).astype(np.float32)
    dx, dw, db = kiln._C.LinearBackward(x, w, y, "relu", True, True, True, True, (3, 4))(g)
    want = kiln.reference.linear_backward(x, w, y, g, weight_is_out_by_in=True, activation="relu")
    for got, ref in zip((dx, dw, db), want):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    (da,) = kiln._C.ActivationBackward("tanh", np.tanh(x))(np.ones_like(x))
    np.testing.assert_allclose(da, 1 - np.tanh(x) ** 2, rtol=1e-5, atol=1e-6)
    (dl,) = kiln._C.ScaledGradBackward(x, 3.0)(np.float32(0.5))
    np.testing.assert_array_equal(dl, x * np.float32(1.5))


def test_node_argument_errors_name_the_argument():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="LinearBackward.*w"):
        kiln._C.LinearBackward(x, np.zeros((2, 5), np.float32), np.zeros((3, 2), np.float32), None,
                               True, True, True, None, (3, 4))
    with pytest.raises(ValueError, match="LinearBackward: activation"):
        kiln._C.LinearBackward(x, np.zeros((2, 4), np.float32), np.zeros((3, 2), np.float32), "gelu",
                               True, True, True, None, (3, 4))
    with pytest.raises(ValueError, match="ActivationBackward"):
        kiln._C.ActivationBackward("gelu", x)
    with pytest.raises(ValueError, match="grad"):
        kiln._C.ActivationBackward("relu", x)(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match="numeric array"):
        kiln._C.ActivationBackward("relu", x)("not an array")


def test_profiler_counts_one_backward_call():
    model, (x, y) = mlp(), batch()
    opt = optim.Adam(model.parameters())
    with kiln.profiler.kernel_time() as kt:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert kt.calls["run_backward"] == 1 and kt.calls["adam_step"] == 1
    assert kt.calls["linear_forward_node"] == 3 and kt.calls["activation_forward_node"] == 2
    assert 0 < kt.seconds


def test_batched_input_records_a_native_node(monkeypatch):
    """x (batch, time, features) through Linear: the leading axes fold into the GEMM's rows."""
    kiln.manual_seed(4)
    layer = nn.Linear(6, 3)
    x = kiln.tensor(np.random.default_rng(4).standard_normal((2, 5, 6)).astype(np.float32), requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 5, 3) and isinstance(y._backward, kiln._C.LinearBackward)
    with kiln.use_backend("numpy"):
        want = layer(x).numpy()
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-6)

    def run(walker):
        x.grad = layer.weight.grad = layer.bias.grad = None
        with monkeypatch.context() as m:
            if walker == "python":
                m.setattr(autograd, "_native", None)
            (layer(x) * 1.0).sum().backward()
        return x.grad.numpy().copy(), layer.weight.grad.numpy().copy()

    for a, b in zip(run("native"), run("python")):
        np.testing.assert_array_equal(a, b)
    assert run("native")[0].shape == (2, 5, 6)
