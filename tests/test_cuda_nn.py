"""The cuda backend's non-GEMM kernels (NeuralKernels, kiln._cuda's nn bindings) beyond what
tests/test_backend_ops.py covers: odd shapes and batches, every softmax axis, outputs given,
inputs of other dtypes, edge sizes, the reference's exact error messages for bad indices,
targets and CSR structure, and the Philox fills against a host Philox4x32-10 for exact bits.
Skipped where kiln was built without CUDA or has no device (real or emulated)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kiln
from kiln import backends

if not kiln.cuda.is_available():
    pytest.skip("no cuda device (kiln built without CUDA, or no GPU)", allow_module_level=True)
cuda_backend = backends.cuda


@pytest.fixture
def be():
    return cuda_backend.get_backend()


@pytest.fixture
def ref():
    return backends.get("numpy")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def host(be, a):
    if a is None or isinstance(a, (float, int)):
        return a
    return np.asarray(be.to_numpy(a))


def dev(be, a):
    return be.from_numpy(np.asarray(a))


def assert_close(got, want, rtol=2e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


def loss_value(be, loss):
    return loss if isinstance(loss, float) else float(host(be, loss))


# ---- pooling -------------------------------------------------------------------------------

POOLS = [  # x shape, kernel, stride, padding, dilation, ceil_mode
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),
    ((2, 3, 7, 9), (3, 2), (2, 3), (1, 1), (1, 1), True),
    ((3, 2, 11, 6), (3, 3), (1, 2), (1, 1), (2, 1), False),
    ((1, 4, 5, 5), (2, 2), (3, 3), (1, 1), (1, 1), True),
    ((2, 1, 10, 13), (4, 4), (3, 2), (2, 0), (1, 1), True),
]


@pytest.mark.parametrize("case", POOLS)
def test_max_pool2d_and_backward_match_reference(be, ref, rng, case):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = f32(rng, *shape)
    x.flat[x.size // 2] = np.nan  # NaN wins, as in torch
    want_y, want_i = ref.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True, None)
    y, i = be.max_pool2d(dev(be, x), kernel, stride, padding, dilation, ceil_mode, True, want_y.shape)
    np.testing.assert_array_equal(host(be, y), want_y)
    np.testing.assert_array_equal(host(be, i), want_i)
    only_y = be.max_pool2d(dev(be, x), kernel, stride, padding, dilation, ceil_mode, False, want_y.shape)
    np.testing.assert_array_equal(host(be, only_y), want_y)
    g = f32(rng, *want_y.shape)
    assert_close(host(be, be.max_pool2d_backward(dev(be, g), i, shape)), ref.max_pool2d_backward(g, want_i, shape))


@pytest.mark.parametrize("case", [c for c in POOLS if c[4] == (1, 1)])
@pytest.mark.parametrize("count_include_pad,divisor", [(False, 0), (True, 0), (False, 5), (True, -3)])
def test_avg_pool2d_and_backward_match_reference(be, ref, rng, case, count_include_pad, divisor):
    shape, kernel, stride, padding, _, ceil_mode = case
    x = f32(rng, *shape)
    want = ref.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor, None)
    got = be.avg_pool2d(dev(be, x), kernel, stride, padding, ceil_mode, count_include_pad, divisor, want.shape)
    assert_close(host(be, got), want)
    g = f32(rng, *want.shape)
    assert_close(host(be, be.avg_pool2d_backward(dev(be, g), shape, kernel, stride, padding, ceil_mode,
                                                 count_include_pad, divisor)),
                 ref.avg_pool2d_backward(g, shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor))


def test_max_pool2d_backward_refuses_indices_outside_the_plane(be, rng):
    g = f32(rng, 2, 1, 2, 2)
    for bad in (16, -1):
        indices = np.zeros((2, 1, 2, 2), np.int64)
        indices[1, 0, 1, 0] = bad
        with pytest.raises(ValueError, match=r"max_pool2d_backward: indices must lie in \[0, 16\)"):
            be.max_pool2d_backward(dev(be, g), dev(be, indices), (2, 1, 4, 4))


def test_pooling_an_empty_batch(be, ref):
    x = np.zeros((0, 3, 5, 5), np.float32)
    y, i = be.max_pool2d(dev(be, x), (2, 2), (2, 2), (0, 0), (1, 1), False, True, (0, 3, 2, 2))
    assert host(be, y).shape == (0, 3, 2, 2) and host(be, i).shape == (0, 3, 2, 2)
    assert host(be, be.max_pool2d_backward(y, i, (0, 3, 5, 5))).shape == (0, 3, 5, 5)


# ---- embedding -------------------------------------------------------------------------------

@pytest.mark.parametrize("index_shape", [(), (1,), (7,), (3, 4), (2, 3, 5)])
@pytest.mark.parametrize("dim", [1, 3, 4, 16])
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_and_backward_match_reference(be, ref, rng, index_shape, dim, padding_idx):
    vocab = 6
    indices = rng.integers(0, vocab, index_shape)
    weight = f32(rng, vocab, dim)
    np.testing.assert_array_equal(host(be, be.embedding(dev(be, indices), dev(be, weight), padding_idx)),
                                  ref.embedding(indices, weight, padding_idx))
    g = f32(rng, *index_shape, dim)
    assert_close(host(be, be.embedding_backward(dev(be, indices), dev(be, g), vocab, padding_idx)),
                 ref.embedding_backward(indices, g, vocab, padding_idx))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])  # the device's integer dtypes
def test_embedding_takes_any_integer_dtype(be, ref, rng, dtype):
    indices = rng.integers(0, 5, (3, 2)).astype(dtype)
    weight = f32(rng, 5, 3)
    np.testing.assert_array_equal(host(be, be.embedding(dev(be, indices), dev(be, weight), None)),
                                  ref.embedding(indices, weight, None))


@pytest.mark.parametrize("fn", ["embedding", "embedding_backward"])
def test_embedding_out_of_range_is_the_references_value_error(be, ref, rng, fn):
    indices = np.array([[0, 1, 2], [3, 9, -1]])
    weight = f32(rng, 5, 4)
    calls = {"embedding": lambda b, i, w: b.embedding(i, w, None),
             "embedding_backward": lambda b, i, w: b.embedding_backward(i, f32(rng, 2, 3, 4) if b is ref else
                                                                        dev(be, f32(rng, 2, 3, 4)), 5, None)}
    with pytest.raises(ValueError) as want:
        calls[fn](ref, indices, weight)
    with pytest.raises(ValueError) as got:
        calls[fn](be, dev(be, indices), dev(be, weight))
    assert str(got.value) == str(want.value)  # "...: indices[1, 1] = 9 is out of range [0, 5)"


# ---- CSR x dense -----------------------------------------------------------------------------

def _csr(rng, m, k, per_row):
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, per_row + 1, m))]).astype(np.int64)
    indices = rng.integers(0, k, indptr[-1]).astype(np.int32)  # unsorted, repeats
    return f32(rng, indptr[-1]), indices, indptr, (m, k)


def _dev_csr(be, x):
    data, indices, indptr, shape = x
    return dev(be, data), dev(be, indices), dev(be, indptr), shape


@pytest.mark.parametrize("m,k,n,per_row", [(1, 1, 1, 1), (9, 40, 37, 50), (17, 5, 130, 4), (4, 7, 3, 0)])
@pytest.mark.parametrize("transpose_w", [False, True])
def test_sparse_matmul_and_weight_gradient_match_reference(be, ref, rng, m, k, n, per_row, transpose_w):
    x = _csr(rng, m, k, per_row)
    w = f32(rng, *((n, k) if transpose_w else (k, n)))
    bias = f32(rng, n)
    assert_close(host(be, be.sparse_matmul(_dev_csr(be, x), dev(be, w), dev(be, bias), transpose_w, 0.0, None)),
                 ref.sparse_matmul(x, w, bias, transpose_w, 0.0, None), rtol=1e-4, atol=1e-5)
    # beta accumulates into a given out.
    y0 = f32(rng, m, n)
    out = dev(be, y0)
    got = be.sparse_matmul(_dev_csr(be, x), dev(be, w), None, transpose_w, 0.5, out)
    assert_close(host(be, got), ref.sparse_matmul(x, w, None, transpose_w, 0.5, y0.copy()), rtol=1e-4, atol=1e-5)
    gy = f32(rng, m, n)
    assert_close(host(be, be.sparse_matmul_backward_weight(_dev_csr(be, x), dev(be, gy), transpose_w, 0.0, None)),
                 ref.sparse_matmul_backward_weight(x, gy, transpose_w, 0.0, None), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fault", ["indptr0", "decreasing", "end", "index_high", "index_negative", "int64_index"])
@pytest.mark.parametrize("fn", ["sparse_matmul", "sparse_matmul_backward_weight"])
def test_csr_structure_errors_are_the_references(be, ref, rng, fault, fn):
    data, indices, indptr, shape = _csr(rng, 5, 6, 3)
    indptr, indices = indptr.copy(), indices.copy()
    if fault == "indptr0":
        indptr[0] = 1
    elif fault == "decreasing":
        indptr[2] = indptr[1] - 1
    elif fault == "end":
        indptr[-1] += 1
    elif fault == "index_high":
        indices[-1] = 6
    elif fault == "index_negative":
        indices[0] = -2
    else:
        indices = indices.astype(np.int64)
        indices[-1] = 2**40  # would wrap in an int32 cast
    if indices.size == 0:
        pytest.skip("no entries drawn")
    x = (data, indices, indptr, shape)
    w, gy = f32(rng, 6, 3), f32(rng, 5, 3)
    calls = {"sparse_matmul": lambda b, x, w, g: b.sparse_matmul(x, w, None, False, 0.0, None),
             "sparse_matmul_backward_weight": lambda b, x, w, g: b.sparse_matmul_backward_weight(x, g, False, 0.0,
                                                                                                   None)}
    with pytest.raises(ValueError) as want:
        calls[fn](ref, x, w, gy)
    with pytest.raises(ValueError) as got:
        calls[fn](be, _dev_csr(be, x), dev(be, w), dev(be, gy))
    assert str(got.value) == str(want.value)


# ---- losses ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,c", [(1, 1), (5, 3), (37, 33), (4, 300)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_matches_reference(be, ref, rng, n, c, label_smoothing):
    logits = f32(rng, n, c) * 4
    target = rng.integers(0, c, n)
    target[::3] = -7  # ignored
    want_loss, want_grad = ref.softmax_cross_entropy(logits, target, -7, label_smoothing, True, 0.5)
    loss, grad = be.softmax_cross_entropy(dev(be, logits), dev(be, target), -7, label_smoothing, True, 0.5)
    assert_close(loss_value(be, loss), want_loss)
    assert_close(host(be, grad), want_grad)
    probs = np.exp(f32(rng, n, c))
    probs /= probs.sum(1, keepdims=True)
    want_loss = ref.softmax_cross_entropy(logits, probs, -100, label_smoothing, False, 1.0)
    assert_close(loss_value(be, be.softmax_cross_entropy(dev(be, logits), dev(be, probs), -100, label_smoothing,
                                                         False, 1.0)), want_loss)


def test_cross_entropy_of_only_ignored_rows_is_nan_with_zero_gradient(be, rng):
    loss, grad = be.softmax_cross_entropy(dev(be, f32(rng, 4, 3)), dev(be, np.full(4, -100)), -100, 0.0, True, 1.0)
    assert math.isnan(loss_value(be, loss))
    np.testing.assert_array_equal(host(be, grad), np.zeros((4, 3), np.float32))


def test_cross_entropy_bad_target_is_the_references_value_error(be, ref, rng):
    logits, target = f32(rng, 4, 3), np.array([0, -100, 3, 1])
    with pytest.raises(ValueError) as want:
        ref.softmax_cross_entropy(logits, target, -100, 0.0, True, 1.0)
    with pytest.raises(ValueError) as got:
        be.softmax_cross_entropy(dev(be, logits), dev(be, target), -100, 0.0, True, 1.0)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("shape", [(), (1,), (7, 11), (2, 3, 5)])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_with_logits_matches_reference(be, ref, rng, shape, with_pos_weight):
    logits = rng.standard_normal(shape).astype(np.float32) * 5
    target = rng.random(shape).astype(np.float32)
    pw = np.abs(f32(rng, *shape[-1:])) + 0.5 if with_pos_weight and shape else None
    want_loss, want_grad = ref.bce_with_logits(logits, target, pw, True, 2.0)
    loss, grad = be.bce_with_logits(dev(be, logits), dev(be, target), None if pw is None else dev(be, pw), True, 2.0)
    assert_close(loss_value(be, loss), want_loss)
    assert_close(host(be, grad), want_grad)


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 1001)])
def test_mse_matches_reference(be, ref, rng, shape):
    pred, target = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    want = ref.mse(pred, target, True, 0.5)
    loss, grad = be.mse(dev(be, pred), dev(be, target), True, 0.5)
    if shape == (0,):
        assert math.isnan(loss_value(be, loss))
    else:
        assert_close(loss_value(be, loss), want[0])
    assert_close(host(be, grad), want[1])


# ---- activations and softmax --------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("shape", [(1,), (3,), (5, 7), (2, 3, 67)])
def test_activation_and_backward_match_reference(be, ref, rng, name, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 4
    x.flat[0] = np.nan
    want = ref.activation(name, x, None)
    got = host(be, be.activation(name, dev(be, x), None))
    assert_close(got, want, rtol=1e-5)
    g = rng.standard_normal(shape).astype(np.float32)
    saved = x if name in ("relu", "gelu", "gelu_tanh") else want
    assert_close(host(be, be.activation_backward(name, dev(be, g), dev(be, saved), None)),
                 ref.activation_backward(name, g, saved, None), rtol=1e-5, atol=1e-6)
    out = be.empty(shape, np.float32)
    assert be.activation(name, dev(be, x), out) is out
    assert_close(host(be, out), want, rtol=1e-5)


def test_activation_of_float64_input(be, ref, rng):
    x = rng.standard_normal((4, 5))
    assert_close(host(be, be.activation("tanh", dev(be, x), None)), ref.activation("tanh", x, None))


@pytest.mark.parametrize("shape", [(1,), (9,), (3, 1500), (4, 5, 6), (2, 1, 3, 33)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_and_backward_along_every_axis(be, ref, rng, shape, log):
    x = rng.standard_normal(shape).astype(np.float32) * 3
    g = rng.standard_normal(shape).astype(np.float32)
    for axis in range(len(shape)):
        want = ref.softmax(x, axis, log, None)
        y = be.softmax(dev(be, x), axis, log, None)
        assert_close(host(be, y), want, rtol=1e-5, atol=1e-6)
        assert_close(host(be, be.softmax_backward(dev(be, g), y, axis, log, None)),
                     ref.softmax_backward(g, want, axis, log, None), rtol=1e-4, atol=1e-5)


def test_softmax_in_place(be, ref, rng):
    x = f32(rng, 6, 7)
    a = dev(be, x)
    assert be.softmax(a, 1, False, a) is a
    assert_close(host(be, a), ref.softmax(x, 1, False, None), atol=1e-6)


# ---- Philox fills ----------------------------------------------------------------------------

def _philox(counter, key):
    """Philox4x32-10 on Python ints (Salmon et al. 2011), the host's copy for exact bits."""
    mask = 0xFFFFFFFF
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32) ^ c3 ^ k1) & mask, p0 & mask
        k0, k1 = (k0 + 0x9E3779B9) & mask, (k1 + 0xBB67AE85) & mask
    return c0, c1, c2, c3


