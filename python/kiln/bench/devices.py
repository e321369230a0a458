"""CPU versus GPU: the issue's CUDA cases on kiln's cpu and cuda backends, PyTorch's CPU and
CUDA ("torch", "torch-cuda", when importable and, for the latter, when torch sees a GPU).

Ratios are about kiln's cuda row (``base="cuda"``): another backend's time over kiln-cuda's.
Every cuda runner ends with ``synchronize()``, so a timed call includes its kernels' run, not
only their launch; inputs are copied to each device before timing. On the emulated device the
same cases run on tiny shapes: its times measure the emulator, never a GPU.
"""

from __future__ import annotations

import numpy as np

from .. import cuda, ops
from .case import Case, Target
from .machine import torch_module
from .training import GPT, GPT_TINY, gpt_inputs, gpt_step_runner

BASE = "cuda"
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)


def _torch_cuda():
    torch = torch_module()
    return torch if torch is not None and torch.cuda.is_available() else None


def _device_backend():
    from ..backends import get
    return get("cuda")


def _on_device(x: dict) -> dict:
    be = _device_backend()
    return {k: be.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in x.items()}


def _synchronized(fn):
    def run():
        out = fn()
        cuda.synchronize()
        return out
    return run


def _torch_synchronized(torch, fn):
    def run():
        out = fn()
        torch.cuda.synchronize()
        return out
    return run


def _runners(cpu, kiln_cuda, torch_cpu=None, torch_gpu=None) -> dict:
    runners = {"cpu": cpu, "cuda": kiln_cuda}
    torch = torch_module()
    if torch is not None and torch_cpu is not None:
        runners["torch"] = lambda x: torch_cpu(torch, x, "cpu")
    gpu = _torch_cuda()
    if gpu is not None and torch_gpu is not None:
        runners["torch-cuda"] = lambda x: torch_gpu(gpu, x, "cuda")
    return runners


def gemm_case(n: int, tf32: bool) -> Case:
    def make(rng):
        return {"a": rng.standard_normal((n, n), np.float32), "b": rng.standard_normal((n, n), np.float32)}

    def kiln_cpu(x):
        return lambda: ops.matmul(x["a"], x["b"], backend="cpu")

    def kiln_cuda(x):
        d = _on_device(x)
        from ..backends import cuda as cuda_backend

        def run():
            cuda_backend.matmul.allow_tf32 = tf32
            try:
                return ops.matmul(d["a"], d["b"])
            finally:
                cuda_backend.matmul.allow_tf32 = False
        return _synchronized(run)

    def torch_mm(torch, x, device):
        a, b = (torch.from_numpy(x[k]).to(device) for k in ("a", "b"))
        if device == "cpu":
            return lambda: a @ b

        def run():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            return a @ b
        return _torch_synchronized(torch, run)

    return Case("gpu gemm tf32" if tf32 else "gpu sgemm", f"n={n}", make,
                _runners(kiln_cpu, kiln_cuda, None if tf32 else torch_mm, torch_mm),
                flops=2.0 * n ** 3, bound="flops", base=BASE,
                targets=[Target("torch-cuda", at_least=0.7 if tf32 else 0.9)],
                notes=["torch-cuda: cuBLAS, allow_tf32=" + str(tf32)], comparable=not tf32,
                tolerance=1e-5 * np.sqrt(n))


def conv_case(n: int, c: int, hw: int, k: int, backward: bool) -> Case:
    def make(rng):
        return {"x": rng.standard_normal((n, c, hw, hw), np.float32),
                "w": (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32),
                "b": rng.standard_normal(k).astype(np.float32),
                "grad_y": rng.standard_normal((n, k, hw, hw), np.float32)}

    def kiln(x, backend):
        def forward():
            return ops.conv2d(x["x"], x["w"], x["b"], padding=1, backend=backend)

        def backward_only():
            return ops.conv2d_backward(x["x"], x["w"], x["grad_y"], padding=1, backend=backend)
        return backward_only if backward else forward

    def torch_conv(torch, x, device):
        tx, tw, tb = (torch.from_numpy(x[k]).to(device).requires_grad_(backward) for k in ("x", "w", "b"))
        grad_y = torch.from_numpy(x["grad_y"]).to(device)
        y = torch.nn.functional.conv2d(tx, tw, tb, padding=1) if backward else None

        def run():
            if backward:
                return torch.autograd.grad(y, (tx, tw, tb), grad_y, retain_graph=True)
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tw, tb, padding=1)
        return run if device == "cpu" else _torch_synchronized(torch, run)

    forward_flops = 2.0 * n * k * c * 9 * hw * hw
    return Case("gpu conv2d bwd" if backward else "gpu conv2d fwd", f"N={n} C={c} {hw}x{hw} -> K={k}, 3x3",
                make, _runners(lambda x: kiln(x, "cpu"), lambda x: _synchronized(kiln(_on_device(x), None)),
                               torch_conv, torch_conv),
                flops=forward_flops * (2 if backward else 1), bound="flops", base=BASE,
                targets=[Target("torch-cuda", at_least=0.8)], notes=["torch-cuda: cuDNN"],
                tolerance=1e-5 * np.sqrt(9 * max(c, k) * (n * hw * hw if backward else 1)))


