"""matmul: native vs the float64 reference, layouts, epilogues, batching, bad input."""

import numpy as np
import pytest
from conftest import NATIVE_BACKENDS, assert_close, f32, reduction_tol

from kiln import ops, reference

SHAPES = [  # (m, n, k): ones, odd sizes, non-multiples of any SIMD width, across cache blocks
    (1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 5, 7), (17, 33, 65), (64, 64, 64),
    (31, 47, 300), (129, 257, 70), (300, 20, 513), (2, 1000, 3), (257, 130, 1100), (40, 70, 2100),
]


def product(m, n, k, transpose_a, transpose_b, rng, batch=None):
    lead = () if batch is None else (batch,)
    a = f32(rng.standard_normal(lead + ((k, m) if transpose_a else (m, k))))
    b = f32(rng.standard_normal(lead + ((n, k) if transpose_b else (k, n))))
    return a, b


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matches_reference(m, n, k, transpose_a, transpose_b, backend, rng):
    a, b = product(m, n, k, transpose_a, transpose_b, rng)
    got = ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, backend=backend)
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64),
                            transpose_a=transpose_a, transpose_b=transpose_b)
    assert got.dtype == np.float32 and got.shape == (m, n)
    assert_close(got, want, reduction_tol(k))


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (33, 65, 17), (200, 300, 129)])
def test_fused_bias_and_activation(activation, m, n, k, backend, rng):
    a, b = product(m, n, k, False, True, rng)
    bias = f32(rng.standard_normal(n))
    got = ops.matmul(a, b, transpose_b=True, bias=bias, activation=activation, backend=backend)
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), transpose_b=True,
                            bias=bias.astype(np.float64), activation=activation)
    assert_close(got, want, reduction_tol(k))


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (2.0, 0.0), (0.0, 3.0)])
def test_alpha_beta_accumulate_in_place(alpha, beta, backend, rng):
    a, b = product(70, 90, 300, False, False, rng)
    c = f32(rng.standard_normal((70, 90)))
    c0 = c.copy()
    got = ops.matmul(a, b, alpha=alpha, beta=beta, out=c, backend=backend)
    assert got is c
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), alpha=alpha, beta=beta,
                            c=c0.astype(np.float64))
    assert_close(c, want, reduction_tol(300))


def test_beta_zero_ignores_nan_in_out(backend, rng):
    a, b = product(20, 30, 40, False, False, rng)
    c = np.full((20, 30), np.nan, np.float32)
    ops.matmul(a, b, out=c, backend=backend)
    assert np.isfinite(c).all()


@pytest.mark.parametrize("batch", [0, 1, 3, 8])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (13, 17, 19), (65, 40, 130)])
def test_batched(batch, m, n, k, backend, rng):
    a, b = product(m, n, k, False, True, rng, batch=batch)
    got = ops.matmul(a, b, transpose_b=True, backend=backend)
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), transpose_b=True)
    assert got.shape == (batch, m, n)
    assert_close(got, want, reduction_tol(k))


def test_batched_broadcasts_a_matrix(backend, rng):
    a = f32(rng.standard_normal((5, 12, 20)))
    w = f32(rng.standard_normal((20, 9)))
    assert_close(ops.matmul(a, w, backend=backend), np.matmul(a.astype(np.float64), w), reduction_tol(20))
    assert_close(ops.matmul(w.T.copy(), a.transpose(0, 2, 1).copy(), backend=backend),
                 np.matmul(w.T.astype(np.float64), a.transpose(0, 2, 1)), reduction_tol(20))


@pytest.mark.parametrize("batch_a,batch_b", [(0, 1), (1, 0), (0, 0), (1, 3), (3, 1), (1, 1)])
@pytest.mark.parametrize("m,n,k", [(17, 17, 16), (130, 70, 90)])  # the direct and the packed path
@pytest.mark.parametrize("transpose_b", [False, True])
def test_a_batch_of_one_broadcasts_against_any_batch(batch_a, batch_b, m, n, k, transpose_b, rng):
    # As NumPy and PyTorch broadcast: 1 against n gives n, n = 0 included. A batch of 1
    # against an empty batch used to give a batch of 1, read from memory past b.
    a, b = product(m, n, k, False, transpose_b, rng)
    a = f32(rng.standard_normal((batch_a, m, k)))
    b = f32(rng.standard_normal((batch_b,) + b.shape))
    want = np.matmul(a.astype(np.float64), np.swapaxes(b, 1, 2) if transpose_b else b)
    for backend in ["numpy", *NATIVE_BACKENDS]:
        got = ops.matmul(a, b, transpose_b=transpose_b, backend=backend)
        assert got.shape == want.shape == (batch_b if batch_a == 1 else batch_a, m, n)
        assert_close(got, want, reduction_tol(k), backend)


