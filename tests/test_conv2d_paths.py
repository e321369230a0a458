"""conv2d's CPU paths for the first layers and the weight gradient, against the float64 reference.

Shapes chosen for the code they reach (cpp/src/cpu/conv2d_direct.cpp, conv2d_gemm.cpp):
the direct path's tap planes (flat copies when stride_w is 1 and OW == W, row by row
otherwise, im2col planes for stride_h > 1; several row blocks; 4-filter blocks and single
filters; pixel counts that leave partial vectors), its dot-product weight gradient (2-filter
and single-filter kernels), the stride-1 weight gradient's grid chunks, filter panels and
tap blocks (K and C*R*S not multiples of the kernel's tile), and the input gradient by
col2im for fewer than 4 input channels. tests/test_cpu_dispatch.py runs this file on every ISA.
"""

import numpy as np
import pytest
from conftest import assert_close, f32, reduction_tol

import kiln
from kiln import ops, reference

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
CASES = {
    "first-layer": (3, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1),
    "first-layer-odd": (2, 1, 13, 29, 7, 3, 3, 1, 1, 1, 1),
    "rgb-5x5": (2, 3, 17, 19, 10, 5, 5, 1, 2, 1, 1),
    "rgb-valid": (2, 3, 16, 15, 6, 3, 3, 1, 0, 1, 1),
    "rgb-stride2": (2, 3, 15, 17, 8, 3, 3, 2, 1, 1, 1),
    "stride-w-only": (2, 2, 9, 23, 5, 3, 3, (1, 2), 1, 1, 1),
    "dilated-wide": (1, 2, 11, 40, 9, 3, 3, 1, 2, 2, 1),
    "row-blocks": (1, 16, 30, 100, 3, 3, 3, 1, 1, 1, 1),
    "grouped-direct": (2, 4, 9, 10, 6, 3, 3, 1, 1, 1, 2),
    "one-filter": (2, 2, 12, 12, 1, 3, 3, 1, 1, 1, 1),
    "wgrad-panels": (2, 33, 10, 13, 40, 3, 3, 1, 1, 1, 1),
    "wgrad-chunks": (2, 36, 30, 30, 70, 3, 3, 1, 1, 1, 1),
    "wgrad-1x1": (2, 64, 9, 7, 20, 1, 1, 1, 0, 1, 1),
    "wgrad-5x5-grouped": (2, 8, 12, 11, 12, 5, 5, 1, 2, 1, 2),
    "wgrad-dilated": (1, 20, 14, 16, 24, 3, 3, 1, 2, 2, 1),
}


def make(case, rng):
    n, c, h, w, k, r, s, stride, padding, dilation, groups = case
    x = f32(rng.standard_normal((n, c, h, w)))
    weight = f32(rng.standard_normal((k, c // groups, r, s)))
    bias = f32(rng.standard_normal(k))
    return x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_forward_and_backward_match_reference(case, with_bias, backend, rng):
    x, weight, bias, hyper = make(case, rng)
    bias = bias if with_bias else None
    y = ops.conv2d(x, weight, bias, backend=backend, **hyper)
    assert_close(y, reference.conv2d(*f64(x, weight, bias), **hyper), reduction_tol(weight[0].size), "y")
    grad_y = f32(rng.standard_normal(y.shape))
    dx, dw, db = ops.conv2d_backward(x, weight, grad_y, backend=backend, **hyper)
    want_dx, want_dw, want_db = reference.conv2d_backward(*f64(x, weight, grad_y), **hyper)
    n, k, oh, ow = grad_y.shape
    assert_close(dx, want_dx, reduction_tol(k // hyper["groups"] * weight[0, 0].size), "grad_x")
    assert_close(dw, want_dw, reduction_tol(n * oh * ow), "grad_weight")
    assert_close(db, want_db, reduction_tol(n * oh * ow), "grad_bias")


def test_output_is_written_only_inside_y(rng):
    """The row kernels write y in place: a y view inside a larger buffer keeps its neighbours."""
    if "cpu" not in kiln.available_backends():
        pytest.skip("native module not built")
    x, weight, bias, hyper = make(CASES["first-layer-odd"], rng)
    want = reference.conv2d(*f64(x, weight, bias), **hyper)
    buffer = np.full(want.size + 64, 7.0, np.float32)
    out = buffer[32:32 + want.size].reshape(want.shape)
    kiln._C.conv2d_forward(x, weight, bias, out, (1, 1), (1, 1), (1, 1), 1)
    assert_close(out, want, reduction_tol(weight[0].size), "y")
    assert np.all(buffer[:32] == 7.0) and np.all(buffer[32 + want.size:] == 7.0)


@pytest.mark.parametrize("name", ["first-layer", "rgb-stride2", "wgrad-chunks"])
def test_thread_count_does_not_change_result(name, rng):
    if "cpu" not in kiln.available_backends():
        pytest.skip("native module not built")
    x, weight, bias, hyper = make(CASES[name], rng)
    y = ops.conv2d(x, weight, bias, backend="cpu", **hyper)
    grad_y = f32(rng.standard_normal(y.shape))
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