def lstm_cell_case(batch: int, inputs: int, hidden: int) -> Case:
    def make(rng):
        s = 1 / np.sqrt(hidden)
        draw = lambda *shape: rng.uniform(-s, s, shape).astype(np.float32)  # noqa: E731
        return {"x": draw(batch, inputs), "h": draw(batch, hidden), "c": draw(batch, hidden),
                "w_ih": draw(4 * hidden, inputs), "w_hh": draw(4 * hidden, hidden),
                "b_ih": draw(4 * hidden), "b_hh": draw(4 * hidden)}

    names = ("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh")

    def kiln(x, backend):
        return lambda: ops.lstm_cell(*[x[k] for k in names], backend=backend)

    def torch_cell(torch, x, device):
        cell = torch.nn.LSTMCell(inputs, hidden).to(device)
        with torch.no_grad():
            for name, attr in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"),
                               ("b_hh", "bias_hh")):
                getattr(cell, attr).copy_(torch.from_numpy(x[name]))
        tx, th, tc = (torch.from_numpy(x[k]).to(device) for k in ("x", "h", "c"))

        def run():
            with torch.no_grad():
                return cell(tx, (th, tc))
        return run if device == "cpu" else _torch_synchronized(torch, run)

    return Case("gpu lstm_cell", f"B={batch} I={inputs} H={hidden}", make,
                _runners(lambda x: kiln(x, "cpu"), lambda x: _synchronized(kiln(_on_device(x), None)),
                         torch_cell, torch_cell),
                flops=2.0 * batch * 4 * hidden * (inputs + hidden), bound="flops", base=BASE,
                targets=[Target("torch-cuda", at_least=2.0)], notes=["torch-cuda: nn.LSTMCell"],
                tolerance=1e-5 * np.sqrt(inputs + hidden))


def adam_case(n: int) -> Case:
    def make(rng):
        return {"param": rng.standard_normal(n, np.float32), "grad": rng.standard_normal(n, np.float32)}

    def kiln(x, backend, be):
        param = be.copy(x["param"])
        m, v = be.full((n,), 0.0, np.float32), be.full((n,), 0.0, np.float32)

        def run():
            ops.adam_step(param, x["grad"], m, v, step=1, backend=backend, **ADAM)
            return param
        return run

    def torch_adam(torch, x, device):
        p = torch.from_numpy(x["param"]).to(device).requires_grad_(True)
        p.grad = torch.from_numpy(x["grad"]).to(device)
        opt = torch.optim.Adam([p], lr=ADAM["lr"], fused=device != "cpu")

        def run():
            opt.step()
            return p
        return run if device == "cpu" else _torch_synchronized(torch, run)

    from ..backends import get
    return Case("gpu adam_step", f"{n:,} params", make,
                _runners(lambda x: kiln(x, "cpu", get("cpu")),
                         lambda x: _synchronized(kiln(_on_device(x), None, _device_backend())),
                         torch_adam, torch_adam),
                bytes=28.0 * n, bound="bandwidth", base=BASE, comparable=False,
                targets=[Target("torch-cuda", at_least=1.0)], notes=["torch-cuda: Adam(fused=True)"])


def device_cases(tiny: bool = False) -> list[Case]:
    """The issue's CUDA cases; tiny shapes for the emulated device and the smoke test."""
    if tiny:
        cases = [gemm_case(48, False), gemm_case(48, True), conv_case(1, 4, 6, 4, False),
                 conv_case(1, 4, 6, 4, True), lstm_cell_case(2, 8, 16), adam_case(4096), gpt_case(GPT_TINY)]
    else:
        cases = [gemm_case(4096, False), gemm_case(4096, True), conv_case(64, 64, 56, 64, False),
                 conv_case(64, 64, 56, 64, True), lstm_cell_case(64, 256, 1024), adam_case(100_000_000),
                 gpt_case(GPT)]
    return cases


def gpt_case(sizes: dict) -> Case:
    """examples/gpt_char.py's training step on each device (issue 12's bench row, on the GPU)."""
    runners = {"cpu": gpt_step_runner("kiln", "cpu", sizes), "cuda": gpt_step_runner("kiln", "cuda", sizes,
                                                                                     after=cuda.synchronize)}
    if torch_module() is not None:
        runners["torch"] = gpt_step_runner("torch", "cpu", sizes)
    gpu = _torch_cuda()
    if gpu is not None:
        runners["torch-cuda"] = gpt_step_runner("torch", "cuda", sizes, after=gpu.cuda.synchronize)
    return Case("gpu training", f"GPT step (context {sizes['context']}, width {sizes['width']}, "
                f"{sizes['layers']} layers, {sizes['heads']} heads, batch {sizes['batch']})", gpt_inputs(sizes),
                runners, base=BASE, comparable=False, targets=[Target("torch-cuda", at_least=1.0)],
                notes=["examples/gpt_char.py's GPT: forward, loss, backward, clip_grad_norm_, AdamW step"])
