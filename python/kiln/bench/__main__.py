"""python -m kiln.bench: every case of issue 4, a table per kernel, JSON and a chart.

NumPy is measured at its best: OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE once,
when it loads, and either can pin it to slower kernels. ``python -m kiln.bench`` imports
the kiln package, and with it NumPy, before this module runs, so when either is set the
command re-executes itself without them (and says so) before anything is measured.
"""

from __future__ import annotations

import os
import sys

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARK = "KILN_BENCH_UNSET_OPENBLAS"


def _reexec_without_openblas_variables() -> None:
    present = [name for name in OPENBLAS_VARIABLES if name in os.environ]
    if not present:
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARIABLES}
    env[_UNSET_MARK] = " ".join(f"{name}={os.environ[name]}" for name in present)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "kiln.bench", *sys.argv[1:]], env)


if __name__ == "__main__":
    _reexec_without_openblas_variables()

import argparse  # noqa: E402  (after the re-exec: nothing below runs twice)
import json  # noqa: E402
import time  # noqa: E402
from itertools import groupby  # noqa: E402

from .. import set_num_threads  # noqa: E402
from ..backends import available_backends, get_num_threads  # noqa: E402
from . import all_cases, machine, report, select  # noqa: E402
from .run import measure  # noqa: E402


def _openblas_line() -> str:
    unset = os.environ.get(_UNSET_MARK)
    if unset:
        return (f"OpenBLAS: unset {unset} for this run (re-executed before OpenBLAS loaded), "
                "so NumPy picks its own kernels")
    still = [name for name in OPENBLAS_VARIABLES if name in os.environ]
    if still:  # only when called as a function, not as python -m kiln.bench
        return f"OpenBLAS: WARNING {', '.join(still)} set: NumPy may not run at its best"
    return "OpenBLAS: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE not set, NumPy picks its own kernels"


def _match_threads(threads: int, torch) -> str:
    """kiln, torch and NumPy's BLAS on the same thread count."""
    if threads:
        set_num_threads(threads)
    threads = get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads, user_api="blas")
        blas = f"NumPy BLAS {threads}"
    except ImportError:
        blas = "NumPy BLAS its default (threadpoolctl not importable)"
    return f"threads: kiln {threads}, torch {torch.get_num_threads() if torch else '-'}, {blas}"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m kiln.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions: about a minute on 2 cores")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, for checking the bench itself")
    parser.add_argument("--only", nargs="+", metavar="KERNEL",
                        help="cases whose kernel name starts with one of these (matmul, conv2d, lstm, ...)")
    parser.add_argument("--threads", type=int, default=0, help="kiln/torch/BLAS threads (0: kiln's default)")
    parser.add_argument("--budget", type=float, default=None, help="seconds of timed runs per case")
    parser.add_argument("--json", default=os.path.join("bench", "results", "latest.json"))
    parser.add_argument("--png", default=os.path.join("bench", "results", "latest.png"),
                        help="chart path; empty for none")
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="cpu",
                        help="cpu: the CPU tables (default); cuda: the CPU-vs-GPU cases; all: both")
    args = parser.parse_args(argv)
    if args.device != "cpu":
        from .. import cuda
        if not cuda.is_available():
            parser.error("--device cuda: kiln has no cuda device (build with KILN_CUDA=ON, or EMULATE)")
        if cuda.is_emulated():
            print("NOTE: the cuda device is kiln's EMULATED device: its cases run on tiny shapes and their "
                  "times measure the emulator on this CPU, never a GPU\n")
    budget = args.budget if args.budget is not None else (0.05 if args.tiny else 1.0 if args.quick else 5.0)
    min_reps = 1 if args.tiny else 2 if args.quick else 3

    started = time.perf_counter()
    torch = machine.torch_module()
    if "cpu" not in available_backends():
        print("kiln's native module is not built: the kiln rows are empty", file=sys.stderr)
    threads_line = _match_threads(args.threads, torch)
    info = machine.describe(torch)
    print(f"machine: {info['cpu']} ({info['logical_cpus']} logical CPUs); kiln ISA {info['kiln_isa']}; "
          f"{threads_line}")
    print(_openblas_line())
    blas = info["blas"]
    print("NumPy BLAS: " + (f"{blas.get('internal_api')} {blas.get('version')}, architecture "
                            f"{blas.get('architecture')}, {blas.get('num_threads')} threads"
                            if "note" not in blas else blas["note"]))
    print(f"torch: {info.get('torch', 'not importable: torch rows left out')}")
    peaks = {"flops": machine.flop_peak(256 if args.tiny else 1024 if args.quick else 2048),
             "bandwidth": machine.bandwidth_peak(8 if args.tiny else 128 if args.quick else 256, torch)}
    print(f"FLOP peak {peaks['flops']['flops_per_s'] / 1e9:.1f} GFLOP/s ({peaks['flops']['probe']})")
    print(f"bandwidth peak {peaks['bandwidth']['bytes_per_s'] / 1e9:.1f} GB/s ({peaks['bandwidth']['probe']})")
    print("times are medians of interleaved repetitions (backends take turns, first call untimed); "
          "ratios are other's time / kiln's (above 1: kiln is faster)\n", flush=True)

    cases, notes = all_cases(tiny=args.tiny) if args.device != "cuda" else ([], [])
    if args.only:
        cases = select(cases, args.only)
    records = []
    for kernel, group in groupby(cases, key=lambda c: c.kernel):
        kernel_records = [measure(case, peaks, budget_s=budget, min_reps=min_reps) for case in group]
        records += kernel_records
        print("\n".join(report.kernel_table(kernel_records)) + "\n", flush=True)
    for note in notes:
        print(f"note: {note}")
    device_records = []
    if args.device != "cpu":
        from .. import cuda
        from .devices import device_cases
        gpu_cases = device_cases(tiny=args.tiny or cuda.is_emulated())
        if args.only:
            gpu_cases = select(gpu_cases, args.only) or select(gpu_cases, [f"gpu {p}" for p in args.only])
        print(f"cuda device: {cuda.get_device_name()}" + (" (emulated)" if cuda.is_emulated() else ""))
        device_records = [measure(case, peaks, budget_s=budget, min_reps=min_reps) for case in gpu_cases]
        print("\n".join(report.device_table(device_records)) + "\n", flush=True)
        records += device_records

    print("Issue-4 targets (kiln's row of each case):\n")
    print("\n".join(report.summary_table(records)))
    elapsed = time.perf_counter() - started
    print(f"\n{len(records)} cases in {elapsed:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": info, "openblas": _openblas_line(), "threads": threads_line, "peaks": peaks,
                       "budget_s_per_case": budget, "seconds": elapsed, "notes": notes, "cases": records},
                      f, indent=1)
        print(f"results saved to {args.json}")
    if args.png:
        os.makedirs(os.path.dirname(os.path.abspath(args.png)), exist_ok=True)
        if len(records) > len(device_records):
            print(report.plot([r for r in records if r["base"] == "cpu"], args.png))
        if device_records:
            from .. import cuda
            root, ext = os.path.splitext(args.png)
            print(report.device_chart(device_records, f"{root}-devices{ext or '.png'}", cuda.is_emulated()))
    return records


if __name__ == "__main__":
    main()
