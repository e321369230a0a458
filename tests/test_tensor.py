"""kiln.Tensor and the tape: each differentiable operation against finite differences."""

import numpy as np
import pytest

import kiln


def check_grad(fn, *arrays, rng, eps=1e-6, tol=1e-6):
    """d sum(fn(*tensors) * w) / d input for every input, vs central differences (float64)."""
    tensors = [kiln.tensor(a, requires_grad=True) for a in arrays]
    with kiln.use_backend("numpy"):
        out = fn(*tensors)
        w = rng.standard_normal(out.shape)
        (out * w).sum().backward()
        for t, a in zip(tensors, arrays):
            numeric = np.zeros_like(a)
            flat, num = a.reshape(-1), numeric.reshape(-1)
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + eps
                up = np.sum(fn(*[kiln.tensor(x) for x in arrays]).numpy() * w)
                flat[i] = old - eps
                down = np.sum(fn(*[kiln.tensor(x) for x in arrays]).numpy() * w)
                flat[i] = old
                num[i] = (up - down) / (2 * eps)
            np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=tol, atol=tol)


OPS = {
    "add_broadcast": (lambda a, b: a + b, [(3, 4), (4,)]),
    "sub_broadcast": (lambda a, b: a - b, [(3, 1), (1, 4)]),
    "mul": (lambda a, b: a * b, [(3, 4), (3, 4)]),
    "div": (lambda a, b: a / (b * b + 1), [(2, 3), (2, 3)]),
    "scalar_ops": (lambda a: (2 - a) * 3 / 4 + 1, [(3,)]),
    "rdiv": (lambda a: 1 / (a * a + 1), [(5,)]),
    "pow": (lambda a: (a * a + 1) ** 1.5, [(4,)]),
    "neg_exp_log": (lambda a: (-a).exp() + (a * a + 1).log(), [(2, 3)]),
    "sqrt_abs": (lambda a: (a * a + 1).sqrt() + a.abs(), [(6,)]),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    "matmul_batched_broadcast": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "matmul_vector": (lambda a, b: a @ b, [(3, 4), (4,)]),
    "matmul_4d": (lambda a, b: kiln.matmul(a, b), [(2, 2, 3, 4), (2, 1, 4, 2)]),
    "sum_dim": (lambda a: a.sum(1), [(3, 4)]),
    "mean_keepdim": (lambda a: a.mean(0, keepdim=True), [(3, 4)]),
    "max_dim": (lambda a: a.max(1)[0], [(3, 5)]),
    "max_all": (lambda a: a.max(), [(3, 5)]),
    "reshape_permute": (lambda a: a.reshape(2, 6).permute(1, 0).reshape(3, 4), [(3, 4)]),
    "transpose_T": (lambda a: a.transpose(0, 1) + a.T, [(4, 4)]),
    "index_fancy_repeated": (lambda a: a[np.array([0, 2, 0])] * 2, [(3, 4)]),
    "index_slices": (lambda a: a[1:, ::2], [(3, 5)]),
    "cat_stack": (lambda a, b: kiln.cat([a, b], 1) + kiln.stack([a, b], 1).sum(1).repeat(1, 2), [(2, 3), (2, 3)]),
    "unsqueeze_squeeze_expand": (lambda a: a.unsqueeze(0).expand(3, 2, 4).squeeze(), [(2, 4)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), [(10,)]),
    "where": (lambda a, b: kiln.where(a.numpy() > 0, a, b), [(3, 3), (3, 3)]),
    "activations": (lambda a: kiln.relu(a) + kiln.sigmoid(a) + kiln.tanh(a) + kiln.softmax(a, 1), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradients(name, rng):
    fn, shapes = OPS[name]
    arrays = [rng.standard_normal(s) + (0.1 if name == "clamp" else 0) for s in shapes]
    check_grad(fn, *arrays, rng=rng)


def test_dtype_casts_pass_gradients_back_in_the_source_dtype(rng):
    a = kiln.tensor(rng.standard_normal(3), requires_grad=True)
    w = rng.standard_normal(3).astype(np.float32)
    (a.float() * w).sum().backward()
    assert a.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.numpy(), w.astype(np.float64))


def test_gradients_accumulate_and_reuse_of_a_tensor(rng):
    a = kiln.tensor(rng.standard_normal(4), requires_grad=True)
    (a * a + a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() + 1, rtol=1e-6)
    (a * 3).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() + 4, rtol=1e-6)


def test_constructors_follow_torch_dtypes():
    assert kiln.tensor([1.0, 2.0]).dtype == np.float32
    assert kiln.tensor([1, 2]).dtype == np.int64
    assert kiln.tensor(np.zeros(3)).dtype == np.float64
    assert kiln.tensor([1, 2], dtype=kiln.float32).dtype == np.float32
    assert kiln.zeros(2, 3).shape == (2, 3) and kiln.ones((4,)).dtype == np.float32
    assert kiln.arange(5).dtype == np.int64


def test_no_grad_and_detach(rng):
    w = kiln.tensor(rng.standard_normal(3), requires_grad=True)
    with kiln.no_grad():
        y = w * 2
    assert not y.requires_grad
    assert not (w.detach() * 2).requires_grad

    @kiln.no_grad()
    def f(x):
        return x * 3

    assert not f(w).requires_grad


def test_errors_are_clear(rng):
    w = kiln.tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (w * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        kiln.tensor([1.0]).backward()
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1
    with pytest.raises(RuntimeError, match="floating point"):
        kiln.tensor([1, 2], requires_grad=True)
    with pytest.raises(ValueError, match="elements"):
        w.item()


def test_retain_graph_allows_a_second_backward(rng):
    w = kiln.tensor(rng.standard_normal(3), requires_grad=True)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * w.numpy(), rtol=1e-6)


def test_item_numpy_shape_and_comparisons():
    t = kiln.tensor([[1.0, 5.0], [3.0, 2.0]])
    assert t.shape == (2, 2) and t.size(1) == 2 and t.dim() == 2 and t.numel() == 4
    assert kiln.argmax(t, dim=1).tolist() == [1, 0]
    assert (t.argmax(1) == kiln.tensor([1, 0])).float().mean().item() == 1.0
    assert t.max().item() == 5.0 and float(t.sum()) == 11.0
    values, indices = t.max(dim=0)
    assert values.tolist() == [3.0, 5.0] and indices.tolist() == [1, 0]
    np.testing.assert_array_equal(t.numpy(), [[1, 5], [3, 2]])


def test_in_place_updates_under_no_grad(rng):
    w = kiln.tensor(np.ones(3, np.float32), requires_grad=True)
    (w * 2).sum().backward()
    with kiln.no_grad():
        w -= 0.5 * w.grad
    np.testing.assert_allclose(w.numpy(), 0.0)
