"""The machine under test: CPU model, kiln's ISA and threads, NumPy's BLAS, and measured peaks.

Peaks are measured, not looked up, so "fraction of peak" means fraction of what this
machine delivered in this run:

- FLOP peak: a large-SGEMM probe (n x n x n, float32), the best time of a few calls of
  NumPy's BLAS and of kiln's matmul; the faster one sets the peak. A GEMM at this size
  runs within a few percent of the FMA units' limit on a good BLAS, so this is a slight
  under-estimate of the hardware peak (never an over-estimate).
- Bandwidth peak: a large copy (``bytes = read + write``), the best of a few calls of
  NumPy's ``copyto`` (one thread) and, when importable, torch's ``copy_`` (its threads).
"""

from __future__ import annotations

import os
import platform

import time

import numpy as np

from .. import ops
from ..backends import available_backends, cpu_isa, get_num_threads
from .timing import SETTLE_AFTER, best_of


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl sees it (architecture, version, threads), if importable."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"note": "threadpoolctl not importable: OpenBLAS architecture unknown"}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {key: pool.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
    return {"note": "threadpoolctl found no BLAS"}


def torch_module():
    """torch, or None when it is not importable (it is never a kiln dependency)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def describe(torch) -> dict:
    native = "cpu" in available_backends()
    info = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(),
            "kiln_isa": cpu_isa() if native else "not built", "kiln_threads": get_num_threads(),
            "numpy": np.__version__, "blas": blas_info(),
            "openblas_env": {name: os.environ.get(name) for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def flop_peak(n: int, repeats: int = 5) -> dict:
    """Best FP32 GEMM rate of NumPy and kiln at n x n x n."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), np.float32)
    b = rng.standard_normal((n, n), np.float32)
    flops = 2.0 * n ** 3
    rates = {"numpy": flops / best_of(lambda: a @ b, repeats)}
    time.sleep(SETTLE_AFTER["numpy"])  # OpenBLAS's threads spin a while after its last call
    if "cpu" in available_backends():
        rates["kiln"] = flops / best_of(lambda: ops.matmul(a, b, backend="cpu"), repeats)
    source = max(rates, key=rates.get)
    return {"flops_per_s": rates[source], "probe": f"sgemm n={n}, best of {repeats}, fastest of "
            f"{' and '.join(rates)} ({source})", "rates": rates}


def bandwidth_peak(megabytes: int, torch, repeats: int = 5) -> dict:
    """Best copy rate (bytes read + written per second) of a ``megabytes`` buffer."""
    n = megabytes * (1 << 20) // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    moved = 2.0 * src.nbytes
    rates = {"numpy copyto": moved / best_of(lambda: np.copyto(dst, src), repeats)}
    if torch is not None:
        tsrc, tdst = torch.from_numpy(src), torch.from_numpy(dst)
        rates[f"torch copy_ ({torch.get_num_threads()} threads)"] = moved / best_of(lambda: tdst.copy_(tsrc),
                                                                                      repeats)
    source = max(rates, key=rates.get)
    return {"bytes_per_s": rates[source], "probe": f"{megabytes} MiB copy, read+write bytes, best of {repeats}, "
            f"fastest of {', '.join(rates)} ({source})", "rates": rates}
