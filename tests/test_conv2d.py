"""conv2d: native vs the float64 reference, the reference vs finite differences and torch, bad input."""

import numpy as np
import pytest
from conftest import assert_close, f32, finite_difference_grad, reduction_tol

import kiln
from kiln import ops, reference


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = {
    "smallest": (1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    "empty-batch": (0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1),
    "first-layer-5x5": (2, 1, 28, 28, 8, 5, 5, 1, 2, 1, 1),
    "odd-3x3": (2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1),
    "pointwise": (2, 8, 7, 7, 16, 1, 1, 1, 0, 1, 1),
    "1x1-stride2": (2, 8, 9, 9, 6, 1, 1, 2, 0, 1, 1),
    "1x1-padded": (1, 4, 6, 7, 5, 1, 1, 1, 1, 1, 1),
    "stride2": (3, 16, 17, 13, 8, 3, 3, 2, 1, 1, 1),
    "asymmetric-grouped": (2, 4, 10, 9, 6, 3, 2, (2, 1), (1, 0), (1, 2), 2),
    "depthwise": (2, 6, 11, 8, 6, 3, 3, 2, 1, 1, 6),
    "depthwise-x2": (2, 3, 8, 8, 6, 3, 3, 1, 1, 1, 3),
    "non-square-dilated": (1, 3, 7, 12, 2, 2, 5, (1, 3), (0, 2), (3, 1), 1),
    "kernel-covers-input": (1, 2, 5, 5, 3, 5, 5, 1, 0, 1, 1),
    "blocks-deep": (2, 64, 15, 15, 8, 3, 3, 1, 1, 1, 1),
    "blocks-wide": (1, 1, 90, 90, 4, 3, 3, 1, 1, 1, 1),
    "blocks-pointwise": (1, 8, 91, 91, 4, 1, 1, 1, 0, 1, 1),
    # The direct path (stride_w 1 and C/g*R*S <= 32 or K/g <= 4): rows of 8-pixel vectors
    # in tiles of 24 (37 -> 40 = 24 + 16, 30 -> 32 = 24 + 8), filters in blocks of 4.
    "direct-c1-3x3": (3, 1, 13, 37, 9, 3, 3, 1, 1, 1, 1),
    "direct-rgb-stride-h2": (2, 3, 10, 19, 5, 3, 3, (2, 1), 1, 1, 1),
    "direct-dilated": (2, 2, 12, 17, 6, 3, 3, 1, 2, 2, 1),
    "direct-few-filters": (2, 40, 9, 30, 3, 3, 3, 1, 1, 1, 1),
    "direct-grouped": (2, 6, 8, 11, 6, 3, 3, 1, 1, 1, 3),
    # The implicit GEMM: CRS = 360 runs in 2 chunks of 180 -> 176-pixel blocks, so 225
    # pixels make 2 blocks; K = 13 leaves edge tiles of the 6-row (AVX2) micro-kernel.
    "gemm-chunks-blocks": (2, 40, 15, 15, 13, 3, 3, 1, 1, 1, 1),
    "gemm-grouped": (2, 48, 10, 10, 24, 3, 3, 1, 1, 1, 2),
    "gemm-stride2-dilated": (2, 16, 15, 14, 8, 3, 3, 2, 2, 2, 1),
    "gemm-1x1-deep": (2, 64, 7, 9, 40, 1, 1, 1, 0, 1, 1),
    # The input gradient as a convolution with padding dilation*(R-1) - pad: 2, then 3.
    "valid-3x3": (2, 8, 9, 8, 20, 3, 3, 1, 0, 1, 1),
    "dilated-padded": (1, 4, 12, 12, 6, 3, 3, 1, 1, 2, 1),
}


def make(case, rng, dtype=np.float32):
    n, c, h, w, k, r, s, stride, padding, dilation, groups = case
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((k, c // groups, r, s)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype)
    hyper = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return x, weight, bias, hyper


def out_shape(case):
    n, c, h, w, k, r, s, stride, padding, dilation, _ = case
    size = lambda a, kern: reference.conv2d_output_size((h, w)[a], kern, pair(stride)[a],  # noqa: E731
                                                        pair(padding)[a], pair(dilation)[a])
    return (n, k, size(0, r), size(1, s))


def f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_forward_matches_reference(case, backend, rng):
    x, weight, bias, hyper = make(case, rng)
    got = ops.conv2d(x, weight, bias, backend=backend, **hyper)
    want = reference.conv2d(*f64(x, weight, bias), **hyper)
    assert got.dtype == np.float32 and got.shape == out_shape(case)
    assert_close(got, want, reduction_tol(weight[0].size), "y")
    no_bias = ops.conv2d(x, weight, backend=backend, **hyper)
    assert_close(no_bias, reference.conv2d(*f64(x, weight), **hyper), reduction_tol(weight[0].size), "y")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_backward_matches_reference(case, backend, rng):
    x, weight, _, hyper = make(case, rng)
    grad_y = f32(rng.standard_normal(out_shape(case)))
    dx, dw, db = ops.conv2d_backward(x, weight, grad_y, backend=backend, **hyper)
    want_dx, want_dw, want_db = reference.conv2d_backward(*f64(x, weight, grad_y), **hyper)
    n, k, oh, ow = grad_y.shape
    assert (dx.dtype, dw.dtype, db.dtype) == (np.float32,) * 3
    assert_close(dx, want_dx, reduction_tol(k // hyper["groups"] * weight[0, 0].size), "grad_x")
    assert_close(dw, want_dw, reduction_tol(n * oh * ow), "grad_weight")
    assert_close(db, want_db, reduction_tol(n * oh * ow), "grad_bias")


@pytest.mark.parametrize("asked", [(True, False, False), (False, True, False), (False, False, True),
                                   (False, True, True), (False, False, False)])
def test_backward_computes_only_what_is_asked(asked, backend, rng):
    x, weight, _, hyper = make(CASES["asymmetric-grouped"], rng)
    grad_y = f32(rng.standard_normal(out_shape(CASES["asymmetric-grouped"])))
    full = ops.conv2d_backward(x, weight, grad_y, backend=backend, **hyper)
    flags = dict(zip(("input_grad", "weight_grad", "bias_grad"), asked))
    for got, want, is_asked in zip(ops.conv2d_backward(x, weight, grad_y, backend=backend, **hyper, **flags),
                                   full, asked):
        if is_asked:
            np.testing.assert_array_equal(got, want)
        else:
            assert got is None


def test_numpy_backend_keeps_float64(rng):
    x, weight, bias, hyper = make(CASES["odd-3x3"], rng, np.float64)
    assert ops.conv2d(x, weight, bias, backend="numpy", **hyper).dtype == np.float64
    grads = ops.conv2d_backward(x, weight, np.ones(out_shape(CASES["odd-3x3"])), backend="numpy", **hyper)
    assert [g.dtype for g in grads] == [np.float64] * 3


def test_float64_inputs_are_converted(backend, rng):
    x, weight, bias, hyper = make(CASES["odd-3x3"], rng, np.float64)
    got = ops.conv2d(x, weight, bias, backend=backend, **hyper)
    assert got.dtype == np.float32
    assert_close(got, reference.conv2d(x, weight, bias, **hyper), reduction_tol(weight[0].size))


@pytest.mark.parametrize("case", [(2, 4, 5, 6, 4, 3, 2, (2, 1), (1, 0), (1, 2), 2),
                                  (1, 3, 6, 5, 3, 2, 3, 1, (0, 2), (2, 1), 3),
                                  (2, 2, 4, 4, 3, 1, 1, 1, 1, 1, 1)])
def test_reference_backward_matches_finite_differences(case, rng):
    x, weight, bias, hyper = make(case, rng, np.float64)
    grad_y = rng.standard_normal(out_shape(case))
    loss = lambda: float(np.sum(reference.conv2d(x, weight, bias, **hyper) * grad_y))  # noqa: E731
    dx, dw, db = reference.conv2d_backward(x, weight, grad_y, **hyper)
    assert_close(dx, finite_difference_grad(loss, x), 1e-7, "grad_x")
    assert_close(dw, finite_difference_grad(loss, weight), 1e-7, "grad_weight")
    assert_close(db, finite_difference_grad(loss, bias), 1e-7, "grad_bias")


@pytest.mark.parametrize("name", ["odd-3x3", "asymmetric-grouped", "depthwise", "non-square-dilated",
                                  "1x1-stride2"])
def test_matches_torch(name, rng):
    torch = pytest.importorskip("torch")
    case = CASES[name]
    x, weight, bias, hyper = make(case, rng, np.float64)
    grad_y = rng.standard_normal(out_shape(case))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    yt = torch.nn.functional.conv2d(xt, wt, bt, **hyper)
    yt.backward(torch.tensor(grad_y))
    torch_results = [t.detach().numpy() for t in (yt, xt.grad, wt.grad, bt.grad)]
    ours = [reference.conv2d(x, weight, bias, **hyper), *reference.conv2d_backward(x, weight, grad_y, **hyper)]
    names = ("y", "grad_x", "grad_weight", "grad_bias")
    for what, got, want in zip(names, ours, torch_results):
        assert_close(got, want, 1e-12, f"reference {what}")
    if "cpu" in kiln.available_backends():
        n, k, oh, ow = grad_y.shape
        tols = [reduction_tol(weight[0].size), reduction_tol(k // hyper["groups"] * weight[0, 0].size),
                reduction_tol(n * oh * ow), reduction_tol(n * oh * ow)]
        native = [ops.conv2d(x, weight, bias, backend="cpu", **hyper),
                  *ops.conv2d_backward(x, weight, grad_y, backend="cpu", **hyper)]
        for what, got, want, tol in zip(names, native, torch_results, tols):
            assert_close(got, want, tol, f"native {what}")


def test_nan_and_inf_propagate(backend, rng):
    x, weight, bias, hyper = make(CASES["odd-3x3"], rng)
    x[0, 1, 4, 5] = np.nan
    x[1, 2, 0, 0] = np.inf
    got = ops.conv2d(x, weight, bias, backend=backend, **hyper)
    with np.errstate(invalid="ignore"):
        want = reference.conv2d(*f64(x, weight, bias), **hyper)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite], reduction_tol(weight[0].size))


@pytest.mark.parametrize("case", [(5, 64, 20, 20, 12, 3, 3, 1, 1, 1, 2),  # 2 column blocks, 5 dW slices
                                  (1, 32, 24, 24, 64, 3, 3, 1, 1, 1, 1),  # one image: threads in the GEMMs
                                  (3, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1),  # the direct path
                                  (3, 40, 15, 15, 13, 3, 3, 2, 1, 1, 1)])  # strided: col2im
def test_thread_count_does_not_change_result(case, rng):
    if "cpu" not in kiln.available_backends():
        pytest.skip("native module not built")
    x, weight, bias, hyper = make(case, rng)
    grad_y = f32(rng.standard_normal(out_shape(case)))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            results.append([ops.conv2d(x, weight, bias, backend="cpu", **hyper),
                            *ops.conv2d_backward(x, weight, grad_y, backend="cpu", **hyper)])
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


# ---- bad input: a clean error naming the argument, nothing written ----------------------------

GOOD_X = np.ones((2, 4, 6, 6), np.float32)
GOOD_W = np.ones((6, 2, 3, 3), np.float32)  # groups=2

GOOD = {"x": GOOD_X, "weight": GOOD_W, "bias": np.ones(6, np.float32),
        "grad_y": np.ones((2, 6, 4, 4), np.float32)}
BAD_DTYPES = {"int": lambda shape: np.ones(shape, np.int64),
              "float16": lambda shape: np.ones(shape, np.float16),
              "object": lambda shape: np.full(shape, object()),
              "str": lambda shape: np.full(shape, "a"),
              "None": lambda shape: None}


@pytest.mark.parametrize("make_bad", BAD_DTYPES.values(), ids=BAD_DTYPES.keys())
@pytest.mark.parametrize("which", ["x", "weight", "bias", "grad_y"])
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_bad_dtype_is_type_error(make_bad, which, backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    bad = make_bad(GOOD[which].shape)
    if which == "bias" and bad is None:
        return  # None is a valid bias
    args = {**GOOD, which: bad}
    with pytest.raises(TypeError, match=f"{which}"):
        if which == "grad_y":
            ops.conv2d_backward(args["x"], args["weight"], args["grad_y"], groups=2, backend=backend_name)
        else:
            ops.conv2d(args["x"], args["weight"], args["bias"], groups=2, backend=backend_name)


BAD_VALUES = {
    "3-D x": (dict(x=np.ones((4, 6, 6), np.float32)), "x must be 4-D"),
    "5-D x": (dict(x=np.ones((1, 2, 4, 6, 6), np.float32)), "x must be 4-D"),
    "3-D weight": (dict(weight=np.ones((6, 2, 3), np.float32)), "weight must be 4-D"),
    "weight channels": (dict(weight=np.ones((6, 4, 3, 3), np.float32)), "input channels per group"),
    "groups not dividing C": (dict(groups=3, weight=np.ones((6, 1, 3, 3), np.float32)), "groups"),
    "groups not dividing K": (dict(weight=np.ones((5, 2, 3, 3), np.float32)), "groups"),
    "kernel larger than input": (dict(weight=np.ones((6, 2, 7, 3), np.float32)), "larger than the padded"),
    "dilated kernel": (dict(dilation=(1, 3)), "larger than the padded"),
    "stride 0": (dict(stride=0), "stride must be >= 1"),
    "negative stride": (dict(stride=(1, -2)), "stride must be >= 1"),
    "negative padding": (dict(padding=-1), "padding must be >= 0"),
    "dilation 0": (dict(dilation=0), "dilation must be >= 1"),
    "groups 0": (dict(groups=0), "groups must be >= 1"),
    "bias shape": (dict(bias=np.ones(5, np.float32)), "bias must have shape"),
    "32-bit overflow": (dict(x=np.ones((1, 1, 1, 1), np.float32), weight=np.ones((1, 1, 1, 1), np.float32),
                             groups=1, padding=50000), "kiln's limit"),
    "stride pair of three": (dict(stride=(1, 1, 1)), "stride must be an int or a pair"),
}


@pytest.mark.parametrize("change,message", BAD_VALUES.values(), ids=BAD_VALUES.keys())
@pytest.mark.parametrize("backend_name", ["numpy", "cpu"])
def test_bad_values_are_value_errors(change, message, backend_name):
    if backend_name not in kiln.available_backends():
        pytest.skip("native module not built")
    args = dict(x=GOOD_X, weight=GOOD_W, bias=None, stride=1, padding=0, dilation=1, groups=2)
    args.update(change)
    x, weight, bias = args.pop("x"), args.pop("weight"), args.pop("bias")
    with pytest.raises(ValueError, match=message):
        ops.conv2d(x, weight, bias, backend=backend_name, **args)
    if "bias" not in change:
        with pytest.raises(ValueError, match=message):
            ops.conv2d_backward(x, weight, np.ones((1, 1, 1, 1), np.float32), backend=backend_name, **args)


def test_non_integer_hyper_parameters_are_type_errors(backend):
    for bad in (dict(stride=1.5), dict(padding="1"), dict(groups=True), dict(dilation=None)):
        with pytest.raises(TypeError, match=next(iter(bad))):
            ops.conv2d(GOOD_X, GOOD_W, backend=backend, **{"groups": 2, **bad})


def test_grad_y_of_the_wrong_shape(backend):
    with pytest.raises(ValueError, match="grad_y must have shape"):
        ops.conv2d_backward(GOOD_X, GOOD_W, np.ones((2, 6, 5, 4), np.float32), groups=2, backend=backend)


def test_native_module_checks_its_own_arguments():
    _C = pytest.importorskip("kiln._C")
    x, w = GOOD_X, GOOD_W
    hyper = ((1, 1), (0, 0), (1, 1), 2)
    out = np.full((2, 6, 4, 4), 7.0, np.float32)
    frozen = out.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="conv2d_forward: out is read-only"):
        _C.conv2d_forward(x, w, None, frozen, *hyper)
    strided = np.full((2, 6, 4, 8), 7.0, np.float32)[..., ::2]
    with pytest.raises(ValueError, match="conv2d_forward: out must be C-contiguous"):
        _C.conv2d_forward(x, w, None, strided, *hyper)
    assert (strided == 7.0).all()
    with pytest.raises(ValueError, match="conv2d_forward: out must have shape"):
        _C.conv2d_forward(x, w, None, np.empty((2, 6, 5, 5), np.float32), *hyper)
    with pytest.raises(TypeError, match="conv2d_forward: x must be a numpy.ndarray of float32"):
        _C.conv2d_forward(x.astype(np.float64), w, None, out, *hyper)
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.conv2d_forward(x[0], w, None, out, *hyper)
    with pytest.raises(ValueError, match="input channels per group"):
        _C.conv2d_forward(x, w, None, out, (1, 1), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        _C.conv2d_forward(x, w, None, out, (0, 1), (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="groups"):
        _C.conv2d_forward(x, np.ones((6, 1, 3, 3), np.float32), None, out, (1, 1), (0, 0), (1, 1), 4)
    with pytest.raises(ValueError, match="kiln's limit"):
        _C.conv2d_forward(np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32), None,
                          np.empty((1, 1, 1, 1), np.float32), (1, 1), (50000, 50000), (1, 1), 1)
    with pytest.raises(ValueError, match="shares memory"):
        _C.conv2d_forward(out, np.ones((6, 6, 1, 1), np.float32), None, out, (1, 1), (0, 0), (1, 1), 1)
    grad_x = np.full(x.shape, 7.0, np.float32)[:, :, :, ::1]
    with pytest.raises(ValueError, match="conv2d_backward: grad_weight is read-only"):
        frozen_w = np.zeros(w.shape, np.float32)
        frozen_w.flags.writeable = False
        _C.conv2d_backward(x, w, np.ones((2, 6, 4, 4), np.float32), grad_x, frozen_w, None, *hyper)
    assert (grad_x == 7.0).all()
    assert (out == 7.0).all()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        ops.conv2d(GOOD_X, GOOD_W, groups=2, backend="tpu")
