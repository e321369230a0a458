"""Allocation failures inside threaded kernels: MemoryError, never an abort.

Each case runs in a subprocess that starts the OpenMP pool (a small threaded matmul), then
calls one kernel at 2 threads under an address-space limit (RLIMIT_AS) raised step by step
from "nothing spare" until the call succeeds. Every step must give MemoryError or the right
answer; a C++ exception escaping an OpenMP region would end the process with SIGABRT
("terminate called after throwing an instance of 'std::bad_alloc'"). The sweep makes each
allocation of the call, inside a parallel region or not, the one that fails at some step.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import kiln

pytestmark = [
    pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"),
    # AddressSanitizer reserves terabytes of shadow address space: RLIMIT_AS cannot work there.
    pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="not under AddressSanitizer"),
]

# glibc's malloc raises its mmap threshold (up to 32 MB) after a large block is freed, and then
# serves big requests from heaps it has already reserved, where RLIMIT_AS never bites. A fixed
# threshold keeps every request over 128 KB a fresh mapping, so each one meets the limit.
ENV = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")

# Sizes chosen so that the big allocations of each call (GEMM packing buffers of 2-4 MB per
# thread, made inside the parallel region) are larger than the 0.5 MB steps of the sweep.
CASES = {
    "matmul": """
        a, b = normal(64, 256), normal(256, 8192)
        want = a.astype(np.float64) @ b
        call = lambda: ops.matmul(a, b)
        """,
    "lstm_sequence": """
        x, w_ih, w_hh = normal(16, 4, 256), normal(4096, 256) / 16, normal(4096, 1024) / 32
        want = ops.lstm_sequence(x, w_ih, w_hh, backend="numpy")[0]
        call = lambda: ops.lstm_sequence(x, w_ih, w_hh)[0]
        """,
    "conv2d": """
        x, w = normal(1, 256, 32, 32), normal(512, 256, 3, 3) / 48
        want = ops.conv2d(x, w, padding=1, backend="numpy")
        call = lambda: ops.conv2d(x, w, padding=1)
        """,
    "conv2d_small_images": """
        x, w = normal(64, 128, 8, 8), normal(256, 128, 3, 3) / 34
        want = ops.conv2d(x, w, padding=1, backend="numpy")
        call = lambda: ops.conv2d(x, w, padding=1)
        """,
}

SWEEP = """
    import resource
    import numpy as np
    import kiln
    from kiln import ops

    kiln.set_num_threads(2)
    rng = np.random.default_rng(0)
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    warm = normal(128, 128)
    ops.matmul(warm, warm)  # 4 Mflop: a 2-thread team, so the OpenMP pool exists
    {case}
    def address_space():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmSize"))
        return int(line.split()[1]) * 1024

    start = address_space()
    refused = 0
    for step in range(400):
        resource.setrlimit(resource.RLIMIT_AS, (start + step * 2**19, resource.RLIM_INFINITY))
        try:
            got = call()
        except MemoryError:
            refused += 1
            continue
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        err = np.abs(got - want).max() / np.abs(want).max()
        print("refused", refused, "then succeeded; error", err)
        assert err < 1e-4, err
        break
    else:
        raise SystemExit("never succeeded")
"""


@pytest.mark.parametrize("case", sorted(CASES))
def test_allocation_failure_in_a_threaded_kernel_is_a_memory_error(case):
    code = textwrap.dedent(SWEEP).replace("{case}", textwrap.dedent(CASES[case]).strip())
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=ENV)
    assert run.returncode == 0, f"exit status {run.returncode}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    refused = int(run.stdout.split()[1])
    assert refused > 0, "the limit never bit: " + run.stdout
