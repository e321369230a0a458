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


def interleaved(fns: dict[str, Callable[[], object]], *, budget_s: float, warmup: int = 1,
                min_reps: int = 3, max_reps: int = 50) -> dict[str, list[float]]:
    """Seconds of each call of each fn, repetition by repetition.

    Every fn runs ``warmup`` times untimed, then the repetitions run round-robin (the first
    backend of repetition r is the r-th, cyclically) until ``budget_s`` of timed work is
    spent, with at least ``min_reps`` and at most ``max_reps`` repetitions.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    spent = 0.0
    for rep in range(max_reps):
        if rep >= min_reps and spent >= budget_s:
            break
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            start = time.perf_counter()
            fns[name]()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            spent += elapsed
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
