"""pytest-benchmark over kiln.bench's cases: ``PYTHONPATH=python python -m pytest bench``.

Each bench/test_bench_<kernel>.py names its cases in a module-level ``CASES`` (taken from
kiln.bench, never redefined here); this file parametrises every test that takes ``case``
and ``backend`` over those cases and the backends numpy, scipy, cpu and torch, skipping
the pairs a case has no runner for (torch not importable, a kiln kernel not built).

Unlike ``python -m kiln.bench`` this cannot unset the OpenBLAS variables for NumPy (it
would have to restart pytest): run it as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
python -m pytest bench`` for NumPy at its best; the header says when they are set.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import kiln
from kiln.bench.machine import torch_module

BACKENDS = ["numpy", "scipy", "cpu", "torch"]
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

_torch = torch_module()
if _torch is not None:
    _torch.set_num_threads(kiln.get_num_threads())  # torch on kiln's thread count


def pytest_report_header(config):
    set_ = [f"{name}={os.environ[name]}" for name in OPENBLAS_VARIABLES if name in os.environ]
    openblas = (f"WARNING {' '.join(set_)} set: NumPy may not run at its best (env -u ... to unset)" if set_
                else "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE not set")
    native = "cpu" in kiln.available_backends()
    return [f"kiln: ISA {kiln.cpu_isa() if native else 'not built'}, {kiln.get_num_threads()} threads; "
            f"torch: {_torch.__version__ if _torch else 'not importable'}; {openblas}"]


def pytest_generate_tests(metafunc):
    if {"case", "backend"} <= set(metafunc.fixturenames):
        pairs = [(case, backend) for case in metafunc.module.CASES for backend in BACKENDS
                 if backend in case.runners or backend in ("cpu", "torch")]
        ids = [f"{case.kernel}[{case.shape}]-{backend}".replace(" ", "_") for case, backend in pairs]
        metafunc.parametrize(("case", "backend"), pairs, ids=ids)


@pytest.fixture
def run_case(benchmark):
    """Time ``case`` on ``backend`` with pytest-benchmark; rates go to extra_info."""
    def run(case, backend):
        if backend not in case.runners:
            reason = "torch is not importable" if backend == "torch" and _torch is None else \
                f"no {backend} runner for this case (kiln kernel not built?)"
            pytest.skip(reason)
        fn = case.runners[backend](case.make_inputs(np.random.default_rng(0)))
        benchmark.extra_info.update({"flops": case.flops, "bytes": case.bytes, "notes": case.notes})
        fn()  # warm-up: first-call costs (allocations, torch's kernel selection) are not what we measure
        benchmark(fn)
        seconds = benchmark.stats.stats.median
        if case.flops:
            benchmark.extra_info["gflops_median"] = case.flops / seconds / 1e9
        if case.bytes:
            benchmark.extra_info["gbytes_per_s_median"] = case.bytes / seconds / 1e9
    return run
