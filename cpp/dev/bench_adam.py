"""adam_step over n float32 params, 2 threads: kiln vs kiln.reference (NumPy) vs torch Adam
(fused=True, else foreach) and np.copyto of 14 B/param (bytes = read + write = 28 B/param).
Interleaved rounds, medians.

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=python python3 cpp/dev/bench_adam.py [n] [rounds]
"""
import time, sys, numpy as np, torch, kiln
from kiln import ops, reference
torch.set_num_threads(2); kiln.set_num_threads(2)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
rng = np.random.default_rng(0)
def st(): return [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
p, g, m, v = st(); v = np.abs(v)
rp, rg, rm, rv = [a.copy() for a in (p, g, m, v)]
def mk(fused):
    t = torch.nn.Parameter(torch.tensor(p.copy())); t.grad = torch.tensor(g.copy())
    try:
        o = torch.optim.Adam([t], lr=1e-3, fused=fused); o.step(); return o, fused
    except Exception as e:
        print("fused failed", e); o = torch.optim.Adam([t], lr=1e-3, foreach=True); o.step(); return o, False
tf, isf = mk(True); tfe, _ = mk(False)
tfe = torch.optim.Adam(tfe.param_groups[0]['params'], lr=1e-3, foreach=True); tfe.step()
a = np.ones(n*7//2, np.float32); b = np.empty_like(a)
step=[1]
def k(): step[0]+=1; ops.adam_step(p, g, m, v, step=step[0], lr=1e-3, backend="cpu")
def ref(): reference.adam_step(rp, rg, rm, rv, step=5, lr=1e-3)
def tfu(): tf.step()
def tfo(): tfe.step()
def cp(): np.copyto(b, a)
cands = dict(kiln=k, torch_fused=tfu, torch_foreach=tfo, copy=cp, numpy=ref)
times = {c: [] for c in cands}
for r in range(int(sys.argv[2]) if len(sys.argv) > 2 else 7):
    for c, f in cands.items():
        if c == "numpy" and r % 3: continue
        t0 = time.perf_counter(); f(); times[c].append(time.perf_counter() - t0)
med = {c: float(np.median(t)) for c, t in times.items()}
bw = 28*n/med["copy"]/1e9
for c, t in med.items():
    print(f"{c:14s} {t*1e3:8.2f} ms  {28*n/t/1e9:6.1f} GB/s(28B)  kiln speedup x{t/med['kiln']:.2f}")
print("fused used:", isf, " kiln/copy bw frac:", med["copy"]/med["kiln"])
