"""Run the battery: every program on kiln and on its original library, side by side.

For each program (in turn, kiln then the original, same --seed, same data, same epochs) it
starts a fresh interpreter, reads the program's ``RESULT {...}`` line, and writes a markdown
table of the final metric and the training loop's wall time to examples/battery/RESULTS.md.

    PYTHONPATH=python python examples/battery/run.py                # all programs kiln can run
    PYTHONPATH=python python examples/battery/run.py mnist vae      # some
    python examples/battery/run.py --quick                          # the short runs

The originals run with ``--torch-python`` (default: this interpreter, which must have torch)
and ``--keras-python`` (default /work/venv-keras/bin/python, Keras 3; KERAS_BACKEND=torch).
Programs listed in NEEDS are skipped (with the reason) until kiln has what they need;
``--all`` runs them anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# program -> the idiom it is written in ("torch" or "keras"): its --lib choices are kiln|<idiom>
PROGRAMS = {
    "mnist": "torch",
    "mnist_rnn": "torch",
    "vae": "torch",
    "regression": "torch",
    "word_language_model": "torch",
    "time_sequence_prediction": "torch",
    "quickstart": "torch",
    "nn_tutorial": "torch",
    "char_rnn_classification": "torch",
    "mnist_convnet": "keras",
    "functional_api": "keras",
    "training_evaluation": "keras",
    "imbalanced_classification": "keras",
    "imdb_bidirectional_lstm": "keras",
    "timeseries_classification": "keras",
    "autoencoder": "keras",
}

# what kiln lacks for a program (features under way on other branches, or reported gaps)
NEEDS = {
}

# extra arguments for both libraries' runs
EXTRA_ARGS = {"quickstart": ["--cpu"]}

# the least a --quick run must reach on kiln (chance is 0.1 for ten digits): the test's floor
QUICK_FLOOR = {"mnist": 0.3, "quickstart": 0.2, "mnist_convnet": 0.2, "functional_api": 0.25,
               "training_evaluation": 0.25, "char_rnn_classification": 0.4}

# metrics where lower is better (the ratio column is still time: kiln / original)
LOWER_IS_BETTER = {"test loss", "batches", "test perplexity", "test mse", "denoise test loss"}


def source_of(name: str) -> str:
    """The 'Source:' line of the program's docstring."""
    with open(os.path.join(HERE, name + ".py")) as f:
        for line in f:
            if line.startswith("Source:"):
                return line.split(":", 1)[1].strip()
    return "?"


def run_one(name: str, lib: str, args) -> dict:
    """One program on one library in a fresh interpreter; its RESULT plus the process's wall time."""
    env = dict(os.environ)
    if lib == "kiln":
        python = args.kiln_python
        env["PYTHONPATH"] = os.path.join(REPO, "python") + os.pathsep + env.get("PYTHONPATH", "")
    elif lib == "torch":
        python = args.torch_python
        env.pop("PYTHONPATH", None)
    else:
        python = args.keras_python
        env.pop("PYTHONPATH", None)
        env["KERAS_BACKEND"] = "torch"
    command = [python, os.path.join(HERE, name + ".py"), "--lib", lib, "--seed", str(args.seed)]
    command += EXTRA_ARGS.get(name, []) + (["--quick"] if args.quick else [])
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=HERE, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    wall = time.perf_counter() - start
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return {**json.loads(line[len("RESULT "):]), "wall_seconds": round(wall, 2)}
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {done.returncode}: {tail[0][:200]}"}


def _cell(result: dict) -> tuple[str, str]:
    if "error" in result:
        return "error: " + result["error"].replace("|", "/"), "-"
    return f"{result['value']:.4g}", f"{result['train_seconds']:.2f} s"


def table(rows: list[tuple[str, dict, str, dict]]) -> str:
    lines = ["| program | source | metric | kiln | kiln time | original | original time | time ratio (kiln/original) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, kiln, lib, original in rows:
        metric = kiln.get("metric") or original.get("metric") or "?"
        if metric in LOWER_IS_BETTER:
            metric += " (lower is better)"
        ratio = "-"
        if "error" not in kiln and "error" not in original and original["train_seconds"] > 0:
            ratio = f"{kiln['train_seconds'] / original['train_seconds']:.2f}"
        k_value, k_time = _cell(kiln)
        o_value, o_time = _cell(original)
        lines.append(f"| {name} | {source_of(name)} | {metric} | {k_value} | {k_time} | {o_value} ({lib}) | "
                     f"{o_time} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("programs", nargs="*", help="a subset of the programs (default: all)")
    parser.add_argument("--quick", action="store_true", help="the short runs")
    parser.add_argument("--all", action="store_true", help="run the programs in NEEDS too")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--kiln-python", default=sys.executable)
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--keras-python", default="/work/venv-keras/bin/python")
    parser.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = parser.parse_args(argv)
    names = args.programs or list(PROGRAMS)
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown:
        parser.error(f"unknown programs {unknown}; known: {', '.join(PROGRAMS)}")
    rows, skipped = [], []
    for name in names:
        if name in NEEDS and not args.all:
            skipped.append((name, NEEDS[name]))
            print(f"{name}: skipped, needs {NEEDS[name]}", flush=True)
            continue
        lib = PROGRAMS[name]
        kiln = run_one(name, "kiln", args)
        original = run_one(name, lib, args)
        print(f"{name}: kiln {kiln}\n{' ' * len(name)}  {lib} {original}", flush=True)
        rows.append((name, kiln, lib, original))
    command = "python examples/battery/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = ["# The battery: programs from the PyTorch and Keras projects, on kiln and on the original", "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command.strip()}` "
            f"(seed {args.seed}{', --quick' if args.quick else ''}). Times are the training loop's wall "
            "clock as each program measures it, kiln and the original run one after the other per "
            "program on the same machine; torch 2.13 CPU, Keras 3 on its torch backend.", "",
            table(rows), ""]
    if skipped:
        text += ["Skipped until kiln has what they need:", ""]
        text += [f"- `{name}`: {why}" for name, why in skipped]
        text.append("")
    with open(args.output, "w") as f:
        f.write("\n".join(text))
    print("\n".join(text))
    return 0 if all("error" not in k and "error" not in o for _, k, _, o in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
