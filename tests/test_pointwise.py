"""Pointwise activations and softmax: native vs the float64 reference, gradients by
finite differences, torch, out= and in place, bad input, NaN/Inf."""

import math

import numpy as np
import pytest
from conftest import ELEMENTWISE_TOL, TAIL_SIZES, assert_close, f32, finite_difference_grad, reduction_tol

from kiln import ops, reference

# Ones, odd sizes, non-multiples of 16, past the threading threshold (for relu too), empty.
SIZES = [0, 1, 7, 17, 100, 1023, 65537, 200003]

FORWARD = {  # name -> (ops call, reference call)
    "relu": (ops.relu, reference.relu),
    "sigmoid": (ops.sigmoid, reference.sigmoid),
    "tanh": (ops.tanh, reference.tanh),
    "gelu": (ops.gelu, reference.gelu),
    "gelu_tanh": (lambda x, **kw: ops.gelu(x, "tanh", **kw), lambda x: reference.gelu(x, "tanh")),
}

# name -> (ops backward, reference backward, whether it reads the forward's input x (else y))
BACKWARD = {
    "relu": (ops.relu_backward, reference.relu_backward, True),
    "sigmoid": (ops.sigmoid_backward, reference.sigmoid_backward, False),
    "tanh": (ops.tanh_backward, reference.tanh_backward, False),
    "gelu": (ops.gelu_backward, reference.gelu_backward, True),
    "gelu_tanh": (lambda g, x, **kw: ops.gelu_backward(g, x, "tanh", **kw),
                  lambda g, x: reference.gelu_backward(g, x, "tanh"), True),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", FORWARD)
def test_forward_matches_reference(name, n, backend, rng):
    x = f32(3 * rng.standard_normal(n))
    op, ref = FORWARD[name]
    got = op(x, backend=backend)
    assert got.dtype == np.float32 and got.shape == (n,)
    assert_close(got, ref(x.astype(np.float64)), ELEMENTWISE_TOL, name)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", BACKWARD)
def test_backward_matches_reference(name, n, backend, rng):
    x = f32(3 * rng.standard_normal(n))
    grad_y = f32(rng.standard_normal(n))
    op, ref, reads_x = BACKWARD[name]
    saved = x if reads_x else f32(FORWARD[name][1](x.astype(np.float64)))
    got = op(grad_y, saved, backend=backend)
    assert_close(got, ref(grad_y.astype(np.float64), saved.astype(np.float64)), ELEMENTWISE_TOL, name)


@pytest.mark.parametrize("name", BACKWARD)
def test_simd_paths_vector_tails(name, threads, rng):
    """Forward and backward at every size 1..33 and one past the threading threshold."""
    op, ref = FORWARD[name]
    back, ref_back, reads_x = BACKWARD[name]
    for n in TAIL_SIZES:
        x = f32(4 * rng.standard_normal(n))
        grad_y = f32(rng.standard_normal(n))
        assert_close(op(x, backend="cpu"), ref(x.astype(np.float64)), ELEMENTWISE_TOL, f"{name} n={n}")
        saved = x if reads_x else f32(ref(x.astype(np.float64)))
        assert_close(back(grad_y, saved, backend="cpu"),
                     ref_back(grad_y.astype(np.float64), saved.astype(np.float64)), ELEMENTWISE_TOL,
                     f"{name} backward n={n}")


@pytest.mark.parametrize("name", FORWARD)
def test_simd_paths_extreme_inputs(name):
    """Overflow, underflow, signed zeros, NaN and inf, forward and backward, as the reference."""
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.6, -0.65, 15, -15, 88, 89, -88, -104, 200, -200,
                  np.inf, -np.inf, np.nan], np.float32)
    op, ref = FORWARD[name]
    back, ref_back, reads_x = BACKWARD[name]
    with np.errstate(all="ignore"):
        want = ref(x.astype(np.float64))
        saved = x if reads_x else f32(want)
        grad_want = ref_back(np.ones(x.size), saved.astype(np.float64))
    for got, expected in [(op(x, backend="cpu"), want),
                          (back(np.ones_like(x), saved, backend="cpu"), grad_want)]:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        finite = ~np.isnan(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-37)


def _last_level_cache_bytes() -> int:
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            size = f.read().strip()
        return int(size[:-1]) * {"K": 1 << 10, "M": 1 << 20}[size[-1]]
    except (OSError, ValueError, KeyError):
        return 32 << 20


