"""kiln's benchmark suite: each kernel and training step of issue 4 on NumPy, kiln and PyTorch.

    python -m kiln.bench                  # every case, ~5 minutes on 2 cores
    python -m kiln.bench --quick          # fewer repetitions, ~1 minute
    python -m kiln.bench --only matmul conv2d

Modules: ``case`` (what a case is), ``kernels`` and ``training`` (the cases), ``timing``
(interleaved medians), ``machine`` (CPU, BLAS, measured peaks), ``run`` (one case measured),
``report`` (tables and chart), ``__main__`` (the command), ``examples`` (each example
program against its PyTorch twin, ``python -m kiln.bench.examples``).
"""

from .case import Case, Target
from .kernels import kernel_cases
from .training import training_cases


def all_cases(tiny: bool = False) -> tuple[list[Case], list[str]]:
    """Every case in table order, and notes on any left out."""
    extra, notes = training_cases(tiny)
    return kernel_cases(tiny) + extra, notes


def select(cases: list[Case], prefixes) -> list[Case]:
    """The cases whose kernel name starts with one of ``prefixes`` ("conv2d" takes fwd and fwd+bwd)."""
    return [c for c in cases if any(c.kernel.startswith(prefix) for prefix in prefixes)]


__all__ = ["Case", "Target", "all_cases", "kernel_cases", "select", "training_cases"]
