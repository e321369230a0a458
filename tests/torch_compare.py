"""Comparing a kiln function with torch's on the same inputs (forward and gradients), and with
finite differences in float64 on the NumPy path; the devices to run on."""

import numpy as np
import pytest

import kiln
from conftest import finite_difference_grad

DEVICES = ["cpu"] + (["cuda"] if kiln.cuda.is_available() else [])

try:
    import torch
except ImportError:  # the torch comparisons skip; the rest runs
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _kiln_run(fn, arrays, device, grad_flags):
    """fn over kiln tensors on ``device``: the output and the gradients of sum(out * w)."""
    ts = [kiln.tensor(a, device=device, requires_grad=g) if g else kiln.tensor(a, device=device)
          for a, g in zip(arrays, grad_flags)]
    out = fn(*ts)
    w = np.random.default_rng(7).standard_normal(out.shape).astype(out.dtype) if out.dtype.kind == "f" else None
    grads = []
    if any(grad_flags):
        (out * kiln.tensor(w, device=device)).sum().backward()
        grads = [t.grad.numpy(force=True) for t, g in zip(ts, grad_flags) if g]
    return out.numpy(force=True), grads, w


def _torch_run(fn, arrays, grad_flags, w):
    ts = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_flags)]
    out = fn(*ts)
    grads = []
    if any(grad_flags):
        (out * torch.tensor(w)).sum().backward()
        grads = [t.grad.numpy() for t, g in zip(ts, grad_flags) if g]
    return out.detach().numpy(), grads


def check_against_torch(kiln_fn, torch_fn, arrays, device, grad_flags=None, rtol=1e-6, atol=1e-6):
    grad_flags = grad_flags or [a.dtype.kind == "f" for a in arrays]
    out, grads, w = _kiln_run(kiln_fn, arrays, device, grad_flags)
    if torch is None:
        return out
    tout, tgrads = _torch_run(torch_fn, arrays, grad_flags, w)
    assert out.dtype == tout.dtype, f"dtype {out.dtype} vs torch's {tout.dtype}"
    np.testing.assert_allclose(out, tout, rtol=rtol, atol=atol)
    for g, tg in zip(grads, tgrads):
        np.testing.assert_allclose(g, tg, rtol=rtol, atol=atol)
    return out


def check_gradient(fn, arrays, grad_flags=None, tol=1e-6):
    """Analytic gradients of sum(fn(*xs) * w) vs central differences, float64, NumPy path."""
    arrays = [np.array(a, dtype=np.float64) if a.dtype.kind == "f" else a for a in arrays]
    grad_flags = grad_flags or [a.dtype.kind == "f" for a in arrays]
    with kiln.use_backend("numpy"):
        ts = [kiln.from_numpy(a).requires_grad_(True) if g else kiln.from_numpy(a) for a, g in zip(arrays, grad_flags)]
        out = fn(*ts)
        w = np.asarray(np.random.default_rng(3).standard_normal(out.shape))
        (out * kiln.from_numpy(w)).sum().backward()
        for t, a, g in zip(ts, arrays, grad_flags):
            if not g:
                continue
            with kiln.no_grad():
                numeric = finite_difference_grad(
                    lambda: float(np.sum(fn(*[kiln.from_numpy(b) for b in arrays]).numpy() * w)), a)
            np.testing.assert_allclose(t.grad.numpy(), numeric, rtol=tol, atol=tol)
