"""sparse_matmul and sparse_matmul_backward_weight: native vs the reference, SciPy's
semantics (repeated and unsorted indices), every input format, thread-count independence,
bad input; and nn.Linear / F.dense on a sparse batch against the dense path."""

import numpy as np
import pytest
import scipy.sparse
from conftest import assert_close, f32, reduction_tol

import kiln
from kiln import nn, ops, reference
from kiln.nn import functional as F

# (m, k, n, density): m = 1 and 0, k = 0, n = 0, n around the SIMD widths (8, 16) and the
# 64 / 128-column register blocks, empty rows (low density), and sizes that use both threads.
CASES = [(1, 1, 1, 1.0), (1, 50, 7, 0.2), (0, 10, 5, 0.1), (3, 0, 4, 0.0), (4, 6, 0, 0.5),
         (8, 100, 33, 0.05), (5, 40, 15, 0.1), (6, 40, 16, 0.1), (7, 40, 17, 0.1),
         (64, 2000, 128, 0.01), (17, 300, 70, 0.03), (40, 500, 200, 0.02), (9, 80, 129, 0.1),
         (300, 3000, 300, 0.01)]


def random_csr(rng, m, k, density):
    return scipy.sparse.random(m, k, density=density, format="csr", dtype=np.float32, random_state=rng)


def dense64(x):
    return x.toarray().astype(np.float64)


@pytest.mark.parametrize("m,k,n,density", CASES)
def test_matches_reference(m, k, n, density, backend, rng):
    x = random_csr(rng, m, k, density)
    w = f32(rng.standard_normal((k, n)))
    bias = f32(rng.standard_normal(n))
    want = dense64(x) @ w + bias
    got = ops.sparse_matmul(x, w, bias, backend=backend)
    assert got.dtype == np.float32 and got.shape == (m, n)
    tol = reduction_tol(k)
    assert_close(got, want, tol, "forward")
    assert_close(ops.sparse_matmul(x, np.ascontiguousarray(w.T), bias, transpose_w=True, backend=backend),
                 want, tol, "forward, transpose_w")
    assert_close(reference.sparse_matmul((x.data, x.indices, x.indptr, x.shape), w.astype(np.float64),
                                         bias.astype(np.float64)), want, 1e-12, "reference")

    grad_y = f32(rng.standard_normal((m, n)))
    want = dense64(x).T @ grad_y
    got = ops.sparse_matmul_backward_weight(x, grad_y, backend=backend)
    assert got.dtype == np.float32 and got.shape == (k, n)
    assert_close(got, want, reduction_tol(m), "weight gradient")
    got = ops.sparse_matmul_backward_weight(x, grad_y, transpose_w=True, backend=backend)
    assert got.shape == (n, k)
    assert_close(got, want.T, reduction_tol(m), "weight gradient, transpose_w")


@pytest.mark.parametrize("transpose_w", [False, True])
def test_beta_accumulates_and_zero_beta_ignores_out(transpose_w, backend, rng):
    x = random_csr(rng, 12, 90, 0.1)
    w = f32(rng.standard_normal((90, 37)))
    w_op = np.ascontiguousarray(w.T) if transpose_w else w
    prior = f32(rng.standard_normal((12, 37)))
    out = prior.copy()
    result = ops.sparse_matmul(x, w_op, transpose_w=transpose_w, beta=0.5, out=out, backend=backend)
    assert result is out
    assert_close(out, dense64(x) @ w + 0.5 * prior, reduction_tol(90))
    out[...] = np.nan  # beta == 0: out is written, never read
    ops.sparse_matmul(x, w_op, transpose_w=transpose_w, out=out, backend=backend)
    assert_close(out, dense64(x) @ w, reduction_tol(90))

    grad_y = f32(rng.standard_normal((12, 37)))
    shape = (37, 90) if transpose_w else (90, 37)
    prior = f32(rng.standard_normal(shape))
    grad_w = prior.copy()
    ops.sparse_matmul_backward_weight(x, grad_y, transpose_w=transpose_w, beta=1.0, out=grad_w, backend=backend)
    want = dense64(x).T @ grad_y
    assert_close(grad_w, (want.T if transpose_w else want) + prior, reduction_tol(12))
    grad_w[...] = np.nan
    ops.sparse_matmul_backward_weight(x, grad_y, transpose_w=transpose_w, out=grad_w, backend=backend)
    assert_close(grad_w, want.T if transpose_w else want, reduction_tol(12))


