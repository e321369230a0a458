"""kiln.set_num_threads / get_num_threads, and OMP_NUM_THREADS honoured."""

import os
import subprocess
import sys

import numpy as np
import pytest

import kiln

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built")


def test_set_and_get():
    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(1)
        assert kiln.get_num_threads() == 1
        kiln.set_num_threads(3)
        assert kiln.get_num_threads() == 3
    finally:
        kiln.set_num_threads(before)
    assert kiln.get_num_threads() == before


def test_zero_returns_to_the_openmp_default():
    code = "import kiln; d = kiln.get_num_threads(); kiln.set_num_threads(1); kiln.set_num_threads(0); " \
           "print(d, kiln.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "2"]


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="n must be >= 0"):
        kiln.set_num_threads(-1)
    with pytest.raises(TypeError, match="int"):
        kiln.set_num_threads(2.0)
    with pytest.raises(TypeError, match="int"):
        kiln.set_num_threads(True)


def test_omp_num_threads_is_the_default():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", "import kiln; print(kiln.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_threadpoolctl_sees_kilns_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = threadpoolctl.threadpool_info()
    assert any(lib["user_api"] == "openmp" for lib in info), info


def test_every_share_runs_when_openmp_grants_fewer_threads():
    # OMP_THREAD_LIMIT=1 makes OpenMP grant one thread to a team of two: the GEMM used to
    # leave the second thread's half of C unwritten.
    code = """if True:
        import numpy as np, kiln
        from kiln import ops
        kiln.set_num_threads(2)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((512, 512)).astype(np.float32)
        x = rng.standard_normal((2, 8, 64, 64)).astype(np.float32)
        w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
        got = [ops.matmul(a, a), ops.conv2d(x, w, padding=1), ops.relu(np.repeat(a, 8))]
        want = [ops.matmul(a, a, backend="numpy"), ops.conv2d(x, w, padding=1, backend="numpy"),
                np.maximum(np.repeat(a, 8), 0)]
        print(max(float(np.abs(g - w).max() / np.abs(w).max()) for g, w in zip(got, want)))
        """
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) < 1e-5, out.stdout


def thread_bound() -> int:
    """kiln's largest thread count: 4 per hardware thread, at least 64 (kiln/threads.hpp)."""
    return max(64, 4 * (os.cpu_count() or 1))


def test_counts_above_the_bound_are_refused():
    # 100000 used to be accepted and the next kernel crashed in libgomp; 20000 started 20000 threads.
    before = kiln.get_num_threads()
    for n in (thread_bound() + 1, 20000, 100000, 2**31 - 1):
        with pytest.raises(ValueError, match=f"at most {thread_bound()}"):
            kiln.set_num_threads(n)
        assert kiln.get_num_threads() == before
    try:
        kiln.set_num_threads(thread_bound())
        a = np.ones((256, 256), np.float32)
        assert np.array_equal(kiln.ops.matmul(a, a), np.full((256, 256), 256, np.float32))
    finally:
        kiln.set_num_threads(before)


def test_an_openmp_default_above_the_bound_is_capped():
    code = "import numpy as np, kiln; a = np.ones((512, 512), np.float32); " \
           "print(kiln.get_num_threads(), kiln.ops.matmul(a, a)[0, 0])"
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(thread_bound()), "512.0"]
