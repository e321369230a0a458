"""Shared helpers: seeded inputs, the relative Frobenius error, backends to test."""

from __future__ import annotations

import math
import os
import zlib

import numpy as np
import pytest

import kiln

# The backends of host arrays, and the native ones among them (the cuda device's backend takes
# its own arrays: test_backend_ops and test_cuda_* test it).
HOST_BACKENDS = [b for b in kiln.available_backends() if kiln.backends.get(b).device == "cpu"]
NATIVE_BACKENDS = [b for b in HOST_BACKENDS if b != "numpy"]

if os.environ.get("KILN_TEST_REQUIRE_CUDA") and not kiln.cuda.is_available():
    # CI's emulated-device run: a cuda device that failed to register must fail, not skip.
    raise RuntimeError("KILN_TEST_REQUIRE_CUDA is set but kiln has no cuda device (built without CUDA?)")

# float32 native vs float64 reference, relative Frobenius error. Elementwise kernels
# must stay under ELEMENTWISE_TOL; reductions over k terms under ELEMENTWISE_TOL * sqrt(k).
ELEMENTWISE_TOL = 1e-5


def reduction_tol(k: int) -> float:
    return ELEMENTWISE_TOL * math.sqrt(max(k, 1))


def rel_error(actual, expected) -> float:
    """||actual - expected||_F / ||expected||_F, in float64 (absolute when expected is 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return 0.0
    diff = np.linalg.norm((actual - expected).ravel())
    norm = np.linalg.norm(expected.ravel())
    return float(diff / norm) if norm > 0 else float(diff)


def assert_close(actual, expected, tol: float, what: str = "") -> None:
    err = rel_error(actual, expected)
    assert err <= tol, f"{what} relative error {err:.3e} > {tol:.1e}"


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: fresh inputs per test, reproducible runs."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture(params=NATIVE_BACKENDS)
def backend(request):
    """Each native backend built into this kiln."""
    return request.param


def f32(x: np.ndarray) -> np.ndarray:
    """Round to float32, so native and reference see the same numbers."""
    return np.asarray(x, dtype=np.float32)


def finite_difference_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f()/dx by central differences, where f() reads x (float64, perturbed in place)
    and returns a scalar, e.g. sum(forward(x) * upstream_grad)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return grad


# Vector tails of every SIMD width (1..33 crosses 4, 8, 16 and 32 lanes) and a size
# past the threading thresholds whose shares end in a tail.
TAIL_SIZES = list(range(1, 34)) + [1000003]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """kiln's thread count set to 1 or 2 for the test, restored after."""
    before = kiln.get_num_threads()
    kiln.set_num_threads(request.param)
    yield request.param
    kiln.set_num_threads(before)
