"""float32 matmul: kiln vs NumPy (OpenBLAS) vs PyTorch, interleaved in one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 \\
        PYTHONPATH=python python3 bench/matmul_compare.py --threads 2

The OpenBLAS variables are unset so that NumPy picks its best kernels (the script
refuses to run with them set). Each round times every library once per size, in
rotating order, so that noise from other work on the machine hits all of them alike;
the table holds medians (GFLOP/s) and the ratios kiln/numpy and kiln/torch (above 1:
kiln is faster). Each measurement starts after a short pause, so that the worker threads
OpenBLAS and PyTorch leave spinning after their calls do not steal the cores from the
next library timed. PyTorch is optional.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

SIZES = [(64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
         (2048, 2048, 2048), (1000, 1000, 1000), (33, 65, 17)]


def timer(fn, min_seconds: float) -> float:
    """Seconds per call: the best of a few back-to-back batches lasting min_seconds in all."""
    fn()
    reps, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds / 4:
            break
        reps *= 2
    best = elapsed / reps
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="timing budget per measurement")
    parser.add_argument("--sizes", nargs="*", help="m,n,k triples (default: a standard list)")
    args = parser.parse_args()
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            raise SystemExit(f"unset {var} (env -u {var} ...) so that OpenBLAS runs at its best")

    import kiln
    from kiln import ops
    kiln.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes] if args.sizes else SIZES

    rng = np.random.default_rng(0)
    cases = []
    for m, n, k in sizes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        runs = {"kiln": lambda a=a, b=b, c=c: ops.matmul(a, b, out=c),
                "numpy": lambda a=a, b=b, c=c: np.matmul(a, b, out=c)}
        if torch is not None:
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            runs["torch"] = lambda ta=ta, tb=tb, tc=tc: torch.matmul(ta, tb, out=tc)
        err = np.linalg.norm(ops.matmul(a, b) - a.astype(np.float64) @ b) / np.linalg.norm(a.astype(np.float64) @ b)
        assert err < 1e-5 * max(1.0, k ** 0.5), f"{m}x{n}x{k}: kiln disagrees with float64 ({err:.2e})"
        cases.append(((m, n, k), runs))

    times = {(shape, lib): [] for shape, runs in cases for lib in runs}
    for r in range(args.rounds):
        for shape, runs in cases:
            libs = list(runs)
            libs = libs[r % len(libs):] + libs[:r % len(libs)]
            for lib in libs:
                time.sleep(0.05)  # let the previous library's worker threads stop spinning
                times[(shape, lib)].append(timer(runs[lib], args.seconds))

    libs = ["kiln", "numpy"] + (["torch"] if torch is not None else [])
    print(f"float32 matmul, {args.threads} threads, kiln ISA {kiln.cpu_isa()}, median of {args.rounds} rounds"
          " (GFLOP/s; ratio > 1: kiln faster)")
    head = "| m x n x k | " + " | ".join(libs) + " | kiln/numpy |" + (" kiln/torch |" if torch else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for shape, _ in cases:
        flops = 2.0 * np.prod(shape, dtype=np.float64)
        med = {lib: statistics.median(times[(shape, lib)]) for lib in libs}
        row = [f"{flops / med[lib] / 1e9:.1f}" for lib in libs]
        row.append(f"{med['numpy'] / med['kiln']:.2f}")
        if torch is not None:
            row.append(f"{med['torch'] / med['kiln']:.2f}")
        print(f"| {'x'.join(map(str, shape))} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