def _host_uniform(seed, offset, n):
    out = np.empty(n, np.float32)
    for i in range(n):
        e = offset + i
        block = e // 4
        word = _philox((block & 0xFFFFFFFF, block >> 32, 0, 0), (seed & 0xFFFFFFFF, seed >> 32))[e % 4]
        out[i] = np.float32(word >> 8) / np.float32(2**24)
    return out


def _native():
    from kiln.backends.cuda.native import _cuda
    return _cuda


def test_philox_known_answers():
    # Random123's kat_vectors.
    assert _philox((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert _philox((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == (
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


@pytest.mark.parametrize("offset,n", [(0, 1), (0, 37), (3, 10), (1 << 33, 9)])
def test_random_uniform_is_philox_bit_for_bit(be, offset, n):
    seed = 0x1234_5678_9ABC_DEF0
    out = be.empty((n,), np.float32)
    _native().random_uniform(out.ptr, n, seed, offset, be.stream)
    np.testing.assert_array_equal(host(be, out), _host_uniform(seed, offset, n))


def test_random_normal_and_dropout_statistics(be):
    n = 1 << 16
    z = be.empty((n,), np.float32)
    _native().random_normal(z.ptr, n, 99, 0, 0.0, 1.0, be.stream)
    v = host(be, z).astype(np.float64)
    assert abs(v.mean()) < 5 / math.sqrt(n) and abs(v.var() - 1) < 5 * math.sqrt(2 / n)
    again = be.empty((n,), np.float32)
    _native().random_normal(again.ptr, n, 99, 0, 0.0, 1.0, be.stream)
    np.testing.assert_array_equal(host(be, again), host(be, z))  # reproducible from (seed, offset)
    mask = be.empty((n,), np.float32)
    _native().random_dropout(mask.ptr, 0, 0, n, 0.25, 5, 0, be.stream)
    m = host(be, mask)
    assert set(np.unique(m)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((m > 0).mean() - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)