def test_a_batch_of_one_against_an_empty_batch_in_the_native_module():
    from kiln import _C, backends
    a, b = np.ones((1, 17, 16), np.float32), np.ones((0, 16, 17), np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(0, 17, 17\)"):
        _C.matmul(a, b, out=np.empty((1, 17, 17), np.float32))
    out = np.empty((0, 17, 17), np.float32)
    assert _C.matmul(a, b, out=out) is out
    _C.matmul(b.transpose(0, 2, 1).copy(), a.transpose(0, 2, 1).copy(), out=out)
    for name in NATIVE_BACKENDS:  # a backend allocating the output itself
        assert backends.get(name).matmul(a, b, False, False, None, None, 1.0, 0.0, None).shape == (0, 17, 17)


def test_zero_sizes(backend):
    assert ops.matmul(np.zeros((0, 5), np.float32), np.zeros((5, 3), np.float32), backend=backend).shape == (0, 3)
    out = ops.matmul(np.zeros((4, 0), np.float32), np.zeros((0, 3), np.float32),
                     bias=np.ones(3, np.float32), backend=backend)
    np.testing.assert_array_equal(out, np.ones((4, 3), np.float32))


def test_views_without_unit_stride(backend, rng):
    base = f32(rng.standard_normal((80, 120)))
    want = lambda x, y: np.asarray(x, np.float64) @ np.asarray(y, np.float64)  # noqa: E731
    a, b = base[::2, 10:50], base[:40, ::3]  # row-strided; column-strided
    assert_close(ops.matmul(a, b, backend=backend), want(a, b), reduction_tol(40))
    at = base[:60, :30].T  # a transposed view: passed as the base with transpose flipped
    assert_close(ops.matmul(at, base[:60, :7], backend=backend), want(at, base[:60, :7]), reduction_tol(60))
    neg = base[::-1, :20]
    assert_close(ops.matmul(neg, base[:20, :5], backend=backend), want(neg, base[:20, :5]), reduction_tol(20))


def test_views_whose_rows_overlap(backend, rng):
    # A broadcast row (row stride 0) and rows one float apart: read as their values, never as
    # rows a full row's length apart (which would read past the array).
    row = f32(rng.standard_normal(12))
    b = f32(rng.standard_normal((12, 5)))
    a = np.broadcast_to(row, (7, 12))
    assert_close(ops.matmul(a, b, backend=backend), np.asarray(a, np.float64) @ b, reduction_tol(12))
    assert_close(ops.matmul(b.T, a, transpose_b=True, backend=backend), b.T.astype(np.float64) @ a.T,
                 reduction_tol(12))
    sliding = np.lib.stride_tricks.as_strided(row, (9, 4), (4, 4), writeable=False)
    assert_close(ops.matmul(sliding, b[:4], backend=backend), np.asarray(sliding, np.float64) @ b[:4],
                 reduction_tol(4))
    batch = np.broadcast_to(f32(rng.standard_normal((6, 12))), (3, 6, 12))
    assert_close(ops.matmul(batch, b, backend=backend), np.asarray(batch, np.float64) @ b, reduction_tol(12))


def test_array_likes_and_scalars_are_parsed(backend, rng):
    a, b = product(4, 3, 5, False, False, rng)
    want = 2.0 * (a.astype(np.float64) @ b)
    assert_close(ops.matmul(a.tolist(), b, alpha=2, backend=backend), want, reduction_tol(5))
    assert_close(ops.matmul(a, b.tolist(), alpha=np.float32(2), backend=backend), want, reduction_tol(5))
    out = np.ones((4, 3), np.float32)
    ops.matmul(a, b, bias=[1.0, 2.0, 3.0], alpha=2.0, beta=np.float64(1.0), out=out, backend=backend)
    assert_close(out, want + 1.0 + np.array([1.0, 2.0, 3.0]), reduction_tol(5))
    with pytest.raises(TypeError, match="alpha"):
        ops.matmul(a, b, alpha=True, backend=backend)


def test_out_is_a_row_strided_view(backend, rng):
    a, b = product(10, 6, 8, False, False, rng)
    big = np.zeros((10, 16), np.float32)
    ops.matmul(a, b, out=big[:, 3:9], backend=backend)
    assert_close(big[:, 3:9], a.astype(np.float64) @ b, reduction_tol(8))
    assert not big[:, :3].any() and not big[:, 9:].any()


def test_float64_inputs_are_accepted(backend, rng):
    a = rng.standard_normal((9, 4))
    b = rng.standard_normal((4, 5))
    got = ops.matmul(a, b, backend=backend)
    assert got.dtype == np.float32
    assert_close(got, a @ b, reduction_tol(4))


def test_nan_and_inf_propagate(backend):
    a = np.array([[1.0, np.nan], [1.0, 1.0], [np.inf, 0.0]], np.float32)
    b = np.ones((2, 2), np.float32)
    got = ops.matmul(a, b, backend=backend)
    with np.errstate(invalid="ignore"):
        want = reference.matmul(a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isfinite(want)], want[np.isfinite(want)])


