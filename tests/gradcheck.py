"""Gradient checks for layers: finite differences in float64 on the NumPy reference path,
and the native backend against the reference path on the same float32 inputs."""

from __future__ import annotations

import numpy as np

import kiln


def _loss_and_grads(module, inputs, weights):
    """sum(output * weights) and the gradients of the parameters and float inputs."""
    for p in module.parameters():
        p.grad = None
    for x in inputs:
        if x.requires_grad:
            x.grad = None
    out = module(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o for o in _flatten(outs)]
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in module.parameters()] + \
        [x.grad.numpy().copy() for x in inputs if x.requires_grad]


def _flatten(xs):
    for x in xs:
        if isinstance(x, (tuple, list)):
            yield from _flatten(x)
        else:
            yield x


def output_weights(module, inputs, rng):
    with kiln.no_grad():
        out = module(*inputs)
    outs = list(_flatten(out if isinstance(out, (tuple, list)) else (out,)))
    return [rng.standard_normal(o.shape) for o in outs]


def finite_difference_check(module, inputs, rng, eps=1e-6, tol=1e-6) -> None:
    """Analytic gradients of sum(module(*inputs) * w) vs central differences, float64, NumPy path."""
    module.double()
    with kiln.use_backend("numpy"):
        weights = output_weights(module, inputs, rng)
        _, analytic = _loss_and_grads(module, inputs, weights)
        targets = [p.numpy() for p in module.parameters()] + [x.numpy() for x in inputs if x.requires_grad]
        for array, grad in zip(targets, analytic):
            flat = array.reshape(-1)
            picks = rng.choice(flat.size, size=min(flat.size, 12), replace=False)
            for i in picks:
                old = flat[i]
                flat[i] = old + eps
                with kiln.no_grad():
                    up = _forward_loss(module, inputs, weights)
                flat[i] = old - eps
                with kiln.no_grad():
                    down = _forward_loss(module, inputs, weights)
                flat[i] = old
                numeric = (up - down) / (2 * eps)
                got = grad.reshape(-1)[i]
                assert abs(got - numeric) <= tol * max(1.0, abs(numeric)), \
                    f"gradient {got} vs finite difference {numeric} at flat index {i} of shape {array.shape}"


def _forward_loss(module, inputs, weights) -> float:
    out = module(*inputs)
    outs = list(_flatten(out if isinstance(out, (tuple, list)) else (out,)))
    return float(sum(np.sum(o.numpy() * w) for o, w in zip(outs, weights)))


def native_matches_reference(module, inputs, rng, tol) -> None:
    """Forward and every gradient on the native backend vs the NumPy path, float32 inputs."""
    weights = output_weights(module, inputs, rng)
    with kiln.use_backend("numpy"):
        ref_loss, ref = _loss_and_grads(module, inputs, weights)
    with kiln.use_backend("cpu"):
        loss, got = _loss_and_grads(module, inputs, weights)
    assert abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss))
    for g, r in zip(got, ref):
        err = np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)
        assert err <= tol, f"native gradient differs from the reference: relative error {err:.2e}"
