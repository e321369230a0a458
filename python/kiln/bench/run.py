"""Measure one case: prepare every backend, check that they agree, time them interleaved,
and turn the medians into rates, peak fractions, ratios and target verdicts."""

from __future__ import annotations

import gc
import math
import time

import numpy as np

from .case import Case, relative_error
from .timing import interleaved, median


def measure(case: Case, peaks: dict, *, budget_s: float, min_reps: int = 3, max_reps: int = 30,
            seed: int = 0) -> dict:
    """One JSON-ready record of ``case`` (see ``__main__`` for the layout)."""
    started = time.perf_counter()
    inputs = case.make_inputs(np.random.default_rng(seed))
    fns = {backend: prepare(inputs) for backend, prepare in case.runners.items()}
    # The first call of each backend is its warm-up, and what the backends must agree on.
    first = {backend: fn() for backend, fn in fns.items()}
    errors = {}
    if case.comparable and "numpy" in first:
        errors = {b: relative_error(r, first["numpy"]) for b, r in first.items() if b != "numpy"}
    del first
    times = interleaved(fns, budget_s=budget_s, warmup=0, min_reps=min_reps, max_reps=max_reps)
    extra = case.extra(inputs) if case.extra is not None and case.base in fns else {}
    del fns, inputs
    gc.collect()

    results = {}
    for backend, samples in times.items():
        seconds = median(samples)
        row = {"median_s": seconds, "reps": len(samples), "times_s": samples}
        if case.flops:
            row["gflops"] = case.flops / seconds / 1e9
        if case.bytes:
            row["gbytes_per_s"] = case.bytes / seconds / 1e9
        if case.bound == "flops":
            row["peak_fraction"] = case.flops / seconds / peaks["flops"]["flops_per_s"]
        elif case.bound == "bandwidth":
            row["peak_fraction"] = case.bytes / seconds / peaks["bandwidth"]["bytes_per_s"]
        if backend in errors:
            row["rel_error_vs_numpy"] = errors[backend]
        results[backend] = row

    kiln = results.get(case.base)
    values = {}
    if kiln is not None:
        for other in results:
            if other != case.base:
                values[other] = results[other]["median_s"] / kiln["median_s"]
        if "peak_fraction" in kiln:
            values["peak"] = kiln["peak_fraction"]
        values.update(extra)
    targets = [{"label": t.label, "against": t.against, "at_least": t.at_least, "at_most": t.at_most,
                "value": values.get(t.against),
                "pass": t.passes(values.get(t.against))} for t in case.targets]
    agree = all(err <= case.tolerance for err in errors.values())
    return {"kernel": case.kernel, "shape": case.shape, "flops": case.flops, "bytes": case.bytes,
            "bound": case.bound, "notes": case.notes, "results": results, "ratios": values, "extra": extra,
            "targets": targets, "backends_agree": agree if errors else None, "tolerance": case.tolerance,
            "base": case.base, "kiln_built": case.base in case.runners, "seconds": time.perf_counter() - started}


def verdict(target: dict) -> str:
    if target["value"] is None or (isinstance(target["value"], float) and math.isnan(target["value"])):
        return "n/a"
    return "PASS" if target["pass"] else "MISS"
