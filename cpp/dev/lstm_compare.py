"""Side-by-side LSTM timings, 2 threads, interleaved, medians: kiln (cpu) vs the NumPy
reference vs torch (when importable). Cell: B=64 I=256 H=1024 forward. Sequence: the same
sizes over T=50 steps (env T=...), forward + backward from grad_y.

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python python3 cpp/dev/lstm_compare.py [cell|seq|both]
"""
import os
import sys
import time

import numpy as np
import kiln
from kiln import ops, reference
kiln.set_num_threads(2)
try:
    import torch
    torch.set_num_threads(2)
except ImportError:
    torch = None

B, I, H, T = 64, 256, 1024, int(os.environ.get("T", 50))
rng = np.random.default_rng(0)
f = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)
x, h, c = f(B, I), f(B, H), f(B, H)
w_ih, w_hh, b_ih, b_hh = f(4 * H, I), f(4 * H, H), f(4 * H), f(4 * H)
xs = f(T, B, I)
gy = f(T, B, H)

def cell_kiln(): ops.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, backend="cpu")
def cell_np(): reference.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
def seq_kiln():
    y, hn, cn, g, cl = ops.lstm_sequence(xs, w_ih, w_hh, b_ih, b_hh, h, c, backend="cpu")
    ops.lstm_sequence_backward(gy, None, None, xs, w_ih, w_hh, h, c, y, g, cl, backend="cpu")
def seq_np():
    y, hn, cn, g, cl = reference.lstm_sequence(xs, w_ih, w_hh, b_ih, b_hh, h, c)
    reference.lstm_sequence_backward(gy, None, None, xs, w_ih, w_hh, h, c, y, g, cl)
cands = {"cell kiln": cell_kiln, "cell numpy": cell_np}
if torch is not None:
    tc = torch.nn.LSTMCell(I, H)
    tx, th, tcc = map(torch.from_numpy, (x, h, c))
    def cell_torch():
        with torch.no_grad(): tc(tx, (th, tcc))
    cands["cell torch"] = cell_torch
seqc = {"seq kiln": seq_kiln, "seq numpy": seq_np}
if torch is not None:
    tl = torch.nn.LSTM(I, H)
    txs = torch.from_numpy(xs).requires_grad_(True)
    th0, tc0, tgy = torch.from_numpy(h[None].copy()), torch.from_numpy(c[None].copy()), torch.from_numpy(gy)
    def seq_torch():
        y, _ = tl(txs, (th0, tc0)); y.backward(tgy)
    seqc["seq torch"] = seq_torch
which = sys.argv[1] if len(sys.argv) > 1 else "both"
groups = []
if which in ("cell", "both"): groups.append((cands, 30))
if which in ("seq", "both"): groups.append((seqc, 5))
for g, reps in groups:
    ts = {k: [] for k in g}
    for fn in g.values(): fn()
    for r in range(reps):
        for k, fn in g.items():
            t0 = time.perf_counter(); fn(); ts[k].append(time.perf_counter() - t0)
    med = {k: np.median(v) * 1e3 for k, v in ts.items()}
    base = [k for k in med if "kiln" in k][0]
    for k, v in med.items():
        print(f"{k:12s} {v:9.2f} ms   kiln speedup x{v / med[base]:.2f}")