@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_repeated_and_unsorted_indices_add_as_in_scipy(backend_name, rng):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    data = f32([1.0, 2.0, -1.5, 0.5, 3.0, 0.0, 4.0])
    indices = np.array([4, 1, 4, 0, 2, 3, 2], np.int32)  # row 0: 4, 1, 4 (repeated); row 2: 2, 3, 2
    indptr = np.array([0, 3, 4, 7], np.int64)
    x = scipy.sparse.csr_matrix((data, indices, indptr), shape=(3, 5))
    assert not x.has_canonical_format
    w = f32(rng.standard_normal((5, 9)))
    grad_y = f32(rng.standard_normal((3, 9)))
    parts = (data, indices, indptr, (3, 5))
    want = x.astype(np.float64) @ w.astype(np.float64)  # SciPy sums the repeats
    assert_close(ops.sparse_matmul(parts, w, backend=backend_name), want, reduction_tol(5))
    want = x.T.astype(np.float64) @ grad_y.astype(np.float64)
    assert_close(ops.sparse_matmul_backward_weight(parts, grad_y, backend=backend_name), want, reduction_tol(3))


def test_every_input_format(backend, rng):
    x = random_csr(rng, 10, 60, 0.1)
    w = f32(rng.standard_normal((60, 20)))
    want = ops.sparse_matmul(x, w, backend=backend)
    formats = [x.tocsc(), x.tocoo(), scipy.sparse.csr_array(x), x.astype(np.float64),
               (x.data, x.indices.astype(np.int64), x.indptr.astype(np.int32), x.shape),
               (list(x.data), list(x.indices), list(x.indptr), list(x.shape))]
    for other in formats:
        np.testing.assert_allclose(ops.sparse_matmul(other, w, backend=backend), want, rtol=1e-6, atol=1e-6)


def test_all_zero_matrix(backend, rng):
    x = scipy.sparse.csr_matrix((6, 30), dtype=np.float32)
    w = f32(rng.standard_normal((30, 11)))
    bias = f32(rng.standard_normal(11))
    np.testing.assert_array_equal(ops.sparse_matmul(x, w, bias, backend=backend), np.tile(bias, (6, 1)))
    np.testing.assert_array_equal(ops.sparse_matmul_backward_weight(x, np.ones((6, 11), np.float32),
                                                                     backend=backend), np.zeros((30, 11)))


@pytest.mark.parametrize("transpose_w", [False, True])
def test_thread_count_does_not_change_result(transpose_w, rng):
    # Skewed columns: a few features in many rows, so that the order of each sum matters.
    m, k, n = 400, 5000, 300
    rows = np.repeat(np.arange(m), 40)
    cols = np.minimum(rng.geometric(0.002, rows.size) - 1, k - 1)
    x = scipy.sparse.csr_matrix((f32(rng.standard_normal(rows.size)), (rows, cols)), shape=(m, k))
    w = f32(rng.standard_normal((n, k) if transpose_w else (k, n)))
    grad_y = f32(rng.standard_normal((m, n)))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            results.append((ops.sparse_matmul(x, w, transpose_w=transpose_w, backend="cpu"),
                            ops.sparse_matmul_backward_weight(x, grad_y, transpose_w=transpose_w, backend="cpu")))
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ---- bad input ----------------------------------------------------------------------------------

W = np.zeros((5, 4), np.float32)
GOOD = (f32([1.0, 2.0, 3.0]), np.array([0, 4, 2], np.int32), np.array([0, 2, 2, 3], np.int64), (3, 5))


def with_part(i, value):
    parts = list(GOOD)
    parts[i] = value
    return tuple(parts)


BAD_X = [
    (with_part(2, np.array([0, 2, 1, 3])), ValueError, "indptr must not decrease"),
    (with_part(2, np.array([1, 2, 2, 3])), ValueError, r"indptr\[0\] must be 0"),
    (with_part(2, np.array([0, 2, 2, 2])), ValueError, "must equal the number of entries"),
    (with_part(2, np.array([0, 2, 3])), ValueError, r"indptr must have shape \(m \+ 1,\) = \(4,\)"),
    (with_part(1, np.array([0, 5, 2])), ValueError, r"indices\[1\] = 5 is out of range \[0, 5\)"),
    (with_part(1, np.array([0, -1, 2])), ValueError, r"indices\[1\] = -1 is out of range"),
    (with_part(1, np.array([0, 2**40, 2])), ValueError, "out of range"),
    (with_part(1, np.array([0, 1])), ValueError, "must have the same length"),
    (with_part(1, f32([0, 1, 2])), TypeError, "indices must be an integer array"),
    (with_part(0, np.array([1, 2, 3])), TypeError, "data must be a float32 or float64 array"),
    (with_part(3, (3, -5)), ValueError, "shape must be two non-negative ints"),
    (np.zeros((3, 5), np.float32), TypeError, "x must be a SciPy sparse matrix or a tuple"),
]


