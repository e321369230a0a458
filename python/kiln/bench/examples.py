"""Run each kiln example and its PyTorch twin side by side; print a markdown table.

Every program in examples/ and examples/torch_twins/ ends its output with one line
``RESULT {"<metric>": value, ..., "train_seconds": s}`` (the first key is the headline
metric; ``epochs`` is there when early stopping decides the count). This script runs the
pairs as subprocesses, interleaved (kiln and torch take turns going first), with the
same seed, ``--repeats`` times, and reports the median metric and training time:

    python -m kiln.bench.examples --repeats 3
    python -m kiln.bench.examples --only digits_cnn sentiment_lstm --threads 2

``kiln/torch speed`` is torch's training time over kiln's (above 1: kiln is faster);
when a run reports its epoch count, time per epoch is compared instead. PyTorch is never
a kiln dependency: without ``import torch`` only the kiln examples run.

The thread count is fixed for both libraries (OMP_NUM_THREADS, default 1): on a small
machine whose cores are shared with other work, two threads that wait on each other at
every barrier turn a 1 s run into a 10 s one now and then, for torch and kiln alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

# the source tree: the examples are its programs, not the package's
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

EXAMPLES = ["tfidf_mlp", "breast_cancer_classifier", "regression_mlp", "next_word_lstm", "sentiment_lstm",
            "digits_cnn", "digits_mlp"]
BOOKKEEPING = {"train_seconds", "epochs"}


def command(library: str, name: str, seed: int, epochs: int | None) -> list[str]:
    folder = "examples" if library == "kiln" else os.path.join("examples", "torch_twins")
    args = [sys.executable, os.path.join(REPO, folder, f"{name}.py"), "--seed", str(seed)]
    return args + (["--epochs", str(epochs)] if epochs is not None else [])


def run(library: str, name: str, seed: int, epochs: int | None, threads: int, timeout: float) -> dict:
    """Run one program; return its RESULT dict, or {"error": ...}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(REPO, "python"), env.get("PYTHONPATH")]))
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    try:
        proc = subprocess.run(command(library, name, seed, epochs), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0]}"}
    return json.loads(lines[-1][len("RESULT "):])


def summarise(results: list[dict]) -> dict | None:
    """Median of each numeric field over the successful runs (None if all failed)."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return None
    return {key: statistics.median(r[key] for r in ok) for key in ok[0]}


def headline(result: dict) -> str:
    return next(key for key in result if key not in BOOKKEEPING)


def speed(kiln: dict | None, torch: dict | None) -> str:
    if not kiln or not torch:
        return "n/a"
    if "epochs" in kiln and "epochs" in torch:
        ratio = (torch["train_seconds"] / torch["epochs"]) / (kiln["train_seconds"] / kiln["epochs"])
        return f"{ratio:.2f}x per epoch"
    return f"{torch['train_seconds'] / kiln['train_seconds']:.2f}x"


def cell_seconds(result: dict | None, errors: list[str]) -> str:
    if result is None:
        return f"failed ({errors[0]})" if errors else "n/a"
    text = f"{result['train_seconds']:.2f}"
    return text + (f" ({result['epochs']:.0f} ep)" if "epochs" in result else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override every program's default")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS for both; 0 leaves it unset")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per program run")
    parser.add_argument("--only", nargs="+", choices=EXAMPLES, default=EXAMPLES)
    args = parser.parse_args()

    libraries = ["kiln", "torch"] if importlib.util.find_spec("torch") is not None else ["kiln"]
    if libraries == ["kiln"]:
        print("PyTorch is not installed: running the kiln examples only", file=sys.stderr)
    results = {(lib, name): [] for lib in libraries for name in args.only}
    for repeat in range(args.repeats):
        for name in args.only:
            order = libraries if repeat % 2 == 0 else libraries[::-1]
            for lib in order:
                start = time.perf_counter()
                result = run(lib, name, args.seed, args.epochs, args.threads, args.timeout)
                results[lib, name].append(result)
                print(f"[{repeat + 1}/{args.repeats}] {name:26s} {lib:5s} {time.perf_counter() - start:6.1f} s  "
                      f"{json.dumps(result)}", file=sys.stderr, flush=True)

    threads = f"{args.threads} thread(s)" if args.threads else "library default threads"
    print(f"\nMedian of {args.repeats} run(s), seed {args.seed}, {threads}; "
          "train s is the wall clock of the fit / training loop.\n")
    print("| example | kiln metric | torch metric | kiln train s | torch train s | kiln/torch speed |")
    print("|---|---|---|---|---|---|")
    for name in args.only:
        kiln = summarise(results["kiln", name])
        torch = summarise(results["torch", name]) if "torch" in libraries else None
        metric = headline(kiln or torch) if (kiln or torch) else "?"
        errors = {lib: [r["error"] for r in results.get((lib, name), []) if "error" in r] for lib in libraries}
        kiln_metric = f"{kiln[metric]:.4f}" if kiln else "failed"
        torch_metric = f"{torch[metric]:.4f}" if torch else ("failed" if "torch" in libraries else "n/a")
        print(f"| {name} ({metric}) | {kiln_metric} | {torch_metric} | {cell_seconds(kiln, errors['kiln'])} | "
              f"{cell_seconds(torch, errors.get('torch', []))} | {speed(kiln, torch)} |")


if __name__ == "__main__":
    main()
