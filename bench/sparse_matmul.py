"""sparse_matmul on a TF-IDF-like batch against the dense products users write.

A (m, k) batch at the given density (random positions, SciPy's ``sparse.random``) times a
(k, n) weight, forward and weight gradient (X^T @ dY):

    kiln       kiln.ops.sparse_matmul(X, W)          / sparse_matmul_backward_weight(X, dY)
    numpy      X.toarray() @ W                       / X.toarray().T @ dY   (OpenBLAS)
    torch      torch.from_numpy(X.toarray()) @ W     / ... .T @ dY          (when importable)
    scipy      X @ W                                  / X.T @ dY

Candidates take turns inside each repeat (so a busy neighbour slows them alike), each after
a pause that lets the previous one's worker threads go to sleep; the table gives median
times and each one's ratio to kiln. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are
unset before NumPy loads, so OpenBLAS picks its best kernels here, and every library
gets --threads threads.

    PYTHONPATH=python python bench/sparse_matmul.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--k", type=int, default=28000)
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds between runs: OpenBLAS's and torch's idle threads spin that long "
                             "after a product, taking the cores from whatever runs next")
    return parser.parse_args()


# Before NumPy loads: OpenBLAS at its best kernels, and with the same thread count as the
# others (its default, one thread per core, stalls on a busy machine).
for _name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_name, None)
os.environ["OPENBLAS_NUM_THREADS"] = str(arguments().threads)

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402

import kiln  # noqa: E402
from kiln import ops  # noqa: E402


def candidates(x, w, grad_y):
    out = np.empty((x.shape[0], w.shape[1]), np.float32)
    grad_w = np.empty(w.shape, np.float32)
    forward = {"kiln": lambda: ops.sparse_matmul(x, w, out=out, backend="cpu"),
               "numpy": lambda: x.toarray() @ w,
               "scipy": lambda: x @ w}
    backward = {"kiln": lambda: ops.sparse_matmul_backward_weight(x, grad_y, out=grad_w, backend="cpu"),
                "numpy": lambda: x.toarray().T @ grad_y,
                "scipy": lambda: x.T @ grad_y}
    try:
        import torch
    except ImportError:
        return forward, backward
    w_t, grad_y_t = torch.from_numpy(w), torch.from_numpy(grad_y)
    forward["torch"] = lambda: torch.from_numpy(x.toarray()) @ w_t
    backward["torch"] = lambda: torch.from_numpy(x.toarray()).T @ grad_y_t
    return forward, backward


def main() -> None:
    args = arguments()

    kiln.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    x = scipy.sparse.random(args.m, args.k, density=args.density, format="csr", dtype=np.float32,
                            random_state=rng)
    w = rng.standard_normal((args.k, args.n), dtype=np.float32)
    grad_y = rng.standard_normal((args.m, args.n), dtype=np.float32)
    print(f"X ({args.m}, {args.k}) with {x.nnz} entries ({args.density:.2%}) @ W ({args.k}, {args.n}); "
          f"{args.threads} thread(s), median of {args.repeats}\n")
    print("| pass | candidate | time (us) | time / kiln |")
    print("|---|---|---|---|")
    for label, group in zip(("forward", "weight gradient"), candidates(x, w, grad_y)):
        times = {name: [] for name in group}
        for fn in group.values():
            fn()  # warm-up
        for _ in range(args.repeats):
            for name, fn in group.items():
                time.sleep(args.pause)
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, t in medians.items():
            print(f"| {label} | {name} | {t * 1e6:.0f} | {t / medians['kiln']:.1f}x |")


if __name__ == "__main__":
    main()
