"""Pointwise, softmax-CE and embedding: kiln cpu vs kiln.reference (NumPy) vs torch, THREADS
threads (default 2), interleaved rounds, medians.

  THREADS=1 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python python3 cpp/dev/bench_pointwise.py [rounds]
"""
import sys, time, numpy as np, torch, kiln
import torch.nn.functional as F
from kiln import ops, reference
import os; T = int(os.environ.get("THREADS", "2")); torch.set_num_threads(T); kiln.set_num_threads(T)
rng = np.random.default_rng(0)
R = int(sys.argv[1]) if len(sys.argv) > 1 else 11
cases = {}
for n in (1_000_000, 10_000_000):
    x = (3 * rng.standard_normal(n)).astype(np.float32); tx = torch.from_numpy(x); g = np.ones_like(x); tg = torch.from_numpy(g)
    y = np.empty_like(x)
    cases[f"gelu {n//10**6}M"] = (lambda x=x: ops.gelu(x, backend="cpu"),
                                  lambda x=x: reference.gelu(x), lambda tx=tx: F.gelu(tx))
    cases[f"gelu_bwd {n//10**6}M"] = (lambda x=x, g=g: ops.gelu_backward(g, x, backend="cpu"), lambda x=x, g=g: reference.gelu_backward(g, x),
                                      lambda tx=tx, tg=tg: torch.ops.aten.gelu_backward(tg, tx))
    cases[f"sigmoid {n//10**6}M"] = (lambda x=x: ops.sigmoid(x, backend="cpu"), lambda x=x: reference.sigmoid(x), lambda tx=tx: torch.sigmoid(tx))
    cases[f"tanh {n//10**6}M"] = (lambda x=x: ops.tanh(x, backend="cpu"), lambda x=x: reference.tanh(x), lambda tx=tx: torch.tanh(tx))
    cases[f"relu {n//10**6}M"] = (lambda x=x: ops.relu(x, backend="cpu"), lambda x=x: reference.relu(x), lambda tx=tx: torch.relu(tx))
z = rng.standard_normal((256, 1000)).astype(np.float32); t = rng.integers(0, 1000, 256)
tz = torch.from_numpy(z).requires_grad_(); tt = torch.from_numpy(t)
def torch_ce():
    tz.grad = None; F.cross_entropy(tz, tt).backward()
cases["softmax_CE+grad 256x1000"] = (lambda: ops.softmax_cross_entropy(z, t, return_grad=True, backend="cpu"),
                                     lambda: reference.softmax_cross_entropy(z, t, return_grad=True), torch_ce)
cases["softmax 256x1000"] = (lambda: ops.softmax(z, backend="cpu"), lambda: reference.softmax(z), lambda: torch.softmax(tz.detach(), -1))
w = rng.standard_normal((10000, 128)).astype(np.float32); idx = rng.integers(0, 10000, 4096); tw = torch.from_numpy(w); ti = torch.from_numpy(idx)
go = rng.standard_normal((4096, 128)).astype(np.float32); tgo = torch.from_numpy(go)
cases["embedding 4096 of 10000x128"] = (lambda: ops.embedding(idx, w, backend="cpu"), lambda: reference.embedding(idx, w), lambda: F.embedding(ti, tw))
cases["embedding_bwd 4096 -> 10000x128"] = (lambda: ops.embedding_backward(idx, go, 10000, backend="cpu"),
    lambda: reference.embedding_backward(idx, go, 10000),
    lambda: torch.ops.aten.embedding_dense_backward(tgo, ti, 10000, -1, False))
print(f"{'case':34s} {'kiln ms':>9s} {'numpy ms':>9s} {'torch ms':>9s} {'x numpy':>8s} {'x torch':>8s}")
for name, fns in cases.items():
    for f in fns: f()
    ts = [[], [], []]
    reps = 3 if "10M" in name else 10
    for r in range(R):
        for j, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(reps): f()
            ts[j].append((time.perf_counter() - t0) / reps)
    m = [np.median(a) * 1e3 for a in ts]
    print(f"{name:34s} {m[0]:9.3f} {m[1]:9.3f} {m[2]:9.3f} {m[1]/m[0]:8.2f} {m[2]/m[0]:8.2f}", flush=True)
