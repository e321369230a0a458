"""The kernel demo: each kernel on the native and the NumPy path, their agreement and time.

``python -m kiln.demo`` prints one row per kernel.
Each case builds its inputs once, runs both backends, and compares them by relative
Frobenius error against the NumPy result computed in float64.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import ops
from .backends import available_backends, cpu_isa, get_num_threads
from .bench.timing import SETTLE_AFTER


@dataclass
class Case:
    kernel: str
    shape: str
    make_inputs: Callable[[np.random.Generator], dict]
    run: Callable[[dict, str], object]  # (inputs, backend) -> array or tuple of arrays


def _matmul_case(m, n, k):
    return Case("matmul", f"{m}x{k} @ {k}x{n}",
                lambda rng: {"a": rng.standard_normal((m, k), np.float32),
                             "b": rng.standard_normal((k, n), np.float32)},
                lambda x, backend: ops.matmul(x["a"], x["b"], backend=backend))


def _lstm_weights(rng, inputs, hidden):
    """w_ih, w_hh, b_ih, b_hh drawn as torch initialises them: uniform(-1/sqrt(H), 1/sqrt(H))."""
    scale = 1 / np.sqrt(hidden)
    draw = lambda *shape: rng.uniform(-scale, scale, shape).astype(np.float32)  # noqa: E731
    return {"w_ih": draw(4 * hidden, inputs), "w_hh": draw(4 * hidden, hidden),
            "b_ih": draw(4 * hidden), "b_hh": draw(4 * hidden)}


def _lstm_cell_case(batch, inputs, hidden):
    return Case("lstm_cell", f"B={batch} I={inputs} H={hidden}",
                lambda rng: {"x": rng.standard_normal((batch, inputs), np.float32),
                             "h": rng.standard_normal((batch, hidden), np.float32),
                             "c": rng.standard_normal((batch, hidden), np.float32),
                             **_lstm_weights(rng, inputs, hidden)},
                lambda x, backend: ops.lstm_cell(x["x"], x["h"], x["c"], x["w_ih"], x["w_hh"], x["b_ih"],
                                                 x["b_hh"], backend=backend))


def _lstm_sequence_forward_backward(x: dict, backend: str):
    y, h_n, c_n, gates, cells = ops.lstm_sequence(x["x"], x["w_ih"], x["w_hh"], x["b_ih"], x["b_hh"],
                                                  backend=backend)
    grads = ops.lstm_sequence_backward(x["grad_y"], None, None, x["x"], x["w_ih"], x["w_hh"], None, None,
                                       y, gates, cells, backend=backend)
    return (y, h_n, c_n, *grads)


def _lstm_sequence_case(steps, batch, inputs, hidden):
    return Case("lstm_sequence fwd+bwd", f"T={steps} B={batch} I={inputs} H={hidden}",
                lambda rng: {"x": rng.standard_normal((steps, batch, inputs), np.float32),
                             "grad_y": rng.standard_normal((steps, batch, hidden), np.float32),
                             **_lstm_weights(rng, inputs, hidden)},
                _lstm_sequence_forward_backward)
def _adam_inputs(rng, n):
    inputs = {"grad": rng.standard_normal(n, np.float32)}
    for name, scale in (("param", 1.0), ("exp_avg", 0.1), ("exp_avg_sq", 0.01)):
        inputs[name] = (scale * np.abs(rng.standard_normal(n))).astype(np.float32)
    return inputs


def _adam_run(x, backend):
    # adam_step updates in place: every run starts from copies of the same state, so
    # that repeated runs (and the two backends) agree.
    param, exp_avg, exp_avg_sq = (x[name].copy() for name in ("param", "exp_avg", "exp_avg_sq"))
    ops.adam_step(param, x["grad"], exp_avg, exp_avg_sq, step=10, lr=1e-3, weight_decay=0.01,
                  decoupled=True, backend=backend)
    return param, exp_avg, exp_avg_sq


CASES: list[Case] = [
    _matmul_case(64, 64, 64),
    _matmul_case(512, 512, 512),
    Case("matmul+bias+relu", "256x512 @ 512x1024",
         lambda rng: {"a": rng.standard_normal((256, 512), np.float32),
                      "b": rng.standard_normal((512, 1024), np.float32),
                      "bias": rng.standard_normal(1024, np.float32)},
         lambda x, backend: ops.matmul(x["a"], x["b"], bias=x["bias"], activation="relu", backend=backend)),
    _lstm_cell_case(64, 256, 1024),
    _lstm_sequence_case(20, 32, 128, 256),
    Case("adam_step", "1M params (+ state copy)", lambda rng: _adam_inputs(rng, 1 << 20), _adam_run),
    Case("embedding", "10000x128[4096]",
         lambda rng: {"indices": rng.integers(0, 10000, 4096),
                      "weight": rng.standard_normal((10000, 128), np.float32)},
         lambda x, backend: ops.embedding(x["indices"], x["weight"], backend=backend)),
    Case("softmax_cross_entropy", "256x1000 + grad",
         lambda rng: {"logits": rng.standard_normal((256, 1000), np.float32),
                      "target": rng.integers(0, 1000, 256)},
         lambda x, backend: ops.softmax_cross_entropy(x["logits"], x["target"], return_grad=True,
                                                      backend=backend)),
    Case("gelu", "1M",
         lambda rng: {"x": rng.standard_normal(1 << 20, np.float32)},
         lambda x, backend: ops.gelu(x["x"], backend=backend)),
]


def _conv2d_inputs(n, c, hw, k, rs):
    def make(rng):
        return {"x": rng.standard_normal((n, c, hw, hw), np.float32),
                "weight": rng.standard_normal((k, c, rs, rs), np.float32) / np.float32(np.sqrt(c * rs * rs)),
                "bias": rng.standard_normal(k, np.float32),
                "grad_y": rng.standard_normal((n, k, hw, hw), np.float32)}
    return make


CASES += [
    Case("conv2d", "32x32x28x28 * 64x32x3x3 pad 1", _conv2d_inputs(32, 32, 28, 64, 3),
         lambda x, backend: ops.conv2d(x["x"], x["weight"], x["bias"], padding=1, backend=backend)),
    Case("conv2d_backward", "8x32x28x28 * 64x32x3x3 pad 1", _conv2d_inputs(8, 32, 28, 64, 3),
         lambda x, backend: ops.conv2d_backward(x["x"], x["weight"], x["grad_y"], padding=1, backend=backend)),
    Case("max_pool2d", "32x64x28x28 2x2", lambda rng: {"x": rng.standard_normal((32, 64, 28, 28), np.float32)},
         lambda x, backend: ops.max_pool2d(x["x"], 2, backend=backend)),
]


def _as_float64(inputs: dict) -> dict:
    return {k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v
            for k, v in inputs.items()}


def _flatten(result) -> np.ndarray:
    parts = result if isinstance(result, tuple) else (result,)
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts if p is not None])


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    # NumPy's OpenBLAS threads spin for a while after a call; on a small machine they would
    # slow whatever runs next (see kiln.bench.timing).
    time.sleep(SETTLE_AFTER["numpy"])
    return float(np.median(times))


def run(repeats: int = 5, seed: int = 0) -> list[dict]:
    """Run every case; return one dict per row of the table."""
    native = [b for b in available_backends() if b != "numpy"]
    rows = []
    for case in CASES:
        inputs = case.make_inputs(np.random.default_rng(seed))
        expected = _flatten(case.run(_as_float64(inputs), "numpy"))
        row = {"kernel": case.kernel, "shape": case.shape}
        row["numpy_ms"] = 1e3 * _median_seconds(lambda: case.run(inputs, "numpy"), repeats)
        for backend in native:
            got = _flatten(case.run(inputs, backend))
            norm = np.linalg.norm(expected)
            row[f"{backend}_err"] = float(np.linalg.norm(got - expected) / (norm if norm else 1.0))
            row[f"{backend}_ms"] = 1e3 * _median_seconds(lambda: case.run(inputs, backend), repeats)
        rows.append(row)
    return rows


def main() -> None:
    native = [b for b in available_backends() if b != "numpy"]
    print(f"kiln kernels: native {', '.join(native) or 'none'} "
          f"(isa {cpu_isa() if native else '-'}, {get_num_threads()} threads) vs the NumPy reference")
    header = f"{'kernel':<24} {'shape':<30} {'numpy ms':>9}"
    for backend in native:
        header += f" {backend + ' ms':>9} {'speed-up':>8} {'rel err':>9}"
    print(header)
    print("-" * len(header))
    for row in run():
        line = f"{row['kernel']:<24} {row['shape']:<30} {row['numpy_ms']:>9.3f}"
        for backend in native:
            ms = row[f"{backend}_ms"]
            line += f" {ms:>9.3f} {row['numpy_ms'] / ms:>7.2f}x {row[f'{backend}_err']:>9.1e}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
