"""Data-parallel scaling on this machine: one epoch of the digits CNN (examples/digits_cnn.py's
Keras model and fit) on 1 rank x 1 thread, 2 ranks x 1 thread and 1 rank x 2 threads, and the
share of the gradients' allreduce hidden behind the backward.

    python -m kiln.bench.distributed                 # needs mpi4py + mpiexec (pip install "kiln[mpi]")
    python -m kiln.bench.distributed --reps 7 --epochs 5

Every configuration runs as its own program (``mpiexec -n 2`` for two ranks), the
configurations taking turns, one run each per repetition, in a rotating order; a run trains one
untimed epoch, then ``--epochs`` timed ones, and reports its median epoch. The table gives the
median over repetitions, the speed-ups, and ``uptime``'s load before and after (a shared
machine makes every figure noisier; the ratios of interleaved runs less so).

A sixth configuration, 1 rank at batch 16, is one rank's share of the global-32 runs without
any communication: half its epoch is the ceiling those runs could reach.

Two batchings for the 2 ranks: "global 32" keeps the example's batch of 32 (each rank computes
16 rows of it: the same training as one process, strong scaling), "32 per rank" gives each rank
32 rows (global 64: half the steps per epoch, as data-parallel training is usually run).

Overlap: each 2-rank run also reports, per step, the time the backward's end waited for the
reductions still in flight (``GradientReducer.wait_seconds``), and the time a blocking
``Allreduce`` of the same gradient bytes takes alone; hidden = 1 - wait / blocking. The CNN's
gradients (~145 KB) fit one default 25 MB bucket, which can only start when the backward is
over (nothing to hide): the timed configurations use it. One more 2-rank configuration splits
them into ``--bucket-kb`` buckets (16 KB: 5 buckets), so the last layers' buckets start while
the first layers' gradients are computed, and reports how much of the reduction that hides.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

DEFAULT_BUCKET_KB = 25 * 1024
CONFIGS = [  # name, ranks, threads per rank, global batch, bucket KB (None: --bucket-kb)
    ("1 rank x 1 thread", 1, 1, 32, DEFAULT_BUCKET_KB),
    ("2 ranks x 1 thread, global 32", 2, 1, 32, DEFAULT_BUCKET_KB),
    ("1 rank x 2 threads", 1, 2, 32, DEFAULT_BUCKET_KB),
    ("2 ranks x 1 thread, 32 per rank", 2, 1, 64, DEFAULT_BUCKET_KB),
    ("2 ranks x 1 thread, global 32, small buckets", 2, 1, 32, None),
    ("1 rank x 1 thread, batch 16", 1, 1, 16, DEFAULT_BUCKET_KB),
]


def _worker(args) -> None:
    from .. import distributed, get_num_threads, keras
    from .models import digits, digits_cnn_keras

    distributed.BUCKET_BYTES = int(args.bucket_kb * 1024)
    distributed.init(verbose=False)
    keras.utils.set_random_seed(0)
    images, labels = digits(None)
    x = images.reshape(-1, 8, 8, 1)
    model = digits_cnn_keras(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for epoch in range(args.epochs + 1):
        distributed.barrier()
        start = time.perf_counter()
        model.fit(x, y=labels, batch_size=args.batch, epochs=1, verbose=0)
        distributed.barrier()
        times.append(time.perf_counter() - start)
    result = {"epoch_s": float(np.median(times[1:])), "threads": get_num_threads()}
    if distributed.world_size() > 1:
        from ..keras.distributed import last_fit_stats as stats
        MPI, comm = distributed._world.MPI, distributed._world.comm
        buf = np.zeros(stats["reduced_bytes"] // 4, np.float32)
        blocking = []
        for _ in range(200):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            blocking.append(time.perf_counter() - t)
        # the link's bandwidth in the cost model's terms: 2(N-1)/N x bytes moved per rank / time
        big, n = np.zeros(2 * 1024 * 1024, np.float32), distributed.world_size()
        large = []
        for _ in range(10):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, big, op=MPI.SUM)
            large.append(time.perf_counter() - t)
        result.update(wait_s=stats["wait_seconds"] / stats["steps"], blocking_s=float(np.median(blocking)),
                      grad_bytes=stats["reduced_bytes"], buckets=stats["buckets"],
                      bus_gbs=2 * (n - 1) / n * big.nbytes / float(np.median(large)) / 1e9)
    if distributed.rank() == 0:
        print("BENCH " + json.dumps(result), flush=True)


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(no uptime)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kiln.bench.distributed", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs of each configuration, interleaved")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per run (after one untimed)")
    parser.add_argument("--bucket-kb", type=float, default=16, help="the small buckets' size")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                            os.environ.get("PATH", "")]))
    if mpiexec is None:
        raise SystemExit("kiln.bench.distributed: no mpiexec (pip install \"kiln[mpi]\")")
    print(f"load before: {_uptime()}")
    results: dict[str, list[dict]] = {name: [] for name, *_ in CONFIGS}
    for rep in range(args.reps):
        order = CONFIGS[rep % len(CONFIGS):] + CONFIGS[:rep % len(CONFIGS)]
        for name, ranks, threads, batch, bucket_kb in order:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            command = [sys.executable, "-m", "kiln.bench.distributed", "--worker", "--epochs", str(args.epochs),
                       "--batch", str(batch), "--bucket-kb", str(args.bucket_kb if bucket_kb is None else bucket_kb)]
            if ranks > 1:
                command = [mpiexec, "-n", str(ranks)] + command
            run = subprocess.run(command, capture_output=True, text=True, env=env)
            line = next((ln for ln in run.stdout.splitlines() if ln.startswith("BENCH ")), None)
            if run.returncode != 0 or line is None:
                raise SystemExit(f"{name}: failed\n{run.stdout}\n{run.stderr}")
            results[name].append(json.loads(line[6:]))
            print(f"  rep {rep + 1} {name}: {results[name][-1]['epoch_s'] * 1e3:.0f} ms/epoch", flush=True)
    print(f"load after:  {_uptime()}")
    median = {name: float(np.median([r["epoch_s"] for r in rs])) for name, rs in results.items()}
    base = median["1 rank x 1 thread"]
    print(f"\ndigits CNN, one epoch (1437 images), median of {args.reps} interleaved runs x {args.epochs} epochs")
    for name in median:
        print(f"  {name:34s} {median[name] * 1e3:7.0f} ms   speed-up vs 1x1 {base / median[name]:.2f}x")
    two = median["2 ranks x 1 thread, global 32"]
    print(f"  2 ranks x 1 thread (global 32) vs 1 rank x 2 threads: {median['1 rank x 2 threads'] / two:.2f}x")
    # Each of 2 ranks at global batch 32 computes 45 steps of 16 rows: half the batch-16 epoch's 90.
    share = median["1 rank x 1 thread, batch 16"] / 2
    print(f"  ceiling of 2 ranks at global 32 without communication: one rank's share (45 steps of 16 rows) "
          f"takes {share * 1e3:.0f} ms alone: at most {base / share:.2f}x; communication and waiting add "
          f"{(two - share) * 1e3:.0f} ms per epoch")
    for name, rs in results.items():
        if "wait_s" in rs[0]:
            wait = float(np.median([r["wait_s"] for r in rs]))
            blocking = float(np.median([r["blocking_s"] for r in rs]))
            hidden = max(0.0, 1.0 - wait / blocking) if blocking > 0 else 0.0
            print(f"  overlap, {name}: {rs[0]['grad_bytes']} gradient bytes in {rs[0]['buckets']} buckets; "
                  f"blocking allreduce {blocking * 1e6:.0f} us, waited at the backward's end {wait * 1e6:.0f} us "
                  f"per step: {hidden:.0%} hidden; 8 MB allreduce: "
                  f"{float(np.median([r['bus_gbs'] for r in rs])):.2f} GB/s (2(N-1)/N x bytes / time)")


if __name__ == "__main__":
    main()
