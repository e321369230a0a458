"""Pointwise activations and softmax: native vs the float64 reference, gradients by
finite differences, torch, out= and in place, bad input, NaN/Inf."""

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
