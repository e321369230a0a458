"""The transposing copy (kiln._C.transpose_copy; the cpu backend's contiguous() and its float32
conversion of transposed views; kiln._tape's copy of a transposed gradient into a leaf's buffer)
against NumPy: the same values, bit for bit, on odd shapes and row-spaced views."""

from __future__ import annotations

import numpy as np
import pytest

import kiln

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="kiln._C is not built")


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 70), (70, 1), (31, 33), (64, 64), (257, 129), (1024, 300)])
@pytest.mark.parametrize("spare", [0, 5])
def test_transpose_copy_is_numpys_copy(rows, cols, spare):
    from kiln import _C
    base = np.random.default_rng(rows * cols + spare).standard_normal((cols, rows + spare)).astype(np.float32)
    src = base[:, :rows].T  # (rows, cols), rows spaced by rows + spare
    dst = np.full((rows, cols), np.nan, np.float32)
    _C.transpose_copy(src, dst)
    np.testing.assert_array_equal(dst, np.ascontiguousarray(src))


def test_transpose_copy_refuses_what_it_cannot_read():
    from kiln import _C
    a = np.zeros((8, 6), np.float32)
    with pytest.raises(ValueError, match="transpose of a row-major"):
        _C.transpose_copy(a, np.zeros((8, 6), np.float32))  # row-major itself
    with pytest.raises(ValueError, match="dst"):
        _C.transpose_copy(a.T, np.zeros((5, 8), np.float32))
    with pytest.raises(TypeError):
        _C.transpose_copy(a.T.astype(np.float64), np.zeros((6, 8), np.float32))
    with pytest.raises(ValueError):
        _C.transpose_copy(a.T, np.zeros((8, 6), np.float32).T)  # dst not C-contiguous


def test_cpu_backend_makes_large_transposed_views_row_major():
    be = kiln.backends.get("cpu")
    k = np.random.default_rng(0).standard_normal((300, 1000)).astype(np.float32)
    for view in (k.T, k[:, :999].T):
        out = be.contiguous(view)
        assert out.flags.c_contiguous and out.dtype == np.float32
        np.testing.assert_array_equal(out, view)
    small = np.zeros((3, 4), np.float64).T
    assert be.contiguous(small).dtype == np.float64


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_a_transposed_gradient_reaches_the_leaf_exactly(backend):
    rng = np.random.default_rng(1)
    g = rng.standard_normal((400, 160)).astype(np.float32)
    with kiln.use_backend(backend):
        w = kiln.tensor(rng.standard_normal((160, 400)).astype(np.float32), requires_grad=True)
        optimizer = kiln.optim.SGD([w], lr=0.0)  # its flat gradient buffer: the tape copies into it
        # the product's gradient is row-major (400, 160): w's arrives as its transpose, a view
        (w.T * kiln.tensor(g)).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), g.T)
        optimizer.zero_grad()
        (w.T[:, :150] * kiln.tensor(g[:, :150])).sum().backward()  # and a row-spaced one
        expected = np.zeros((160, 400), np.float32)
        expected[:150] = g[:, :150].T
        np.testing.assert_array_equal(w.grad.numpy(), expected)


def test_keras_lstm_gradients_unchanged_by_the_layout_copies():
    from kiln import keras
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5, 40)).astype(np.float32)
    grads = {}
    for name in ("numpy", "cpu"):
        with kiln.use_backend(name):
            keras.utils.set_random_seed(0)
            layer = keras.layers.LSTM(160)
            out = layer(kiln.tensor(x))
            (out * out).sum().backward()
            grads[name] = [w.grad.numpy().astype(np.float64) for w in (layer.kernel, layer.recurrent_kernel)]
    for ours, ref in zip(grads["cpu"], grads["numpy"]):
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