@pytest.mark.parametrize("name", BACKWARD)
def test_simd_paths_streamed_outputs_match_plain_stores(name, threads, rng):
    """A pass past half the last-level cache writes its output with streaming stores
    (activation.cpp): the values of small passes' plain stores, at any output alignment."""
    n = max(2_200_003, _last_level_cache_bytes() // 4 + 1)
    x = f32(4 * rng.standard_normal(n))
    grad_y = f32(rng.standard_normal(n))
    op, _ = FORWARD[name]
    back, _, reads_x = BACKWARD[name]
    saved = x if reads_x else op(x, backend="cpu")
    chunks = range(0, n, 100_000)
    want = np.concatenate([op(x[i:i + 100_000], backend="cpu") for i in chunks])
    want_grad = np.concatenate([back(grad_y[i:i + 100_000], saved[i:i + 100_000], backend="cpu") for i in chunks])
    np.testing.assert_array_equal(op(x, backend="cpu"), want)
    np.testing.assert_array_equal(back(grad_y, saved, backend="cpu"), want_grad)
    buffer = np.zeros(n + 1, np.float32)  # out 4 bytes past the buffer's alignment
    np.testing.assert_array_equal(op(x, out=buffer[1:], backend="cpu"), want)
    np.testing.assert_array_equal(back(grad_y, saved, out=buffer[1:], backend="cpu"), want_grad)


# ---- accuracy of the SIMD math in ulps -------------------------------------------------------------
#
# The vectorised exp/tanh/Phi of simd/pointwise_impl.hpp against float64 at the same float32
# inputs: every float32 step on [-20, 20] at 1e-4, magnitudes 1e-45..3e38 of both signs, the
# subnormals, the clamps of exp and the branch points. An error is |got - want| / ulp(want) (ulp
# of float32 at want, 2^-149 in the subnormals). Bounds (measured max, avx512 and avx2 alike):
#   sigmoid 4 (2.4), tanh 4 (2.5), gelu 8 (5.9, at x = -0.34), sigmoid_backward 2 (1.5),
#   tanh_backward 1 (0.5);
#   gelu_backward 8 (5.0) in ulps of its larger term, Phi(x) or |x phi(x)|: the sum of the two
#   cancels to 0 near x = -0.75, where no float32 evaluation keeps its relative error.
#   gelu_tanh and its backward: 4 ulps plus 3 |2u| ulps, 2u = 2 sqrt(2/pi) (x + 0.044715 x^3):
#   exp(2u) in the negative tail inherits the rounding of 2u itself (164 ulps at x = -9.7,
#   where gelu_tanh is -9e-35); the backward in ulps of its larger term, as gelu's.

def _accuracy_inputs() -> np.ndarray:
    dense = np.arange(-20, 20, 1e-4, dtype=np.float64).astype(np.float32)
    magnitudes = np.logspace(-45, 38.5, 40001).astype(np.float32)
    subnormals = np.float32(2.0 ** -149) * np.arange(1, 300, dtype=np.float32)
    edges = np.array([0.0, 0.625, 13.0, 13.5, 14.0, 14.5, 16.0, 43.0, 44.0, 87.0, 88.0, 88.7, 89.0,
                      103.0, 104.0, 105.0, 1e4, np.finfo(np.float32).tiny, np.finfo(np.float32).max], np.float32)
    with np.errstate(over="ignore"):
        edges = np.concatenate([edges, np.nextafter(edges, np.float32(0)), np.nextafter(edges, np.float32(np.inf))])
    positive = np.concatenate([magnitudes, subnormals, edges])
    return np.concatenate([dense, positive, -positive, [np.inf, -np.inf, np.nan]]).astype(np.float32)


def _ulps(got, want, scale=None) -> np.ndarray:
    """|got - want| in float32 ulps of |scale| (default want); inf/NaN must match exactly (0 or inf)."""
    got = np.asarray(got, np.float64)
    scale = np.abs(want if scale is None else scale)
    finite = np.isfinite(want) & (np.abs(want) <= np.finfo(np.float32).max)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(all="ignore"):
        ulp = np.spacing(np.minimum(scale, np.finfo(np.float32).max).astype(np.float32)).astype(np.float64)
        ulp = np.maximum(np.where(np.isfinite(ulp), ulp, 2.0 ** 104), 2.0 ** -149)
        error = np.where(finite, np.abs(got - want) / ulp, 0.0)
    return np.where(finite | same, error, np.inf)


def _inner2(x64):
    return 2 * math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)


def _assert_within(name, x, error, bound):
    worst = int(np.argmax(error / bound))
    assert np.all(error <= bound), (f"{name}: {error[worst]:.2f} ulp at x={x[worst]!r} "
                                    f"(bound {np.broadcast_to(bound, error.shape)[worst]:.2f})")


