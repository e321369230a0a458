"""How much of a piece of Python code runs inside kiln's native kernels.

    with kiln.profiler.kernel_time() as kt:
        train_step()
    print(kt.seconds, kt.calls)       # seconds inside kiln._C, calls per kernel

Every function of the native module is wrapped for the duration of the block (a
perf_counter pair per call, well under a microsecond), so the rest of the wall time
is Python: the tape, argument checks, NumPy glue.
"""

from __future__ import annotations

import contextlib
import time
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
    originals = {name: getattr(module, name) for name in dir(module)
                 if not name.startswith("_") and callable(getattr(module, name))}

    def wrap(name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                stats.seconds += elapsed
                stats.calls[name] += 1
                stats.seconds_by_kernel[name] += elapsed
        return timed

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield stats
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)