def test_thread_count_does_not_change_result(rng):
    import kiln
    a, b = product(300, 500, 200, False, False, rng)
    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(1)
        one = ops.matmul(a, b, backend="cpu")
        kiln.set_num_threads(2)
        two = ops.matmul(a, b, backend="cpu")
    finally:
        kiln.set_num_threads(before)
    np.testing.assert_array_equal(one, two)



# ---- the small-product path (m * n * k <= 64^3: no packing, direct kernel) ----------------

SMALL = [(1, 1, 1), (1, 70, 3), (70, 1, 5), (2, 3, 4), (5, 7, 9), (6, 16, 1), (6, 8, 2), (7, 17, 5),
         (5, 15, 2), (11, 24, 10), (13, 9, 33), (12, 32, 64), (63, 64, 64), (64, 64, 64),
         (65, 64, 64), (64, 65, 63), (64, 64, 65), (70, 70, 70), (3, 70, 70)]


@pytest.mark.parametrize("m,n,k", SMALL)
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_small_products_with_every_layout_and_epilogue(m, n, k, transpose_a, transpose_b, backend, rng):
    a, b = product(m, n, k, transpose_a, transpose_b, rng)
    bias = f32(rng.standard_normal(n))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    layout = dict(transpose_a=transpose_a, transpose_b=transpose_b)
    assert_close(ops.matmul(a, b, **layout, backend=backend), reference.matmul(a64, b64, **layout),
                 reduction_tol(k))
    for activation in ("relu", "tanh"):
        got = ops.matmul(a, b, **layout, bias=bias, activation=activation, backend=backend)
        want = reference.matmul(a64, b64, **layout, bias=bias.astype(np.float64), activation=activation)
        assert_close(got, want, reduction_tol(k), activation)
    # alpha/beta into a row-strided view of a guarded buffer: nothing outside it is written
    guarded = np.full((m, n + 11), 7.0, np.float32)
    out = guarded[:, 3:3 + n]
    c0 = f32(rng.standard_normal((m, n)))
    out[...] = c0
    ops.matmul(a, b, **layout, bias=bias, alpha=0.5, beta=-1.5, out=out, backend=backend)
    want = reference.matmul(a64, b64, **layout, bias=bias.astype(np.float64), alpha=0.5, beta=-1.5,
                            c=c0.astype(np.float64))
    assert_close(out, want, reduction_tol(k), "alpha/beta")
    assert (guarded[:, :3] == 7.0).all() and (guarded[:, 3 + n:] == 7.0).all()


def test_small_product_beta_zero_ignores_nan_and_relu_keeps_nan(backend):
    a = np.ones((5, 3), np.float32)
    a[2, 1] = np.nan
    out = np.full((5, 9), np.nan, np.float32)
    ops.matmul(a, -np.ones((3, 9), np.float32), activation="relu", out=out, backend=backend)
    assert np.isnan(out[2]).all()
    assert (np.delete(out, 2, axis=0) == 0.0).all()


def test_small_and_packed_paths_agree_across_the_threshold(backend, rng):
    """64^3 takes the direct path, 65x64x64 the packed one: both match the reference."""
    a, b = product(65, 64, 64, False, True, rng)
    small = ops.matmul(a[:64], b, transpose_b=True, backend=backend)
    large = ops.matmul(a, b, transpose_b=True, backend=backend)
    want = reference.matmul(a.astype(np.float64), b.astype(np.float64), transpose_b=True)
    assert_close(small, want[:64], reduction_tol(64))
    assert_close(large, want, reduction_tol(64))