@pytest.fixture
def simd_isa():
    import kiln
    if kiln.cpu_isa() == "portable":
        pytest.skip("the portable path is libm's float functions (the reference tests above cover it)")


@pytest.mark.parametrize("name, bound", [("sigmoid", 4.0), ("tanh", 4.0), ("gelu", 8.0), ("gelu_tanh", None)])
def test_simd_paths_forward_accuracy_in_ulps(name, bound, simd_isa):
    x = _accuracy_inputs()
    x64 = x.astype(np.float64)
    op, ref = FORWARD[name]
    with np.errstate(all="ignore"):
        want = ref(x64)
        if bound is None:
            bound = 4.0 + 3.0 * np.abs(np.nan_to_num(_inner2(x64), posinf=0.0, neginf=0.0))
    _assert_within(name, x, _ulps(op(x, backend="cpu"), want), bound)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_simd_paths_backward_from_output_accuracy_in_ulps(name, simd_isa):
    x = _accuracy_inputs()
    back, ref_back, _ = BACKWARD[name]
    with np.errstate(all="ignore"):
        y = f32(FORWARD[name][1](x.astype(np.float64)))
    ones = np.ones_like(y)
    want = ref_back(ones.astype(np.float64), y.astype(np.float64))
    _assert_within(name + "_backward", x, _ulps(back(ones, y, backend="cpu"), want),
                   {"sigmoid": 2.0, "tanh": 1.0}[name])


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh"])
def test_simd_paths_gelu_backward_accuracy_in_ulps(name, simd_isa):
    x = _accuracy_inputs()
    x = x[np.abs(x) < 1e4]  # past it x^3 overflows float32 in the tanh form's reference terms
    x64 = x.astype(np.float64)
    back, ref_back, _ = BACKWARD[name]
    ones = np.ones_like(x)
    with np.errstate(all="ignore"):
        want = ref_back(ones.astype(np.float64), x64)
        if name == "gelu":
            cdf = 0.5 * np.vectorize(math.erfc)(-x64 / math.sqrt(2))
            terms = np.maximum(np.abs(cdf), np.abs(x64) * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi))
            bound = 8.0
        else:
            inner2 = _inner2(x64)
            s = 1 / (1 + np.exp(-inner2))
            slope = 2 * x64 * s * (1 - s) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x64 * x64)
            terms = np.maximum(s, np.abs(slope))
            bound = 4.0 + 3.0 * np.abs(inner2)
    _assert_within(name + "_backward", x, _ulps(back(ones, x, backend="cpu"), want, terms), bound)


@pytest.mark.parametrize("name", BACKWARD)
def test_reference_backward_by_finite_differences(name, rng):
    x = 2 * rng.standard_normal((3, 5))
    x[0, 0] = 0.3  # keep relu away from its kink
    x[np.abs(x) < 1e-3] = 0.5
    upstream = rng.standard_normal(x.shape)
    forward = FORWARD[name][1]
    _, backward, reads_x = BACKWARD[name]
    numeric = finite_difference_grad(lambda: np.sum(forward(x) * upstream), x)
    analytic = backward(upstream, x if reads_x else forward(x))
    assert_close(analytic, numeric, 1e-7, name)


