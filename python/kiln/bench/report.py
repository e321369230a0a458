"""The printed tables (one per kernel, then the issue-4 summary) and the PNG chart."""

from __future__ import annotations

import textwrap

from .case import KILN
from .run import verdict

BACKEND_ORDER = ["numpy", "scipy", KILN, "torch"]


def _rate(record: dict, row: dict) -> str:
    if record["bound"] == "flops":
        return f"{row['gflops']:8.3g} GFLOP/s"
    if record["bound"] == "bandwidth":
        return f"{row['gbytes_per_s']:8.3g} GB/s   "
    return f"{'-':>16}"


def _target_text(target: dict) -> str:
    value = target["value"]
    if target["against"] in ("numpy", "torch"):
        shown = "-" if value is None else f"{value:.2f}x"
    else:
        shown = "-" if value is None else f"{value:.0%}"
    return f"{target['label']}: {shown} {verdict(target)}"


def kernel_table(records: list[dict]) -> list[str]:
    """Lines of one kernel's table (all records share the kernel)."""
    lines = [f"== {records[0]['kernel']} ==",
             f"{'shape':<44} {'backend':<7} {'median ms':>10} {'rate':>16} {'% peak':>7} {'err/numpy':>9} "
             f"{'vs numpy':>8} {'vs torch':>8}  targets (kiln)"]
    for record in records:
        backends = [b for b in BACKEND_ORDER if b in record["results"]]
        extra = [b for b in record["results"] if b not in BACKEND_ORDER]  # more kiln rows ("cpu ops")
        at = backends.index("torch") if "torch" in backends else len(backends)
        backends[at:at] = extra
        if not record["kiln_built"]:
            backends.insert(backends.index("torch") if "torch" in backends else len(backends), KILN)
        for i, backend in enumerate(backends):
            shape = record["shape"] if i == 0 else ""
            row = record["results"].get(backend)
            if row is None:
                lines.append(f"{shape:<44} {backend:<7} {'not built':>10}")
                continue
            peak = f"{row['peak_fraction']:7.0%}" if "peak_fraction" in row else f"{'-':>7}"
            err = f"{row['rel_error_vs_numpy']:9.1e}" if "rel_error_vs_numpy" in row else f"{'-':>9}"
            line = f"{shape:<44} {backend:<7} {1e3 * row['median_s']:10.3f} {_rate(record, row)} {peak} {err}"
            if backend == KILN:
                ratios = record["ratios"]
                line += "".join(f" {ratios[o]:7.2f}x" if o in ratios else f" {'-':>8}" for o in ("numpy", "torch"))
                line += "  " + "; ".join(_target_text(t) for t in record["targets"])
            lines.append(line.rstrip())
        if record["backends_agree"] is False:
            lines.append(f"{'':<44} WARNING: backends disagree beyond {record['tolerance']:.1e} (see err/numpy)")
        for note in record["notes"]:
            lines.append(f"{'':<44} note: {note}")
        if record["extra"]:
            lines.append(f"{'':<44} kiln: " + ", ".join(
                f"{k} {v:.0%}" if k.startswith("outside") else f"{k} {v:.3g}" for k, v in record["extra"].items()))
    return lines


def summary_table(records: list[dict]) -> list[str]:
    """The issue-4 target table: one row per case with a target, markdown."""
    lines = ["| case | kiln ms | vs NumPy | vs PyTorch | other | verdict |", "|---|---|---|---|---|---|"]
    for record in records:
        if not record["targets"]:
            continue
        kiln = record["results"].get(record.get("base", KILN))
        cells = {"numpy": "", "torch": "", "other": []}
        for target in record["targets"]:
            text = _target_text(target)
            if target["against"] in ("numpy", "torch"):
                cells[target["against"]] = text
            else:
                cells["other"].append(text)
        verdicts = [verdict(t) for t in record["targets"]]
        overall = "MISS" if "MISS" in verdicts else ("PASS" if all(v == "PASS" for v in verdicts) else "n/a")
        ms = f"{1e3 * kiln['median_s']:.3f}" if kiln else "not built"
        lines.append(f"| {record['kernel']} {record['shape']} | {ms} | {cells['numpy']} | {cells['torch']} | "
                     f"{'; '.join(cells['other'])} | {overall} |")
    return lines


def _chart_label(record: dict, width: int = 44) -> str:
    """A case's name in at most two lines of `width` characters (the long training names cut)."""
    lines = textwrap.wrap(f"{record['kernel']} {record['shape']}", width)
    if len(lines) > 2:
        lines = [lines[0], lines[1][: width - 3] + "..."]
    return "\n".join(lines)


