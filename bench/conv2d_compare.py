"""conv2d and pooling: kiln vs the NumPy reference vs torch (oneDNN), side by side.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python python3 bench/conv2d_compare.py

Runs each candidate in turn, round after round, in one process on the same inputs (so
a busy machine slows them alike), and prints medians and minima of the wall time with
the ratios to kiln. Shapes are issue 4's: N, C, H -> K, 3x3, padding 1, stride 1.
Threads: --threads (default 2) for kiln, torch and OpenBLAS alike.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

SHAPES = [(64, 1, 28, 32), (32, 32, 28, 64), (16, 64, 56, 64)]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(candidates: dict, rounds: int) -> dict:
    """name -> list of wall times, the candidates taking turns."""
    for fn in candidates.values():
        fn()  # warm: caches, workspaces, thread pools
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--numpy-rounds", type=int, default=3, help="the reference is slow")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    import torch

    import kiln
    from kiln import ops, reference

    kiln.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    F = torch.nn.functional
    print(f"{'N,C,H->K':16s} {'pass':8s} {'kiln ms':>8s} {'GFLOP/s':>8s} {'x torch':>8s} {'(min)':>6s} "
          f"{'x numpy':>8s}")
    for n, c, h, k in SHAPES:
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        w = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
        b = rng.standard_normal(k, dtype=np.float32)
        dy = rng.standard_normal((n, k, h, h), dtype=np.float32)
        tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
        flops = 2.0 * n * k * h * h * c * 9

        def torch_forward():
            with torch.no_grad():
                F.conv2d(tx, tw, tb, padding=1)

        def torch_step():
            xg, wg, bg = (t.detach().requires_grad_() for t in (tx, tw, tb))
            F.conv2d(xg, wg, bg, padding=1).backward(tdy)

        passes = {
            "fwd": (flops,
                    lambda: ops.conv2d(x, w, b, padding=1, backend="cpu"), torch_forward,
                    lambda: reference.conv2d(x, w, b, padding=1)),
            "fwd+bwd": (3 * flops,
                        lambda: (ops.conv2d(x, w, b, padding=1, backend="cpu"),
                                 ops.conv2d_backward(x, w, dy, padding=1, backend="cpu")),
                        torch_step,
                        lambda: (reference.conv2d(x, w, b, padding=1),
                                 reference.conv2d_backward(x, w, dy, padding=1))),
        }
        for name, (work, kiln_fn, torch_fn, numpy_fn) in passes.items():
            t = interleaved({"kiln": kiln_fn, "torch": torch_fn}, args.rounds)
            t_numpy = interleaved({"kiln": kiln_fn, "numpy": numpy_fn}, args.numpy_rounds)
            kiln_ms = np.median(t["kiln"])
            print(f"{f'{n},{c},{h}->{k}':16s} {name:8s} {kiln_ms * 1e3:8.2f} {work / kiln_ms / 1e9:8.1f} "
                  f"{np.median(t['torch']) / kiln_ms:8.2f} {min(t['torch']) / min(t['kiln']):6.2f} "
                  f"{np.median(t_numpy['numpy']) / np.median(t_numpy['kiln']):8.2f}")


if __name__ == "__main__":
    main()
