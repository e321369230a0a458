"""Each CPU code path this machine supports (KILN_CPU=portable|avx2|avx512) against the reference.

The kernels choose their ISA once per process, so each path runs the GEMM-based
kernel tests, and the SIMD-path tests (vector tails, 1 and 2 threads) of the
elementwise kernels, in a subprocess with KILN_CPU set.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import kiln

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built")

TESTS = Path(__file__).parent
GEMM_USERS = ["test_matmul.py", "test_linear.py", "test_conv2d.py", "test_lstm.py",
              "test_conv2d_paths.py", "test_conv2d_winograd.py"]  # kernels built on the GEMM micro-kernel
SPARSE_TESTS = ["test_sparse_matmul.py"]  # sparse_matmul's own SIMD loops
# Elementwise kernels with SIMD versions: their tests named simd_paths cover every tail and thread count.
SIMD_USERS = ["test_adam.py", "test_pointwise.py", "test_losses.py", "test_embedding.py"]


def isa_in_subprocess(isa: str) -> str:
    env = dict(os.environ, KILN_CPU=isa)
    out = subprocess.run([sys.executable, "-c", "import kiln; print(kiln.cpu_isa())"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_forced_isa_matches_reference(isa):
    if isa_in_subprocess(isa) != isa:
        pytest.skip(f"this CPU does not support {isa}")
    files = [str(TESTS / f) for f in GEMM_USERS + SPARSE_TESTS if (TESTS / f).exists()]
    env = dict(os.environ, KILN_CPU=isa)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "-k", "not forced_isa", *files], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


@pytest.mark.parametrize("isa", ["portable", "avx2", "avx512"])
def test_forced_isa_simd_paths_match_reference(isa):
    if isa_in_subprocess(isa) != isa:
        pytest.skip(f"this CPU does not support {isa}")
    files = [str(TESTS / f) for f in SIMD_USERS]
    env = dict(os.environ, KILN_CPU=isa)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "-k", "simd_paths", *files], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout, run.stdout[-3000:]


def test_unknown_isa_request_falls_back_to_the_best_supported():
    assert isa_in_subprocess("no-such-isa") == isa_in_subprocess("avx512")