@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
@pytest.mark.parametrize("x,error,match", BAD_X)
def test_bad_sparse_input_is_refused(x, error, match, backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    with pytest.raises(error, match=match):
        ops.sparse_matmul(x, W, backend=backend_name)
    with pytest.raises(error, match=match):
        ops.sparse_matmul_backward_weight(x, np.zeros((3, 4), np.float32), backend=backend_name)


@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_bad_dense_arguments_are_refused(backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    kw = dict(backend=backend_name)
    with pytest.raises(ValueError, match=r"w must be 2-D \(k, n\) with k = 5 .* got shape \(4, 5\)"):
        ops.sparse_matmul(GOOD, np.zeros((4, 5), np.float32), **kw)
    with pytest.raises(ValueError, match=r"w must be 2-D \(n, k\)"):
        ops.sparse_matmul(GOOD, W, transpose_w=True, **kw)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        ops.sparse_matmul(GOOD, W, np.zeros(5, np.float32), **kw)
    with pytest.raises(ValueError, match="out must be given"):
        ops.sparse_matmul(GOOD, W, beta=1.0, **kw)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 4\)"):
        ops.sparse_matmul(GOOD, W, out=np.zeros((4, 3), np.float32), **kw)
    with pytest.raises(TypeError, match="out must be float32"):
        ops.sparse_matmul(GOOD, W, out=np.zeros((3, 4)), **kw)
    read_only = np.zeros((3, 4), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.sparse_matmul(GOOD, W, out=read_only, **kw)
    with pytest.raises(ValueError, match=r"grad_y must be 2-D \(m, n\) with m = 3"):
        ops.sparse_matmul_backward_weight(GOOD, np.zeros((2, 4), np.float32), **kw)
    with pytest.raises(ValueError, match=r"out must have shape \(5, 4\)"):
        ops.sparse_matmul_backward_weight(GOOD, np.zeros((3, 4), np.float32), out=np.zeros((4, 5), np.float32), **kw)


def test_native_outputs_are_never_copied(backend):
    strided = np.zeros((3, 8), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="y must be C-contiguous"):
        ops.sparse_matmul(GOOD, W, out=strided, backend=backend)
    with pytest.raises(ValueError, match=r"grad_w \(k, n\) must be C-contiguous"):
        ops.sparse_matmul_backward_weight(GOOD, np.zeros((3, 4), np.float32), out=np.zeros((5, 8), np.float32)[:, ::2],
                                          backend=backend)
    native = kiln._C
    data, indices, indptr, _ = GOOD
    with pytest.raises(TypeError, match="indices must be a numpy.ndarray of int32, got ndarray of int64"):
        native.sparse_matmul(data, indices.astype(np.int64), indptr, 5, W, None, False, 0.0,
                             np.zeros((3, 4), np.float32))
    w = np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match="y shares memory with w"):
        native.sparse_matmul(data, indices, indptr, 5, w, None, False, 0.0, w[:3])


# ---- layers on a sparse batch ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("layout", ["linear", "dense"])
def test_layer_on_sparse_batch_matches_dense_batch(layout, activation, backend, rng):
    x = random_csr(rng, 16, 200, 0.05)
    shape = (24, 200) if layout == "linear" else (200, 24)
    weight = nn.Parameter(f32(rng.standard_normal(shape) * 0.1))
    bias = nn.Parameter(f32(rng.standard_normal(24)))
    upstream = f32(rng.standard_normal((16, 24)))
    fn = F.linear if layout == "linear" else kiln.nn.functional.dense
    results = []
    with kiln.use_backend(backend):
        for inputs in (x, x.toarray()):
            weight.grad = bias.grad = None
            y = fn(inputs, weight, bias, activation=activation)
            (y * kiln.tensor(upstream)).sum().backward()
            results.append((y.numpy(), weight.grad.numpy().copy(), bias.grad.numpy().copy()))
    for got, want in zip(*results):
        assert_close(got, want, reduction_tol(200))


def test_sparse_batch_gradients_in_float64_on_the_reference(rng):
    x = random_csr(rng, 5, 30, 0.2).astype(np.float64)
    layer = nn.Linear(30, 4).double()
    with kiln.use_backend("numpy"):
        layer(x).sum().backward()
    assert layer.weight.grad.dtype == np.float64
    assert_close(layer.weight.grad.numpy(), np.tile(x.toarray().sum(axis=0), (4, 1)), 1e-12)
    assert_close(layer.bias.grad.numpy(), np.full(4, 5.0), 1e-12)


def test_weight_used_twice_on_sparse_batches_gets_both_gradients(backend, rng):
    # With an optimizer, the kernel writes a weight's gradient straight into the optimizer's
    # buffer; a second product over the same weight must not overwrite the first's.
    x1, x2 = random_csr(rng, 6, 40, 0.2), random_csr(rng, 5, 40, 0.2)
    layer = nn.Linear(40, 8)
    optimizer = kiln.optim.SGD(layer.parameters(), lr=0.1)
    with kiln.use_backend(backend):
        for _ in range(2):
            optimizer.zero_grad()
            (layer(x1).sum() + 2 * layer(x2).sum()).backward()
            want = np.tile(x1.toarray().sum(axis=0) + 2 * x2.toarray().sum(axis=0), (8, 1))
            assert_close(layer.weight.grad.numpy(), want, reduction_tol(11))
            optimizer.zero_grad()
            layer(x1).sum().backward()
            assert_close(layer.weight.grad.numpy(), np.tile(x1.toarray().sum(axis=0), (8, 1)), reduction_tol(6))
            assert layer.weight.grad._array is layer.weight._node.destination
            optimizer.step()
