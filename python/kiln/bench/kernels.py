"""The kernel cases of issue 4, each on numpy (NumPy's own best path or kiln.reference),
cpu (kiln native) and torch (when importable).

``kernel_cases()`` gives the issue's shapes; ``kernel_cases(tiny=True)`` the same cases
on shapes that run in milliseconds, for the smoke test.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from .case import Case, Target
# attention
from .attention import attention_cases
from .machine import torch_module


def _torch_runner(fn):
    """A runner that only exists when torch does: fn(torch, inputs) -> run."""
    torch = torch_module()
    return None if torch is None else (lambda inputs: fn(torch, inputs))


def _runners(**runners):
    return {name: r for name, r in runners.items() if r is not None}


# ---- matmul -------------------------------------------------------------------------------

def matmul_case(n: int) -> Case:
    def make(rng):
        return {"a": rng.standard_normal((n, n), np.float32), "b": rng.standard_normal((n, n), np.float32)}

    def torch_mm(torch, x):
        a, b = torch.from_numpy(x["a"]), torch.from_numpy(x["b"])
        return lambda: a @ b

    targets = [Target("numpy", at_least=1.0), Target("torch", at_least=2.0)] if n >= 1024 else \
        [Target("numpy", at_least=1.0), Target("torch", at_least=1.5)]
    return Case("matmul", f"n={n}", make,
                _runners(numpy=lambda x: lambda: x["a"] @ x["b"],
                         cpu=lambda x: lambda: ops.matmul(x["a"], x["b"], backend="cpu"),
                         torch=_torch_runner(torch_mm)),
                flops=2.0 * n ** 3, bound="flops", targets=targets,
                notes=["numpy: a @ b (its BLAS sgemm); torch: a @ b"],
                tolerance=1e-5 * np.sqrt(n))


# ---- conv2d -------------------------------------------------------------------------------

def conv2d_case(n: int, c: int, hw: int, k: int, backward: bool) -> Case:
    def make(rng):
        return {"x": rng.standard_normal((n, c, hw, hw), np.float32),
                "w": (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32),
                "b": rng.standard_normal(k, np.float32),
                "grad_y": rng.standard_normal((n, k, hw, hw), np.float32)}

    def kiln(backend):
        def prepare(x):
            def forward():
                return ops.conv2d(x["x"], x["w"], x["b"], padding=1, backend=backend)

            def forward_backward():
                y = forward()
                return (y, *ops.conv2d_backward(x["x"], x["w"], x["grad_y"], padding=1, backend=backend))
            return forward_backward if backward else forward
        return prepare

    def torch_conv(torch, x):
        conv = torch.nn.functional.conv2d
        tx, tw, tb = (torch.from_numpy(x[name]).requires_grad_(backward) for name in ("x", "w", "b"))
        grad_y = torch.from_numpy(x["grad_y"])

        def forward():
            with torch.no_grad():
                return conv(tx, tw, tb, padding=1)

        def forward_backward():
            y = conv(tx, tw, tb, padding=1)
            return (y, *torch.autograd.grad(y, (tx, tw, tb), grad_y))
        return forward_backward if backward else forward

    forward_flops = 2.0 * n * k * c * 9 * hw * hw
    return Case("conv2d fwd+bwd" if backward else "conv2d fwd", f"N={n} C={c} {hw}x{hw} -> K={k}, 3x3 pad 1",
                make, _runners(numpy=kiln("numpy"), cpu=kiln("cpu"), torch=_torch_runner(torch_conv)),
                flops=forward_flops * (3 if backward else 1), bound="flops",
                targets=[Target("numpy", at_least=5.0), Target("torch", at_least=1.1)],
                tolerance=1e-5 * np.sqrt(9 * max(c, k) * (n * hw * hw if backward else 1)))


# ---- LSTM ---------------------------------------------------------------------------------

def _lstm_weights(rng, inputs, hidden):
    """Drawn as torch initialises them: uniform(-1/sqrt(H), 1/sqrt(H))."""
    scale = 1 / np.sqrt(hidden)
    draw = lambda *shape: rng.uniform(-scale, scale, shape).astype(np.float32)  # noqa: E731
    return {"w_ih": draw(4 * hidden, inputs), "w_hh": draw(4 * hidden, hidden),
            "b_ih": draw(4 * hidden), "b_hh": draw(4 * hidden)}


def _load_torch_lstm(torch, module, x, suffix=""):
    with torch.no_grad():
        for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
            attr = name.replace("w_", "weight_").replace("b_", "bias_") + suffix
            getattr(module, attr).copy_(torch.from_numpy(x[name]))
    return module


def lstm_cell_case(batch: int, inputs: int, hidden: int) -> Case:
    def make(rng):
        return {"x": rng.standard_normal((batch, inputs), np.float32),
                "h": rng.standard_normal((batch, hidden), np.float32),
                "c": rng.standard_normal((batch, hidden), np.float32), **_lstm_weights(rng, inputs, hidden)}

    def kiln(backend):
        def prepare(x):
            args = [x[name] for name in ("x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh")]
            return lambda: ops.lstm_cell(*args, backend=backend)[:2]
        return prepare

    def kiln_layer(x):
        """nn.LSTMCell under no_grad, as torch's row: its packed weights are kept across calls."""
        import kiln
        cell = kiln.nn.LSTMCell(inputs, hidden)
        with kiln.no_grad():
            for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                getattr(cell, name.replace("w_", "weight_").replace("b_", "bias_")).copy_(x[name])
        tx, th, tc = (kiln.from_numpy(x[name]) for name in ("x", "h", "c"))

        def run():
            with kiln.no_grad():
                return cell(tx, (th, tc))
        return run

    def torch_cell(torch, x):
        cell = _load_torch_lstm(torch, torch.nn.LSTMCell(inputs, hidden), x)
        tx, th, tc = (torch.from_numpy(x[name]) for name in ("x", "h", "c"))

        def run():
            with torch.no_grad():
                return cell(tx, (th, tc))
        return run

    return Case("lstm_cell fwd", f"B={batch} I={inputs} H={hidden}", make,
                _runners(numpy=kiln("numpy"), cpu=kiln_layer, **{"cpu ops": kiln("cpu")},
                         torch=_torch_runner(torch_cell)),
                flops=2.0 * batch * 4 * hidden * (inputs + hidden), bound="flops",
                targets=[Target("numpy", at_least=1.5), Target("torch", at_least=2.5)],
                notes=["cpu: kiln.nn.LSTMCell under no_grad (weights packed once); cpu ops: ops.lstm_cell "
                       "on arrays (packed per call); numpy: ops.lstm_cell(backend='numpy'); "
                       "torch: nn.LSTMCell under no_grad"], tolerance=1e-5 * np.sqrt(inputs + hidden))


