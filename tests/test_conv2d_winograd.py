"""conv2d's Winograd F(4x4, 3x3) path (forward and both gradients) vs the float64 reference.

The native conv2d takes Winograd for 3x3, stride 1, dilation 1, groups 1 with at least 8
channels in and out and at least 48 output tiles of 4x4 over the batch (cpp/src/cpu/conv2d.cpp,
winograd_suits), for the forward and the weight gradient; the input gradient of such a layer is
the same convolution of grad_y with the flipped filters, so it takes Winograd when its own shape
does. Small images (at most 64 output pixels) run their backward batched, on the GEMM.
test_cpu_dispatch runs this file on every ISA (KILN_CPU=portable, avx2, avx512).

Winograd's transforms round more than a direct sum (docs/DESIGN.md): its documented tolerance is
WINOGRAD_TOL on the relative Frobenius error (measured 0.9e-6 to 2.6e-6 over these shapes) and
WINOGRAD_ELEMENT_TOL on each element's error relative to the sum of |x| |w| (+ |bias|) it is
made of (measured up to 6.6e-6); the weight gradient's relative error measured up to 1.8e-6.
The GEMM path's tests keep their own, tighter, tolerances.
"""

import numpy as np
import pytest
from conftest import assert_close, f32, reduction_tol

import kiln
from kiln import ops, reference

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built")

WINOGRAD_TOL = 1e-5
WINOGRAD_ELEMENT_TOL = 5e-5

# (N, C, H, W, K, padding, bias); tiles = N * ceil(OH/4) * ceil(OW/4) with OH = H + 2*padding - 2.
CASES = {
    # At the thresholds: 8 channels in and out; 48 tiles exactly (out 32x24 -> 8 x 6).
    "channels-at-threshold": (1, 8, 29, 27, 8, 1, True),
    "tiles-at-threshold": (1, 9, 32, 24, 11, 1, False),
    # H, W not multiples of 4: partial tiles at the bottom and right; K = 11, 20, 33 leave
    # partial MR-row panels of the micro-kernel.
    "padding-0": (2, 16, 18, 30, 20, 0, True),
    "padding-2": (3, 12, 13, 14, 24, 2, True),
    "odd-sizes": (2, 24, 23, 17, 33, 1, False),
    # C above the micro-kernel's reduction chunk (256): the GEMMs accumulate over 2 chunks.
    "channels-in-two-chunks": (1, 300, 28, 28, 20, 1, True),
    # Many small images: the lanes of one panel span several images.
    "small-images": (64, 16, 5, 7, 16, 1, True),
    "bench-like": (4, 32, 28, 28, 64, 1, True),
}


def make(case, rng):
    n, c, h, w, k, padding, bias = case
    x = f32(rng.standard_normal((n, c, h, w)))
    weight = f32(rng.standard_normal((k, c, 3, 3)))
    b = f32(rng.standard_normal(k)) if bias else None
    return x, weight, b, padding


def f64(a):
    return None if a is None else a.astype(np.float64)


def assert_winograd_close(got, want, scale, what):
    assert_close(got, want, WINOGRAD_TOL, what)
    worst = float(np.max(np.abs(got.astype(np.float64) - want) / scale))
    assert worst <= WINOGRAD_ELEMENT_TOL, f"{what}: element error {worst:.2e} of |x| |w| > {WINOGRAD_ELEMENT_TOL:.0e}"


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_forward_within_winograd_tolerance(case, rng):
    x, weight, b, padding = make(case, rng)
    got = ops.conv2d(x, weight, b, padding=padding, backend="cpu")
    want = reference.conv2d(f64(x), f64(weight), f64(b), padding=padding)
    scale = reference.conv2d(np.abs(f64(x)), np.abs(f64(weight)), None if b is None else np.abs(f64(b)),
                             padding=padding)
    assert_winograd_close(got, want, scale, "y")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_backward_within_tolerances(case, rng):
    x, weight, _, padding = make(case, rng)
    grad_y = f32(rng.standard_normal(reference.conv2d(f64(x), f64(weight), padding=padding).shape))
    dx, dw, db = ops.conv2d_backward(x, weight, grad_y, padding=padding, backend="cpu")
    want_dx, want_dw, want_db = reference.conv2d_backward(f64(x), f64(weight), f64(grad_y), padding=padding)
    # dx = conv(grad_y, flipped filters) with padding 2 - padding: Winograd where it suits.
    flipped = np.abs(f64(weight)).transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    scale = reference.conv2d(np.abs(f64(grad_y)), flipped, padding=2 - padding)
    assert_winograd_close(dx, want_dx, scale, "grad_x")
    assert_close(dw, want_dw, WINOGRAD_TOL, "grad_weight")
    assert_close(db, want_db, reduction_tol(grad_y.shape[0] * grad_y.shape[2] * grad_y.shape[3]), "grad_bias")


@pytest.mark.parametrize("case", [CASES["odd-sizes"], CASES["small-images"], CASES["bench-like"]],
                         ids=["odd-sizes", "small-images", "bench-like"])
def test_thread_count_does_not_change_result(case, rng):
    x, weight, b, padding = make(case, rng)
    grad_y = f32(rng.standard_normal(reference.conv2d(f64(x), f64(weight), padding=padding).shape))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            results.append([ops.conv2d(x, weight, b, padding=padding, backend="cpu"),
                            *ops.conv2d_backward(x, weight, grad_y, padding=padding, backend="cpu",
                                                 bias_grad=False)[:2]])
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_nan_reaches_every_output_it_feeds(rng):
    # A tile's outputs mix all 36 inputs of its patch, so a NaN or inf may also turn outputs
    # beside it (in the same or an overlapping tile) into NaN: never fewer than the reference's.
    x, weight, b, padding = make(CASES["bench-like"], rng)
    x[0, 3, 10, 13] = np.nan
    x[2, 0, 27, 0] = np.inf
    got = ops.conv2d(x, weight, b, padding=padding, backend="cpu")
    with np.errstate(invalid="ignore"):
        want = reference.conv2d(f64(x), f64(weight), f64(b), padding=padding)
    assert np.all(~np.isfinite(got[~np.isfinite(want)]))
    untouched = np.ones(got.shape, bool)
    untouched[0, :, 8:16, 8:20] = False  # the tiles whose patches hold (10, 13)
    untouched[2, :, 20:28, 0:8] = False  # and (27, 0)
    assert np.all(np.isfinite(got[untouched]))
    assert_close(got[untouched], want[untouched], WINOGRAD_TOL)
