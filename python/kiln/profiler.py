"""How much of a piece of Python code runs inside kiln's native kernels.

    with kiln.profiler.kernel_time() as kt:
        train_step()
    print(kt.seconds, kt.calls)       # seconds inside the cpu backend's kernels, calls per kernel

Every kernel function of the cpu backend's native module is wrapped for the duration of the
block (a perf_counter pair per call, well under a microsecond), and so is the tape's walk
(``run_backward``), which runs native nodes in C++; the rest of the wall time is Python: the
tape's recording, argument checks, NumPy glue. The walk may call back into Python (closure
nodes, which may call kernels themselves): that Python time (``kiln._tape.python_seconds``)
is taken off, the kernels it called are counted, and no call is counted twice.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from time import perf_counter

from . import autograd, backends


@dataclass
class KernelTime:
    seconds: float = 0.0
    calls: Counter = field(default_factory=Counter)
    seconds_by_kernel: Counter = field(default_factory=Counter)


@contextlib.contextmanager
def kernel_time():
    backend = backends.get("cpu")
    module = backend.kernel_module
    stats = KernelTime()
    # Kernels only: building a tape node after its kernel (the *_node factories, the classes)
    # is bookkeeping, counted as outside.
    originals = {name: getattr(module, name) for name in dir(module)
                 if not name.startswith("_") and not name.endswith("_node") and callable(getattr(module, name))
                 and not isinstance(getattr(module, name), type)}
    walk = autograd.run_backward
    log: list = []  # (name, seconds) per outermost call, summed when the block ends
    state = {"depth": 0, "in_walk": False, "called_back": 0.0}

    def wrap(name, fn):
        # Lean on purpose: whatever this wrapper costs is counted as outside the kernels.
        def timed(*args, **kwargs):
            state["depth"] += 1
            start = perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = perf_counter() - start
                state["depth"] -= 1
                if state["depth"] == 0:
                    log.append((name, elapsed))
                elif state["in_walk"] and state["depth"] == 1:  # a kernel a closure node called
                    state["called_back"] += elapsed
        return timed

    def timed_walk(*args):
        python_before, called_before = autograd.python_seconds(), state["called_back"]
        state["in_walk"] = True
        state["depth"] += 1
        start = perf_counter()
        try:
            return walk(*args)
        finally:
            elapsed = perf_counter() - start
            state["depth"] -= 1
            state["in_walk"] = False
            python = autograd.python_seconds() - python_before
            log.append(("run_backward", elapsed - python + state["called_back"] - called_before))

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    # The fused ops (forward and node in one call) are kernels too; the layers find them
    # through the backend's table, not the module.
    backend.native_ops = {name: wrap(fn.__name__, fn) for name, fn in type(backend).native_ops.items()}
    autograd.run_backward = timed_walk
    try:
        yield stats
    finally:
        for name, seconds in log:
            stats.seconds += seconds
            stats.calls[name] += 1
            stats.seconds_by_kernel[name] += seconds
        for name, fn in originals.items():
            setattr(module, name, fn)
        del backend.native_ops
        autograd.run_backward = walk