def lstm_sequence_case(steps: int, batch: int, inputs: int, hidden: int) -> Case:
    def make(rng):
        return {"x": rng.standard_normal((steps, batch, inputs), np.float32),
                "grad_y": rng.standard_normal((steps, batch, hidden), np.float32),
                **_lstm_weights(rng, inputs, hidden)}

    def kiln(backend):
        def prepare(x):
            def run():
                y, _, _, gates, cells = ops.lstm_sequence(x["x"], x["w_ih"], x["w_hh"], x["b_ih"], x["b_hh"],
                                                          backend=backend)
                dx, _, _, dw_ih, dw_hh, db = ops.lstm_sequence_backward(
                    x["grad_y"], None, None, x["x"], x["w_ih"], x["w_hh"], None, None, y, gates, cells,
                    backend=backend)
                return y, dx, dw_ih, dw_hh, db
            return run
        return prepare

    def torch_lstm(torch, x):
        lstm = _load_torch_lstm(torch, torch.nn.LSTM(inputs, hidden), x, suffix="_l0")
        tx = torch.from_numpy(x["x"]).requires_grad_(True)
        grad_y = torch.from_numpy(x["grad_y"])
        wrt = (tx, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0)

        def run():
            y, _ = lstm(tx)
            return (y, *torch.autograd.grad(y, wrt, grad_y))
        return run

    # forward: one GEMM pass over [x, h] per step; backward: dx, dh, dW_ih and dW_hh, twice that.
    forward_flops = 2.0 * steps * batch * 4 * hidden * (inputs + hidden)
    return Case("lstm sequence fwd+bwd", f"T={steps} B={batch} I={inputs} H={hidden}", make,
                _runners(numpy=kiln("numpy"), cpu=kiln("cpu"), torch=_torch_runner(torch_lstm)),
                flops=3 * forward_flops, bound="flops",
                targets=[Target("numpy", at_least=1.5), Target("torch", at_least=1.3)],
                notes=["kiln: ops.lstm_sequence + lstm_sequence_backward; torch: nn.LSTM forward + autograd.grad"],
                tolerance=1e-5 * np.sqrt(steps * batch * (inputs + hidden)))


