"""What a benchmark case is: inputs, one runner per backend, the work done, and the targets.

A runner is ``prepare(inputs) -> run``: ``prepare`` does the per-backend set-up that is not
timed (torch tensors, copies of in-place state, a model); ``run()`` is the timed call and
returns what the backends must agree on (arrays or tensors, in one order for every backend).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

Runner = Callable[[dict], Callable[[], object]]

KILN = "cpu"  # the backend the ratios and targets are about


@dataclass
class Target:
    """An issue-4 (or issue-3) goal for the kiln row of a case.

    ``against`` names what the measured value is: "numpy" or "torch" (that backend's time
    over kiln's), "peak" (kiln's fraction of the machine's measured peak), or "outside"
    (the fraction of a step's wall time spent outside kiln's kernels). The value must be
    at least ``at_least`` or at most ``at_most``.
    """
    against: str  # a backend's name, "peak" or "outside"
    at_least: float | None = None
    at_most: float | None = None

    @property
    def label(self) -> str:
        if self.against not in ("peak", "outside"):
            return f">= {self.at_least:g}x {self.against}"
        bound = f">= {self.at_least:.0%}" if self.at_least is not None else f"< {self.at_most:.0%}"
        return f"{bound} {'of peak' if self.against == 'peak' else 'outside kernels'}"

    def passes(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.at_least is not None:
            return value >= self.at_least
        return value < self.at_most


@dataclass
class Case:
    kernel: str                     # the table the case is printed in
    shape: str
    make_inputs: Callable[[np.random.Generator], dict]
    runners: dict[str, Runner]      # backend -> prepare; a missing "cpu" prints as not built
    flops: float = 0.0              # useful floating-point operations of one run
    bytes: float = 0.0              # bytes one run must move at least
    bound: str | None = None        # "flops" or "bandwidth": which rate and which peak to report
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    comparable: bool = True         # whether the backends' results agree numerically
    tolerance: float = 1e-4         # relative Frobenius error allowed between backends (float32 both)
    extra: Callable[[dict], dict] | None = None  # kiln-only measurements after timing (profiler)
    base: str = KILN                # the backend the ratios and targets are about ("cuda" for GPU cases)

    @property
    def name(self) -> str:
        return f"{self.kernel} {self.shape}"


def as_numpy(value) -> np.ndarray:
    """A result part as a float64 NumPy array (torch tensors detached)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "__cuda_array_interface__"):  # a kiln device array
        from ..backends import device_of, for_device
        value = for_device(device_of(value)).to_numpy(value)
    return np.asarray(value, dtype=np.float64)


def flatten(result) -> np.ndarray:
    parts = result if isinstance(result, (tuple, list)) else (result,)
    return np.concatenate([as_numpy(p).ravel() for p in parts])


def relative_error(actual, expected) -> float:
    a, e = flatten(actual), flatten(expected)
    if a.shape != e.shape:
        raise ValueError(f"results differ in size: {a.shape} vs {e.shape}")
    norm = np.linalg.norm(e)
    return float(np.linalg.norm(a - e) / (norm if norm else 1.0))