def plot(records: list[dict], path: str) -> str:
    """Horizontal bars of kiln's speed-ups (vs NumPy, vs PyTorch), one row per case with its
    name beside it, each bar's value at its end and the targets as black ticks: with the
    names under vertical bars, two dozen cases left the plot no room."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not importable: no chart (pip install 'kiln[bench]')"
    rows = [r for r in records if r["ratios"].keys() & {"numpy", "torch"}]
    if not rows:
        return "no kiln speed-ups to chart"
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.42 * len(rows)))
    height = 0.38
    for offset, other, color in ((-height / 2, "numpy", "tab:blue"), (height / 2, "torch", "tab:orange")):
        ys = [i + offset for i, r in enumerate(rows) if other in r["ratios"]]
        xs = [r["ratios"][other] for r in rows if other in r["ratios"]]
        ax.barh(ys, xs, height, color=color, label=f"kiln speed-up vs {other}")
        for y, x in zip(ys, xs):
            ax.text(x * 1.04, y, f"{x:.2f}x", va="center", fontsize=6)
        for i, r in enumerate(rows):
            for t in r["targets"]:
                if t["against"] == other and t["at_least"] is not None:
                    ax.plot([t["at_least"]] * 2, [i + offset - height / 2, i + offset + height / 2],
                            color="black", lw=2)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_chart_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()  # the tables' order, top to bottom
    ax.set_xlabel("speed-up (time of other / time of kiln), log scale; right of the dashed line: kiln faster")
    ax.set_title("kiln vs NumPy and PyTorch; black ticks: the targets")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"chart saved to {path}"


# ---- CPU versus GPU (python -m kiln.bench --device cuda|all) -----------------------------------

DEVICE_ORDER = [KILN, "torch", "cuda", "torch-cuda"]


def device_table(records: list[dict]) -> list[str]:
    """One table of the GPU cases: every backend's time and rate, and the ratios to kiln-cuda."""
    lines = ["== CPU vs GPU (ratios: other's time / kiln cuda's; above 1: kiln cuda is faster) ==",
             f"{'case':<44} {'backend':<10} {'median ms':>10} {'rate':>16} {'vs kiln cuda':>12}  targets"]
    for record in records:
        backends = [b for b in DEVICE_ORDER if b in record["results"]]
        for i, backend in enumerate(backends):
            row = record["results"][backend]
            name = f"{record['kernel']} {record['shape']}" if i == 0 else ""
            ratio = record["ratios"].get(backend)
            line = (f"{name:<44} {backend:<10} {1e3 * row['median_s']:10.3f} {_rate(record, row)} "
                    + (f"{ratio:11.2f}x" if ratio is not None else f"{'(base)':>12}"))
            if backend == record["base"]:
                line += "  " + "; ".join(_target_text(t) for t in record["targets"])
            lines.append(line.rstrip())
        if record["backends_agree"] is False:
            lines.append(f"{'':<44} WARNING: backends disagree beyond {record['tolerance']:.1e}")
        for note in record["notes"]:
            lines.append(f"{'':<44} note: {note}")
    return lines


def device_chart(records: list[dict], path: str, emulated: bool) -> str:
    """Grouped bars: each case's rate (GFLOP/s or GB/s) per backend, CPU and GPU side by side."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not importable: no chart (pip install 'kiln[bench]')"
    if not records:
        return "no GPU cases to chart"
    colors = {KILN: "tab:blue", "torch": "tab:orange", "cuda": "tab:green", "torch-cuda": "tab:red"}
    labels = {KILN: "kiln cpu", "torch": "PyTorch cpu", "cuda": "kiln cuda", "torch-cuda": "PyTorch cuda"}
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(records)), 5.5))
    width = 0.2
    for j, backend in enumerate(DEVICE_ORDER):
        xs, ys = [], []
        for i, record in enumerate(records):
            row = record["results"].get(backend)
            if row is not None:
                xs.append(i + (j - 1.5) * width)
                ys.append(row.get("gflops", row.get("gbytes_per_s", 0.0)))
        if xs:
            ax.bar(xs, ys, width, color=colors[backend], label=labels[backend])
    ax.set_yscale("log")
    ax.set_xticks(range(len(records)))
    ax.set_xticklabels([f"{r['kernel']}\n{r['shape']}\n({'GB/s' if r['bound'] == 'bandwidth' else 'GFLOP/s'})"
                        for r in records], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("rate, log scale (higher is faster)")
    title = "kiln CPU vs GPU, and PyTorch on each"
    ax.set_title(title + (" - EMULATED device: its times mean nothing" if emulated else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"CPU-vs-GPU chart saved to {path}"