# ---- Adam ---------------------------------------------------------------------------------

ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
ADAM_STEP = 10  # the step every timed call performs (torch counts up from here; it does not change the cost)


def torch_adam_kind(torch) -> str:
    """"fused" when this torch has the fused CPU Adam, else "foreach"."""
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.ones(4)
    try:
        torch.optim.Adam([p], fused=True).step()
    except (RuntimeError, TypeError, ValueError):
        return "foreach"
    return "fused"


def adam_case(n: int) -> Case:
    def make(rng):
        return {"param": rng.standard_normal(n, np.float32), "grad": rng.standard_normal(n, np.float32),
                "exp_avg": (0.1 * rng.standard_normal(n)).astype(np.float32),
                "exp_avg_sq": (0.01 * np.abs(rng.standard_normal(n))).astype(np.float32)}

    def kiln(backend):
        def prepare(x):
            # adam_step updates in place: each backend steps its own copy of the state.
            param, exp_avg, exp_avg_sq = (x[name].copy() for name in ("param", "exp_avg", "exp_avg_sq"))

            def run():
                ops.adam_step(param, x["grad"], exp_avg, exp_avg_sq, step=ADAM_STEP, backend=backend, **ADAM)
                return param, exp_avg, exp_avg_sq
            return run
        return prepare

    torch = torch_module()
    kind = torch_adam_kind(torch) if torch is not None else None

    def torch_adam(torch, x):
        param = torch.from_numpy(x["param"].copy()).requires_grad_(True)
        param.grad = torch.from_numpy(x["grad"])
        optimizer = torch.optim.Adam([param], lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                                     eps=ADAM["eps"], **{kind: True})
        state = {"step": torch.tensor(float(ADAM_STEP - 1)), "exp_avg": torch.from_numpy(x["exp_avg"].copy()),
                 "exp_avg_sq": torch.from_numpy(x["exp_avg_sq"].copy())}
        optimizer.state[param] = state

        def run():
            optimizer.step()
            return param, state["exp_avg"], state["exp_avg_sq"]
        return run

    return Case("adam_step", f"{n:,} params", make,
                _runners(numpy=kiln("numpy"), cpu=kiln("cpu"), torch=_torch_runner(torch_adam)),
                bytes=28.0 * n, bound="bandwidth",
                targets=[Target("numpy", at_least=10.0), Target("torch", at_least=1.0), Target("peak", at_least=0.8)],
                notes=[f"torch: {kind} Adam" if kind else "torch: not importable",
                       "28 B/param: param, exp_avg, exp_avg_sq read+written, grad read"],
                tolerance=1e-6)


# ---- sparse_matmul ------------------------------------------------------------------------

def sparse_matmul_case(m: int, k: int, n: int, density: float) -> Case:
    def make(rng):
        from scipy import sparse
        x = sparse.random(m, k, density=density, format="csr", dtype=np.float32, random_state=rng)
        return {"x": x, "x_dense": x.toarray(), "w": rng.standard_normal((k, n), np.float32)}

    def torch_dense(torch, x):
        a, b = torch.from_numpy(x["x_dense"]), torch.from_numpy(x["w"])
        return lambda: a @ b

    built = hasattr(ops, "sparse_matmul")
    nnz = round(m * k * density)
    runners = _runners(numpy=lambda x: lambda: x["x_dense"] @ x["w"],
                       scipy=lambda x: lambda: x["x"] @ x["w"],
                       torch=_torch_runner(torch_dense))
    if built:
        runners["cpu"] = lambda x: lambda: ops.sparse_matmul(x["x"], x["w"])
    return Case("sparse_matmul", f"{m}x{k} CSR ({density:.1%} dense, nnz {nnz}) @ {k}x{n}", make, runners,
                flops=2.0 * nnz * n, bytes=nnz * (4 + 4 + 4 * n) + 4 * (m + 1) + 4 * m * n, bound="bandwidth",
                targets=[Target("numpy", at_least=20.0), Target("torch", at_least=20.0)],
                notes=["numpy and torch: the batch densified beforehand (not timed), dense @ w",
                       "scipy: CSR @ dense, for reference",
                       "work: nnz*n*2 flops; bytes: values+indices, the nnz rows of w, the output"]
                + ([] if built else ["kiln.ops.sparse_matmul not built"]),
                tolerance=1e-5 * np.sqrt(max(1.0, k * density)))


# ---- pointwise and losses -----------------------------------------------------------------

