"""max_pool2d and avg_pool2d: native vs the reference, the reference vs finite differences and
torch, NaN semantics, bad input."""

import numpy as np
import pytest
from conftest import assert_close, f32, finite_difference_grad, reduction_tol

import kiln
from kiln import ops, reference

# (N, C, H, W, kernel_size, stride, padding, dilation, ceil_mode)
CASES = {
    "smallest": (1, 1, 1, 1, 1, None, 0, 1, False),
    "empty-batch": (0, 3, 4, 4, 2, None, 0, 1, False),
    "2x2": (2, 3, 8, 8, 2, None, 0, 1, False),
    "3x3-stride2-pad1": (2, 3, 9, 11, 3, 2, 1, 1, False),
    "ceil": (2, 3, 9, 11, 3, 2, 1, 1, True),
    "ceil-drops-window-in-padding": (1, 4, 5, 5, 2, 2, 1, 1, True),
    "asymmetric-ceil": (1, 2, 7, 6, (3, 2), (2, 1), (1, 1), 1, True),
    "kernel-covers-input": (1, 2, 5, 5, 5, 1, 2, 1, False),
    "dilated": (2, 2, 10, 9, (3, 2), (2, 3), (1, 0), (2, 3), False),
    "dilated-ceil": (1, 3, 11, 12, 3, 2, 1, 2, True),
    # Rows of outputs tap by tap: stride 1 and 2 have their own loops, 3 the general one.
    "overlapping-stride1": (2, 3, 7, 13, 3, 1, 1, 1, False),
    "2x2-odd-width": (2, 5, 9, 27, 2, None, 0, 1, False),
    "stride3-pad": (1, 2, 10, 23, (2, 5), 3, (1, 2), 1, True),
}
AVG_CASES = {k: v for k, v in CASES.items() if v[7] == 1}


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def make(case, rng, dtype=np.float32):
    n, c, h, w, kernel, stride, padding, dilation, ceil_mode = case
    return rng.standard_normal((n, c, h, w)).astype(dtype), dict(
        kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)


def avg_args(pool):
    return {k: v for k, v in pool.items() if k != "dilation"}


def out_shape(case):
    n, c, h, w, kernel, stride, padding, dilation, ceil_mode = case
    stride = kernel if stride is None else stride
    return (n, c) + tuple(reference.pool2d_output_size((h, w)[a], pair(kernel)[a], pair(stride)[a],
                                                       pair(padding)[a], pair(dilation)[a], ceil_mode)
                          for a in (0, 1))


def window_taps(pool):
    kh, kw = pair(pool["kernel_size"])
    return kh * kw


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_max_pool_matches_reference(case, backend, rng):
    x, pool = make(case, rng)
    y, indices = ops.max_pool2d(x, **pool, return_indices=True, backend=backend)
    want_y, want_indices = reference.max_pool2d(x, **pool, return_indices=True)
    assert y.shape == out_shape(case) and y.dtype == np.float32 and indices.dtype == np.int64
    np.testing.assert_array_equal(y, want_y)  # a maximum is exact
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(ops.max_pool2d(x, **pool, backend=backend), want_y)

    grad_y = f32(rng.standard_normal(y.shape))
    got = ops.max_pool2d_backward(grad_y, indices, x.shape, backend=backend)
    want = reference.max_pool2d_backward(grad_y.astype(np.float64), indices, x.shape)
    assert got.shape == x.shape and got.dtype == np.float32
    assert_close(got, want, reduction_tol(window_taps(pool)), "grad_x")


@pytest.mark.parametrize("count_include_pad,divisor_override", [(True, None), (False, None), (True, 5),
                                                                (False, -3)])
@pytest.mark.parametrize("case", AVG_CASES.values(), ids=AVG_CASES.keys())
def test_avg_pool_matches_reference(case, count_include_pad, divisor_override, backend, rng):
    x, pool = make(case, rng)
    args = dict(avg_args(pool), count_include_pad=count_include_pad, divisor_override=divisor_override)
    y = ops.avg_pool2d(x, **args, backend=backend)
    assert y.shape == out_shape(case) and y.dtype == np.float32
    assert_close(y, reference.avg_pool2d(x.astype(np.float64), **args), reduction_tol(window_taps(pool)), "y")

    grad_y = f32(rng.standard_normal(y.shape))
    got = ops.avg_pool2d_backward(grad_y, x.shape, **args, backend=backend)
    want = reference.avg_pool2d_backward(grad_y.astype(np.float64), x.shape, **args)
    assert got.shape == x.shape and got.dtype == np.float32
    assert_close(got, want, reduction_tol(window_taps(pool)), "grad_x")


