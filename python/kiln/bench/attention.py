"""The attention case of issue 12: scaled-dot-product attention forward + backward (causal) on
kiln.reference (which holds the T x T matrix), kiln's fused kernel and torch's
F.scaled_dot_product_attention."""

from __future__ import annotations

import numpy as np

from .. import ops
from .case import Case, Target
from .machine import torch_module


def attention_case(b: int, h: int, t: int, d: int) -> Case:
    scale = 1.0 / np.sqrt(d)

    def make(rng):
        return {name: rng.standard_normal((b, h, t, d), np.float32) for name in ("q", "k", "v", "grad")}

    def kiln(backend):
        def prepare(x):
            def run():
                out, lse = ops.scaled_dot_product_attention(x["q"], x["k"], x["v"], True, scale, backend=backend)
                return (out, *ops.scaled_dot_product_attention_backward(x["grad"], x["q"], x["k"], x["v"], out, lse,
                                                                        True, scale, backend=backend))
            return run
        return prepare

    def torch_attention(torch, x):
        q, k, v = (torch.from_numpy(x[name]).requires_grad_(True) for name in ("q", "k", "v"))
        grad = torch.from_numpy(x["grad"])

        def run():
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return (out, *torch.autograd.grad(out, (q, k, v), grad))
        return run

    torch = torch_module()
    runners = {"numpy": kiln("numpy"), "cpu": kiln("cpu")}
    if torch is not None:
        runners["torch"] = lambda inputs: torch_attention(torch, inputs)
    # causal: half the score matrix; forward 2 products, backward 5 (dv, dP, dq, dk and the recomputed S)
    flops = 2.0 * b * h * t * t * d * 7 / 2
    return Case("attention fwd+bwd", f"B={b} H={h} T={t} D={d} causal", make, runners, flops=flops, bound="flops",
                targets=[Target("torch", at_least=1.0)], tolerance=1e-5 * np.sqrt(t))


def attention_cases(tiny: bool = False) -> list[Case]:
    return [attention_case(1, 2, 17, 8)] if tiny else [attention_case(8, 4, 256, 32)]