def pointwise_cases(size: int, batch: int, classes: int, image: tuple) -> list[Case]:
    def pointwise_make(rng):
        return {"x": rng.standard_normal(size, np.float32)}

    # name -> (kiln.ops call, torch call): forward, one input, one output of `size` floats
    activations = {
        "gelu": (ops.gelu, lambda torch, t: torch.nn.functional.gelu(t)),
        "gelu tanh": (lambda x, backend: ops.gelu(x, "tanh", backend=backend),
                      lambda torch, t: torch.nn.functional.gelu(t, approximate="tanh")),
        "sigmoid": (ops.sigmoid, lambda torch, t: torch.sigmoid(t)),
        "tanh": (ops.tanh, lambda torch, t: torch.tanh(t)),
    }

    def kiln_activation(op, backend):
        return lambda x: lambda: op(x["x"], backend=backend)

    def torch_activation(fn):
        def runner(torch, x):
            t = torch.from_numpy(x["x"])
            return lambda: fn(torch, t)
        return runner

    def xent_make(rng):
        return {"logits": rng.standard_normal((batch, classes), np.float32),
                "target": rng.integers(0, classes, batch)}

    def kiln_xent(backend):
        return lambda x: lambda: ops.softmax_cross_entropy(x["logits"], x["target"], return_grad=True,
                                                           backend=backend)

    def torch_xent(torch, x):
        logits = torch.from_numpy(x["logits"]).requires_grad_(True)
        target = torch.from_numpy(x["target"])

        def run():
            loss = torch.nn.functional.cross_entropy(logits, target)
            return (loss, *torch.autograd.grad(loss, logits))
        return run

    def pool_make(rng):
        return {"x": rng.standard_normal(image, np.float32)}

    def kiln_pool(backend):
        return lambda x: lambda: ops.max_pool2d(x["x"], 2, backend=backend)

    def torch_pool(torch, x):
        t = torch.from_numpy(x["x"])
        return lambda: torch.nn.functional.max_pool2d(t, 2)

    pooled = image[0] * image[1] * (image[2] // 2) * (image[3] // 2)
    return [
        Case("pointwise", f"{name} {size:,}", pointwise_make,
             _runners(numpy=kiln_activation(op, "numpy"), cpu=kiln_activation(op, "cpu"),
                      torch=_torch_runner(torch_activation(torch_fn))),
             bytes=8.0 * size, bound="bandwidth", targets=[Target("torch", at_least=1.0)],
             notes=["bytes: x read and y written; bandwidth floor: bytes / the measured copy bandwidth"],
             tolerance=1e-5)
        for name, (op, torch_fn) in activations.items()
    ] + [
        Case("pointwise", f"softmax_cross_entropy {batch}x{classes} + grad", xent_make,
             _runners(numpy=kiln_xent("numpy"), cpu=kiln_xent("cpu"), torch=_torch_runner(torch_xent)),
             bytes=8.0 * batch * classes, bound="bandwidth", tolerance=1e-5),
        Case("pointwise", "max_pool2d {}x{}x{}x{} 2x2".format(*image), pool_make,
             _runners(numpy=kiln_pool("numpy"), cpu=kiln_pool("cpu"), torch=_torch_runner(torch_pool)),
             bytes=4.0 * (np.prod(image) + pooled), bound="bandwidth", tolerance=0.0),
    ]


def kernel_cases(tiny: bool = False) -> list[Case]:
    """The issue-4 kernel cases (tiny: the same cases on small shapes)."""
    if tiny:
        conv_shapes = [(2, 1, 6, 4), (2, 3, 5, 4)]
        return ([matmul_case(16), matmul_case(33)]
                + [conv2d_case(*s, backward) for backward in (False, True) for s in conv_shapes]
                + [lstm_cell_case(3, 5, 7), lstm_sequence_case(4, 3, 5, 7), adam_case(1000),
                   sparse_matmul_case(8, 300, 16, 0.02)]
                + pointwise_cases(1000, 8, 10, (2, 3, 6, 6))
                # attention
                + attention_cases(tiny=True))
    conv_shapes = [(64, 1, 28, 32), (32, 32, 28, 64), (16, 64, 56, 64)]
    return ([matmul_case(1024), matmul_case(64)]
            + [conv2d_case(*s, backward) for backward in (False, True) for s in conv_shapes]
            + [lstm_cell_case(64, 256, 1024), lstm_sequence_case(50, 64, 256, 1024), adam_case(10_000_000),
               sparse_matmul_case(64, 28_000, 128, 0.001)]
            + pointwise_cases(4_000_000, 256, 1000, (32, 64, 28, 28))
            # attention
            + attention_cases())
