"""Interleaved timing: every backend of a case runs once per repetition, in rotating order.

On a machine shared with other work, a burst of load hits whichever backend runs at that
moment. Taking turns within each repetition spreads the bursts over all backends, and the
median of the repetitions ignores the worst of them, so the *ratios* stay meaningful even
when the absolute times wander.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


# Idle worker threads busy-wait before they sleep: OpenBLAS's for about 2^28 cycles (~0.1 s),
# an OpenMP runtime's (kiln's, torch's) for a few milliseconds. On two cores the next backend
# would share a core with a spinning thread (kiln's n=1024 GEMM measured 65 instead of 135
# GFLOP/s right after NumPy's), so each backend's turn starts with an untimed pause after the
# previous backend. A core that idled that long comes back slowly on this VM (a 0.15 ms
# softmax took 4 ms for several calls after 0.1 s asleep), so a backend whose call is short
# (under SHORT_CALL_S) first runs untimed for WARM_S, its own threads busy, then is timed.
SETTLE_AFTER = {"numpy": 0.12, "scipy": 0.12}
SETTLE_DEFAULT = 0.02
SHORT_CALL_S = 0.05
WARM_S = 0.03


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], object]], *, budget_s: float, warmup: int = 1,
                min_reps: int = 3, max_reps: int = 50) -> dict[str, list[float]]:
    """Seconds of each call of each fn, repetition by repetition.

    Every fn runs ``warmup`` times untimed, then the repetitions run round-robin (the first
    backend of repetition r is the r-th, cyclically) until ``budget_s`` of timed work is
    spent, with at least ``min_reps`` and at most ``max_reps`` repetitions. Each turn is
    preceded by the pause and, for short calls, the warm-up described above.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    spent, previous = 0.0, None
    for rep in range(max_reps):
        if rep >= min_reps and spent >= budget_s:
            break
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            if previous is not None and previous != name:
                time.sleep(SETTLE_AFTER.get(previous, SETTLE_DEFAULT))
            if times[name] and times[name][0] < SHORT_CALL_S:  # short, known from its first timed call
                warm_until = time.perf_counter() + WARM_S
                fns[name]()
                while time.perf_counter() < warm_until:
                    fns[name]()
            elapsed = _timed(fns[name])
            times[name].append(elapsed)
            spent += elapsed
            previous = name
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls after one untimed call: for peak probes, where the
    question is what the machine can do, not what it typically does."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