@pytest.mark.parametrize("threads", [1, 2])
def test_small_batched_products_on_each_thread_count(threads, rng):
    import kiln
    a, b = product(9, 21, 13, True, False, rng, batch=6)
    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(threads)
        got = ops.matmul(a, b, transpose_a=True, backend="cpu")
    finally:
        kiln.set_num_threads(before)
    assert_close(got, np.matmul(a.transpose(0, 2, 1).astype(np.float64), b), reduction_tol(13))

# ---- bad input: a clean error, nothing written ---------------------------------------------

BAD_DTYPES = [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16),
              np.array([[object()] * 3] * 2), np.array([["a"] * 3] * 2), None]


@pytest.mark.parametrize("bad", BAD_DTYPES, ids=["int", "float16", "object", "str", "None"])
@pytest.mark.parametrize("which", ["a", "b"])
def test_bad_dtype_is_type_error(bad, which, backend):
    good = np.ones((2, 3), np.float32)
    args = {"a": good, "b": good.T.copy()}
    args[which] = bad if which == "a" or bad is None else (bad.T if bad.ndim == 2 else bad)
    with pytest.raises(TypeError, match=f"matmul: {which}"):
        ops.matmul(args["a"], args["b"], backend=backend)


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3), (4, 5)), ((3,), (3, 2)), ((1, 2, 3, 4), (4, 2)),
                                              ((2, 3, 4), (3, 4, 5))])
def test_bad_shapes_are_value_errors(a_shape, b_shape, backend):
    with pytest.raises(ValueError, match="matmul"):
        ops.matmul(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32), backend=backend)


def test_bad_out_is_refused_and_untouched(backend):
    a, b = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32)
    frozen = np.zeros((4, 5), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.matmul(a, b, out=frozen, backend=backend)
    with pytest.raises(ValueError, match="shape"):
        ops.matmul(a, b, out=np.zeros((5, 4), np.float32), backend=backend)
    with pytest.raises(TypeError, match="float32"):
        ops.matmul(a, b, out=np.zeros((4, 5)), backend=backend)
    col_major = np.zeros((5, 4), np.float32).T
    with pytest.raises(ValueError, match="unit stride"):
        ops.matmul(a, b, out=col_major, backend=backend)
    assert not col_major.any()
    with pytest.raises(ValueError, match="bias"):
        ops.matmul(a, b, bias=np.ones(4, np.float32), backend=backend)
    with pytest.raises(ValueError, match="activation"):
        ops.matmul(a, b, activation="swish", backend=backend)
    with pytest.raises(ValueError, match="beta"):
        ops.matmul(a, b, beta=1.0, backend=backend)


def test_out_aliasing_an_input_is_refused(backend):
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        ops.matmul(a, a, out=a, backend=backend)


def test_native_module_checks_its_own_arguments():
    from kiln import _C
    a = np.ones((4, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        _C.matmul(a.astype(np.int32), a.T.copy(), out=np.empty((4, 4), np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        _C.matmul(a, a, out=np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        _C.matmul(a, a.T.copy(), out=np.empty((3, 3), np.float32))
    with pytest.raises(TypeError, match="out must be a numpy.ndarray of float32"):
        _C.matmul(a, a.T.copy(), out=np.empty((4, 4)))
    with pytest.raises(TypeError, match="unexpected keyword argument 'output'"):
        _C.matmul(a, a.T.copy(), output=np.empty((4, 4), np.float32))
    with pytest.raises(TypeError, match="multiple values for argument 'b'"):
        _C.matmul(a, a, b=a)
    with pytest.raises(TypeError, match="missing"):
        _C.matmul(a)
    # What it does not take as it is, it hands back to kiln.ops to parse: nothing is read.
    assert _C.matmul(a.tolist(), a.T.copy()) is None
    assert _C.matmul(a, a.T.copy(), alpha=1) is None


def test_unknown_backend():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="backend"):
        ops.matmul(a, a, backend="tpu")


def test_the_cpu_backend_refuses_arrays_of_another_device():
    from kiln import backends
    if "cpu" not in backends.names() or "cuda" not in backends.names():
        pytest.skip("needs the native and the CUDA (or emulated) backends")
    a = backends.get("cuda").from_numpy(np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="the cpu backend cannot read a CudaArray"):
        ops.matmul(a, a, backend="cpu")