SOFTMAX_SHAPES = [(1, 1), (1, 9), (7, 3), (33, 17), (5, 1000), (300, 257), (0, 4), (4, 0), (2, 3, 5)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_matches_reference(shape, log, backend, rng):
    x = f32(4 * rng.standard_normal(shape))
    grad_y = f32(rng.standard_normal(shape))
    forward, ref_forward = (ops.log_softmax, reference.log_softmax) if log else (ops.softmax, reference.softmax)
    backward, ref_backward = ((ops.log_softmax_backward, reference.log_softmax_backward) if log
                              else (ops.softmax_backward, reference.softmax_backward))
    tol = reduction_tol(shape[-1])
    y = forward(x, backend=backend)
    assert y.dtype == np.float32 and y.shape == shape
    assert_close(y, ref_forward(x.astype(np.float64)), tol, "forward")
    y = f32(ref_forward(x.astype(np.float64)))
    assert_close(backward(grad_y, y, backend=backend),
                 ref_backward(grad_y.astype(np.float64), y.astype(np.float64)), tol, "backward")


@pytest.mark.parametrize("log", [False, True])
def test_simd_paths_softmax_row_tails(log, threads, rng):
    """Rows of every length 1..33, and enough rows to take both threads."""
    forward, ref_forward = (ops.log_softmax, reference.log_softmax) if log else (ops.softmax, reference.softmax)
    for shape in [(3, c) for c in TAIL_SIZES[:-1]] + [(997, 1003)]:
        x = f32(4 * rng.standard_normal(shape))
        assert_close(forward(x, backend="cpu"), ref_forward(x.astype(np.float64)), reduction_tol(shape[-1]),
                     f"shape {shape}")


@pytest.mark.parametrize("axis", [0, 1, -2])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_along_other_axes(axis, log, backend, rng):
    x = f32(rng.standard_normal((6, 5, 7)))
    grad_y = f32(rng.standard_normal(x.shape))
    forward = ops.log_softmax if log else ops.softmax
    backward = ops.log_softmax_backward if log else ops.softmax_backward
    want = forward(x.astype(np.float64), axis=axis, backend="numpy")
    assert_close(forward(x, axis=axis, backend=backend), want, reduction_tol(x.shape[axis]))
    y = f32(want)
    assert_close(backward(grad_y, y, axis=axis, backend=backend),
                 backward(grad_y.astype(np.float64), y.astype(np.float64), axis=axis, backend="numpy"),
                 reduction_tol(x.shape[axis]))


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("log", [False, True])
def test_reference_softmax_backward_by_finite_differences(axis, log, rng):
    x = rng.standard_normal((4, 5))
    upstream = rng.standard_normal(x.shape)
    forward = reference.log_softmax if log else reference.softmax
    backward = reference.log_softmax_backward if log else reference.softmax_backward
    numeric = finite_difference_grad(lambda: np.sum(forward(x, axis=axis) * upstream), x)
    assert_close(backward(upstream, forward(x, axis=axis), axis=axis), numeric, 1e-7)


def test_against_torch(backend, rng):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    x = f32(3 * rng.standard_normal((37, 53)))
    grad_y = f32(rng.standard_normal(x.shape))
    cases = {
        "relu": (functional.relu, lambda: ops.relu(x, backend=backend),
                 lambda: ops.relu_backward(grad_y, x, backend=backend)),
        "sigmoid": (torch.sigmoid, lambda: ops.sigmoid(x, backend=backend),
                    lambda: ops.sigmoid_backward(grad_y, ops.sigmoid(x, backend=backend), backend=backend)),
        "tanh": (torch.tanh, lambda: ops.tanh(x, backend=backend),
                 lambda: ops.tanh_backward(grad_y, ops.tanh(x, backend=backend), backend=backend)),
        "gelu": (functional.gelu, lambda: ops.gelu(x, backend=backend),
                 lambda: ops.gelu_backward(grad_y, x, backend=backend)),
        "gelu_tanh": (lambda t: functional.gelu(t, approximate="tanh"), lambda: ops.gelu(x, "tanh", backend=backend),
                      lambda: ops.gelu_backward(grad_y, x, "tanh", backend=backend)),
        "softmax": (lambda t: torch.softmax(t, -1), lambda: ops.softmax(x, backend=backend),
                    lambda: ops.softmax_backward(grad_y, ops.softmax(x, backend=backend), backend=backend)),
        "log_softmax": (lambda t: torch.log_softmax(t, 0), lambda: ops.log_softmax(x, axis=0, backend=backend),
                        lambda: ops.log_softmax_backward(grad_y, ops.log_softmax(x, axis=0, backend=backend),
                                                         axis=0, backend=backend)),
    }
    for name, (torch_fn, forward, backward) in cases.items():
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        yt = torch_fn(xt)
        yt.backward(torch.tensor(grad_y, dtype=torch.float64))
        assert_close(forward(), yt.detach().numpy(), reduction_tol(x.shape[0]), name)
        assert_close(backward(), xt.grad.numpy(), reduction_tol(x.shape[0]), name + " backward")


def test_thread_count_does_not_change_result(rng):
    import kiln
    x = f32(rng.standard_normal((400, 1001)))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            y = ops.softmax(x, backend="cpu")
            results.append([ops.gelu(x, backend="cpu"), y, ops.softmax_backward(x, y, backend="cpu")])
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ---- out= and in place ------------------------------------------------------------------------


def test_out_and_in_place(backend, rng):
    x = f32(rng.standard_normal((9, 13)))
    want = reference.softmax(x.astype(np.float64))
    out = np.empty_like(x)
    assert ops.softmax(x, out=out, backend=backend) is out
    assert_close(out, want, reduction_tol(13))
    inplace = x.copy()
    assert ops.softmax(inplace, out=inplace, backend=backend) is inplace
    assert_close(inplace, want, reduction_tol(13))
    inplace = x.copy()
    ops.relu(inplace, out=inplace, backend=backend)
    np.testing.assert_array_equal(inplace, np.maximum(x, 0))
    grad_y = f32(rng.standard_normal(x.shape))
    ops.gelu_backward(grad_y, x, out=grad_y, backend=backend)
    assert np.isfinite(grad_y).all()


def test_bad_out_is_refused_and_untouched(backend):
    x = np.ones((4, 6), np.float32)
    frozen = np.zeros((4, 6), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ops.sigmoid(x, out=frozen, backend=backend)
    with pytest.raises(ValueError, match="shape"):
        ops.softmax(x, out=np.zeros((6, 4), np.float32), backend=backend)
    with pytest.raises(TypeError, match="float32"):
        ops.tanh(x, out=np.zeros((4, 6)), backend=backend)
    strided = np.zeros((4, 12), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.relu(x, out=strided, backend=backend)
    assert not strided.any()
    buffer = np.arange(30, dtype=np.float32)
    with pytest.raises(ValueError, match="overlaps x partly"):
        ops.relu(buffer[:24].reshape(4, 6), out=buffer[6:].reshape(4, 6), backend=backend)
    np.testing.assert_array_equal(buffer, np.arange(30, dtype=np.float32))


# ---- bad input ---------------------------------------------------------------------------------

BAD_DTYPES = [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16),
              np.array([[object()] * 3] * 2), np.array([["a"] * 3] * 2), None]
BAD_IDS = ["int", "float16", "object", "str", "None"]


@pytest.mark.parametrize("bad", BAD_DTYPES, ids=BAD_IDS)
def test_bad_dtype_is_type_error(bad, backend):
    good = np.ones((2, 3), np.float32)
    for call, arg in [(lambda: ops.relu(bad, backend=backend), "x"),
                      (lambda: ops.gelu(bad, backend=backend), "x"),
                      (lambda: ops.softmax(bad, backend=backend), "x"),
                      (lambda: ops.sigmoid_backward(bad, good, backend=backend), "grad_y"),
                      (lambda: ops.tanh_backward(good, bad, backend=backend), "y"),
                      (lambda: ops.log_softmax_backward(good, bad, backend=backend), "y")]:
        with pytest.raises(TypeError, match=arg):
            call()


def test_bad_values_are_value_errors(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="approximate"):
        ops.gelu(x, "erf", backend=backend)
    with pytest.raises(ValueError, match="axis"):
        ops.softmax(x, axis=2, backend=backend)
    with pytest.raises(ValueError, match="axis"):
        ops.softmax(np.float32(1.0), backend=backend)
    with pytest.raises(ValueError, match="shape"):
        ops.relu_backward(x, np.ones((3, 2), np.float32), backend=backend)
    with pytest.raises(ValueError, match="shape"):
        ops.softmax_backward(x, np.ones(3, np.float32), backend=backend)


def test_native_module_checks_its_own_arguments():
    from kiln import _C
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        _C.activation_forward(x.astype(np.float64), np.empty_like(x), "relu")
    with pytest.raises(ValueError, match="unknown activation"):
        _C.activation_forward(x, np.empty_like(x), "swish")
    with pytest.raises(ValueError, match="shape"):
        _C.softmax_forward(x, np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.softmax_forward(np.ones((3, 4), np.float32)[:, :3].T, np.empty((3, 3), np.float32))


# ---- NaN and Inf --------------------------------------------------------------------------------

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.0, 50.0, -120.0], np.float32)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "gelu"])
def test_nan_and_inf_like_reference(name, backend):
    op, ref = FORWARD[name]
    with np.errstate(invalid="ignore", over="ignore"):
        want = ref(SPECIAL.astype(np.float64))
    got = op(SPECIAL, backend=backend)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-6, atol=1e-30)


def test_relu_backward_selects_like_torch(backend):
    x = np.array([np.nan, -1.0, 0.0, 2.0], np.float32)
    grad_y = np.array([5.0, np.nan, np.inf, 3.0], np.float32)
    np.testing.assert_array_equal(ops.relu_backward(grad_y, x, backend=backend), [5.0, 0.0, 0.0, 3.0])


def test_softmax_nan_and_inf_like_reference(backend):
    x = np.array([[np.nan, 1.0, 2.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0],
                  [-np.inf, -np.inf, -np.inf], [1e30, -1e30, 0.0]], np.float32)
    for log in (False, True):
        with np.errstate(invalid="ignore", divide="ignore"):
            want = (reference.log_softmax if log else reference.softmax)(x.astype(np.float64))
        got = (ops.log_softmax if log else ops.softmax)(x, backend=backend)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = ~np.isnan(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6)