def test_numpy_backend_keeps_float64(rng):
    x, pool = make(CASES["ceil"], rng, np.float64)
    y, indices = ops.max_pool2d(x, **pool, return_indices=True, backend="numpy")
    assert y.dtype == np.float64
    assert ops.max_pool2d_backward(np.ones(y.shape), indices, x.shape, backend="numpy").dtype == np.float64
    assert ops.avg_pool2d(x, **avg_args(pool), backend="numpy").dtype == np.float64


@pytest.mark.parametrize("name", ["3x3-stride2-pad1", "asymmetric-ceil", "dilated"])
def test_reference_backward_matches_finite_differences(name, rng):
    case = CASES[name]
    # Distinct values far apart next to the step, so that no step changes which element is the maximum.
    n, c, h, w = case[:4]
    x = rng.permutation(n * c * h * w).reshape(n, c, h, w) / (n * c * h * w)
    _, pool = make(case, rng)
    grad_y = rng.standard_normal(out_shape(case))
    _, indices = reference.max_pool2d(x, **pool, return_indices=True)
    max_loss = lambda: float(np.sum(reference.max_pool2d(x, **pool) * grad_y))  # noqa: E731
    assert_close(reference.max_pool2d_backward(grad_y, indices, x.shape),
                 finite_difference_grad(max_loss, x), 1e-7, "max grad_x")
    if pool["dilation"] == 1:
        for include_pad, divisor in ((True, None), (False, None), (True, 7)):
            args = dict(avg_args(pool), count_include_pad=include_pad, divisor_override=divisor)
            avg_loss = lambda: float(np.sum(reference.avg_pool2d(x, **args) * grad_y))  # noqa: E731
            assert_close(reference.avg_pool2d_backward(grad_y, x.shape, **args),
                         finite_difference_grad(avg_loss, x), 1e-7, "avg grad_x")


def nan_and_inf_input(rng):
    x = f32(rng.standard_normal((2, 2, 6, 7)))
    x[0, 0, 0, :2] = np.nan          # two NaNs in one window: the last one is chosen
    x[0, 1, 2:4, 2:4] = -np.inf      # a window of -inf only: its first element
    x[1, 0, 3, 3] = np.inf
    x[1, 1, 1, 1] = np.nan
    x[1, 1, 2, 2] = -np.inf
    return x


@pytest.mark.parametrize("case", [CASES["2x2"], (2, 2, 6, 7, 3, 2, 1, 1, True), (2, 2, 6, 7, 2, 1, 0, 1, False)])
def test_nan_and_inf_follow_torch(case, rng):
    torch = pytest.importorskip("torch")
    x = nan_and_inf_input(rng)
    _, pool = make(case, rng)
    pool.pop("dilation")
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), **pool, return_indices=True)
    results = [reference.max_pool2d(x, **pool, return_indices=True)]
    if "cpu" in kiln.available_backends():
        results.append(ops.max_pool2d(x, **pool, return_indices=True, backend="cpu"))
    for y, indices in results:
        np.testing.assert_array_equal(y, yt.numpy())  # NaN == NaN here
        np.testing.assert_array_equal(indices, it.numpy())
    with np.errstate(invalid="ignore"):
        want_avg = torch.nn.functional.avg_pool2d(torch.tensor(x), **pool).numpy()
        ref_avg = reference.avg_pool2d(x, **pool)
    np.testing.assert_array_equal(np.isnan(ref_avg), np.isnan(want_avg))
    if "cpu" in kiln.available_backends():
        got = ops.avg_pool2d(x, **pool, backend="cpu")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want_avg))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want_avg))


