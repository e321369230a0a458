"""How much of a piece of Python code runs inside kiln's native kernels.

    with kiln.profiler.kernel_time() as kt:
        train_step()
    print(kt.seconds, kt.calls)       # seconds inside kiln._C, calls per kernel

Every function of the native module is wrapped for the duration of the block (a
perf_counter pair per call, well under a microsecond), so the rest of the wall time
is Python: the tape, argument checks, NumPy glue. The native tape walk
(``run_backward``) may call back into Python for a leaf gradient it cannot place itself;
that time it reports (``tape_python_seconds``) is taken off the kernel time, and a native
call made from inside another is not counted twice.
"""

from __future__ import annotations

import contextlib
from time import perf_counter
from collections import Counter
from dataclasses import dataclass, field

from ._backend import native


@dataclass
class KernelTime:
    seconds: float = 0.0
    calls: Counter = field(default_factory=Counter)
    seconds_by_kernel: Counter = field(default_factory=Counter)


@contextlib.contextmanager
def kernel_time():
    module = native()
    stats = KernelTime()
    # Functions only: building a tape node (a class of the module) is bookkeeping, counted
    # as outside; running one (NativeBackward.__call__, from Python's walker) is a kernel.
    originals = {name: getattr(module, name) for name in dir(module)
                 if not name.startswith("_") and callable(getattr(module, name))
                 and not isinstance(getattr(module, name), type)}
    node_type = getattr(module, "NativeBackward", None)

    python_seconds = originals.get("tape_python_seconds", lambda: 0.0)
    log: list = []  # (name, seconds) per outermost call, summed when the block ends
    depth = 0

    def wrap(name, fn):
        # Lean on purpose: whatever this wrapper costs is counted as outside the kernels.
        # Only the tape walk calls back into Python, so only it pays for asking how long.
        calls_back = name == "run_backward"

        def timed(*args, **kwargs):
            nonlocal depth
            depth += 1
            python_before = python_seconds() if calls_back else 0.0
            start = perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = perf_counter() - start
                depth -= 1
                if calls_back:
                    elapsed -= python_seconds() - python_before
                if depth == 0:
                    log.append((name, elapsed))
        return timed

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    if node_type is not None:
        node_call = node_type.__call__
        node_type.__call__ = wrap("tape_node", node_call)
    try:
        yield stats
    finally:
        for name, seconds in log:
            stats.seconds += seconds
            stats.calls[name] += 1
            stats.seconds_by_kernel[name] += seconds
        for name, fn in originals.items():
            setattr(module, name, fn)
        if node_type is not None:
            node_type.__call__ = node_call