@pytest.mark.parametrize("name", ["3x3-stride2-pad1", "asymmetric-ceil", "dilated-ceil", "kernel-covers-input"])
def test_matches_torch(name, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    case = CASES[name]
    x, pool = make(case, rng, np.float64)
    grad_y = rng.standard_normal(out_shape(case))
    xt = torch.tensor(x, requires_grad=True)
    yt, it = F.max_pool2d(xt, **pool, return_indices=True)
    yt.backward(torch.tensor(grad_y))
    y, indices = reference.max_pool2d(x, **pool, return_indices=True)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(indices, it.numpy())
    assert_close(reference.max_pool2d_backward(grad_y, indices, x.shape), xt.grad.numpy(), 1e-12)
    if pool["dilation"] != 1:
        return
    for include_pad, divisor in ((True, None), (False, None), (False, 4)):
        args = dict(avg_args(pool), count_include_pad=include_pad, divisor_override=divisor)
        xt = torch.tensor(x, requires_grad=True)
        yt = F.avg_pool2d(xt, **args)
        yt.backward(torch.tensor(grad_y))
        assert_close(reference.avg_pool2d(x, **args), yt.detach().numpy(), 1e-12)
        assert_close(reference.avg_pool2d_backward(grad_y, x.shape, **args), xt.grad.numpy(), 1e-12)
        if "cpu" in kiln.available_backends():
            assert_close(ops.avg_pool2d(x, **args, backend="cpu"), yt.detach().numpy(),
                         reduction_tol(window_taps(pool)))


def test_thread_count_does_not_change_result(rng):
    if "cpu" not in kiln.available_backends():
        pytest.skip("native module not built")
    x, pool = make((4, 16, 33, 31, 3, 2, 1, 1, True), rng)
    grad_y = f32(rng.standard_normal(out_shape((4, 16, 33, 31, 3, 2, 1, 1, True))))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            y, indices = ops.max_pool2d(x, **pool, return_indices=True, backend="cpu")
            results.append([y, indices, ops.max_pool2d_backward(grad_y, indices, x.shape, backend="cpu"),
                            ops.avg_pool2d(x, **avg_args(pool), backend="cpu"),
                            ops.avg_pool2d_backward(grad_y, x.shape, **avg_args(pool), backend="cpu")])
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ---- bad input: a clean error naming the argument, nothing written ----------------------------

X = np.ones((2, 3, 6, 6), np.float32)
BAD_DTYPES = {"int": np.ones((2, 3, 6, 6), np.int64), "float16": np.ones((2, 3, 6, 6), np.float16),
              "object": np.full((2, 3, 6, 6), object()), "str": np.full((2, 3, 6, 6), "a"), "None": None}


@pytest.mark.parametrize("bad", BAD_DTYPES.values(), ids=BAD_DTYPES.keys())
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_bad_dtype_is_type_error(bad, backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    with pytest.raises(TypeError, match="max_pool2d: x"):
        ops.max_pool2d(bad, 2, backend=backend_name)
    with pytest.raises(TypeError, match="avg_pool2d: x"):
        ops.avg_pool2d(bad, 2, backend=backend_name)
    with pytest.raises(TypeError, match="avg_pool2d_backward: grad_y"):
        ops.avg_pool2d_backward(None if bad is None else bad[:, :, :3, :3], X.shape, 2, backend=backend_name)
    with pytest.raises(TypeError, match="max_pool2d_backward: grad_y"):
        ops.max_pool2d_backward(bad, np.zeros((2, 3, 6, 6), np.int64), X.shape, backend=backend_name)
    with pytest.raises(TypeError, match="max_pool2d_backward: indices"):
        ops.max_pool2d_backward(X, np.ones((2, 3, 6, 6), np.float32), X.shape, backend=backend_name)


BAD_VALUES = {
    "3-D x": (dict(x=np.ones((3, 6, 6), np.float32)), "x must be 4-D"),
    "5-D x": (dict(x=np.ones((1, 2, 3, 6, 6), np.float32)), "x must be 4-D"),
    "padding over half the kernel": (dict(kernel_size=3, padding=2), "at most half"),
    "padding over half, one axis": (dict(kernel_size=(2, 4), padding=(1, 3)), "at most half"),
    "negative padding": (dict(padding=-1), "padding must be >= 0"),
    "kernel 0": (dict(kernel_size=0), "kernel_size must be >= 1"),
    "stride 0": (dict(stride=0), "stride must be >= 1"),
    "negative stride": (dict(stride=(2, -1)), "stride must be >= 1"),
    "kernel larger than input": (dict(kernel_size=(7, 2)), "too small"),
    "32-bit overflow": (dict(x=np.broadcast_to(np.float32(1), (1, 1, 50000, 50000))), "kiln's limit"),
}


@pytest.mark.parametrize("change,message", BAD_VALUES.values(), ids=BAD_VALUES.keys())
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_bad_values_are_value_errors(change, message, backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    args = dict(x=X, kernel_size=2, stride=None, padding=0)
    args.update(change)
    x = args.pop("x")
    with pytest.raises(ValueError, match=message):
        ops.max_pool2d(x, **args, backend=backend_name)
    with pytest.raises(ValueError, match=message):
        ops.avg_pool2d(x, **args, backend=backend_name)
    if x.ndim == 4:
        with pytest.raises(ValueError, match=message):
            ops.avg_pool2d_backward(np.ones(x.shape[:2] + (3, 3), np.float32), x.shape, **args,
                                    backend=backend_name)


def test_other_bad_arguments(backend):
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        ops.max_pool2d(X, 2, dilation=0, backend=backend)
    with pytest.raises(ValueError, match="covers only padding"):
        ops.max_pool2d(np.ones((1, 1, 2, 2), np.float32), 2, stride=3, padding=1, dilation=3, backend=backend)
    with pytest.raises(ValueError, match="divisor_override must not be 0"):
        ops.avg_pool2d(X, 2, divisor_override=0, backend=backend)
    with pytest.raises(TypeError, match="divisor_override"):
        ops.avg_pool2d(X, 2, divisor_override=1.5, backend=backend)
    with pytest.raises(TypeError, match="kernel_size"):
        ops.max_pool2d(X, 2.0, backend=backend)
    with pytest.raises(ValueError, match="grad_y must have shape"):
        ops.avg_pool2d_backward(np.ones((2, 3, 4, 4), np.float32), X.shape, 2, backend=backend)
    indices = np.zeros((2, 3, 3, 3), np.int64)
    indices[1, 2, 0, 1] = 36
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 36\)"):
        ops.max_pool2d_backward(np.ones((2, 3, 3, 3), np.float32), indices, X.shape, backend=backend)
    with pytest.raises(ValueError, match="indices must have the shape"):
        ops.max_pool2d_backward(np.ones((2, 3, 3, 3), np.float32), indices[:, :, :2], X.shape, backend=backend)
    with pytest.raises(ValueError, match="input_shape"):
        ops.max_pool2d_backward(np.ones((2, 3, 3, 3), np.float32), indices, (2, 4, 6, 6), backend=backend)


def test_native_module_checks_its_own_arguments():
    _C = pytest.importorskip("kiln._C")
    hyper = ((2, 2), (2, 2), (0, 0), (1, 1), False)
    out = np.full((2, 3, 3, 3), 7.0, np.float32)
    frozen = out.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="max_pool2d_forward: out is read-only"):
        _C.max_pool2d_forward(X, frozen, None, *hyper)
    strided = np.full((2, 3, 3, 6), 7.0, np.float32)[..., ::2]
    with pytest.raises(ValueError, match="max_pool2d_forward: out must be C-contiguous"):
        _C.max_pool2d_forward(X, strided, None, *hyper)
    with pytest.raises(TypeError, match="indices must be a numpy.ndarray of int64"):
        _C.max_pool2d_forward(X, out, np.empty((2, 3, 3, 3), np.int32), *hyper)
    with pytest.raises(ValueError, match="at most half"):
        _C.max_pool2d_forward(X, out, None, (2, 2), (2, 2), (2, 0), (1, 1), False)
    buffer = np.zeros(300, np.float32)
    with pytest.raises(ValueError, match="shares memory"):
        _C.avg_pool2d_forward(buffer[:216].reshape(2, 3, 6, 6), buffer[200:254].reshape(2, 3, 3, 3),
                              (2, 2), (2, 2), (0, 0), False, True, 0)
    assert not buffer.any()
    bad_indices = np.zeros((2, 3, 3, 3), np.int64)
    bad_indices[0, 0, 0, 0] = -1
    grad_x = np.full((2, 3, 6, 6), 7.0, np.float32)
    with pytest.raises(ValueError, match="outside its plane"):
        _C.max_pool2d_backward(np.ones((2, 3, 3, 3), np.float32), bad_indices, grad_x)
    with pytest.raises(ValueError, match="avg_pool2d_backward: grad_x is read-only"):
        frozen_x = np.zeros((2, 3, 6, 6), np.float32)
        frozen_x.flags.writeable = False
        _C.avg_pool2d_backward(np.ones((2, 3, 3, 3), np.float32), frozen_x, *hyper[:3], False, True, 0)
    assert (out == 7.0).all() and (strided == 7.0).all() and (grad_x == 7.0).all()


@pytest.mark.parametrize("width", [5, 8, 15, 16, 40])  # outputs per row on both sides of the narrow-row path
# (2, 2, 0): the 2x2 stride-2 windows of small planes have a path of their own
@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 0), (3, 1, 1), (3, 3, 1), (2, 2, 0)])
def test_max_pool_ties_and_nans_match_reference_at_every_width(width, kernel, stride, padding, backend, rng):
    x = f32(rng.integers(0, 3, (3, 4, 7, width)))  # many equal values: the first maximum must win
    x[0, 0, 1, :3] = np.nan
    x[2, 3, :, 2] = np.nan
    x[1, 2, 4:6, 2:4] = np.nan  # a whole window of NaNs: the last one
    got, got_indices = ops.max_pool2d(x, kernel, stride=stride, padding=padding, return_indices=True,
                                      backend=backend)
    want, want_indices = reference.max_pool2d(x, kernel, stride=stride, padding=padding, return_indices=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_indices, want_indices)
