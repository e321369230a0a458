"""Hostile arguments to every kiln.ops kernel: a clean error or the reference's answer.

Each case builds a valid call of one kernel from a seeded generator (random small shapes,
empty and broadcast batches, transposed and strided views), then spoils one or two of its
arguments at random: a wrong dtype, None, a list or a string, a transposed, strided or
reversed view, an axis added, dropped or resized (to 0 too), a stride-0 view of more than
2^31 elements, a read-only output, NaN, and for scalars negative, huge (2^31, 2^63, 2^64),
fractional, bool and NaN values. The native backend must then raise TypeError, ValueError or
MemoryError, or return what the NumPy reference returns for the same arguments; outputs given
as views into a larger buffer must leave its guard values alone. Any other exception fails;
a crash ends the run (and under the sanitizer job, any out-of-bounds access or undefined
behaviour does). Deterministic: case i of kernel K always uses seed crc32(K) + i.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib

import numpy as np
import pytest

import kiln
from kiln import ops

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="native module not built")

CASES_PER_KERNEL = int(os.environ.get("KILN_FUZZ_CASES", "16"))  # more for a longer search
CLEAN = (TypeError, ValueError, MemoryError)
GUARD = np.float32(-7.25e11)  # written around every guarded output
GUARD_WIDTH = 17
HUGE_ELEMENTS = [2**31, 2**31 + 7, 2**40]  # more than kiln's kMaxElements (2^31 - 1)


class Case:
    """One call: the kernel, its keyword arguments, the guarded buffers behind its outputs."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.kwargs: dict = {}
        self.guards: list[np.ndarray] = []
        self.notes: list[str] = []

    # ---- valid arguments ---------------------------------------------------------------------

    def size(self, low=0, high=6) -> int:
        """A small size; by default now and then one past the threading (1 Mflop) and SIMD thresholds."""
        if (low, high) == (0, 6) and self.rng.random() < 0.08:
            return int(self.rng.integers(33, 130))
        return int(self.rng.integers(low, high + 1))

    def normal(self, *shape, scale=1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def layout(self, x: np.ndarray) -> np.ndarray:
        """x itself, or the same values in a non-contiguous view (strided, or a transpose's transpose)."""
        pick = self.rng.random()
        if x.ndim == 0 or x.size == 0 or pick < 0.7:
            return x
        if pick < 0.85:
            wide = np.repeat(x, 2, axis=-1)
            return wide[..., ::2]
        return np.ascontiguousarray(np.swapaxes(x, -1, 0)).swapaxes(-1, 0)

    def guarded(self, shape) -> np.ndarray:
        """An output: a view into a buffer with GUARD values before and after it."""
        count = math.prod(shape)
        buffer = np.full(count + 2 * GUARD_WIDTH, GUARD, np.float32)
        self.guards.append(buffer)
        return buffer[GUARD_WIDTH:GUARD_WIDTH + count].reshape(shape)

    def guards_intact(self) -> bool:
        return all((b[:GUARD_WIDTH] == GUARD).all() and (b[-GUARD_WIDTH:] == GUARD).all() for b in self.guards)

    # ---- spoiling them -----------------------------------------------------------------------

    def spoil(self, names) -> None:
        for name in names:
            value = self.kwargs[name]
            self.kwargs[name] = self.hostile(value)
            self.notes.append(f"{name}: {describe(value)} -> {describe(self.kwargs[name])}")

    def hostile(self, value):
        r = self.rng
        if isinstance(value, np.ndarray):
            return self.hostile_array(value)
        if isinstance(value, bool):
            return [None, 2, "yes", np.bool_(not value), 1.0][r.integers(5)]
        if isinstance(value, int):
            return [-1, 0, -(2**63), 2**31, 2**63 - 1, 2**64, 1.5, True, None, "3", np.int64(value + 1),
                    (value, value, value), (-1, value)][r.integers(13)]
        if isinstance(value, float):
            return [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e30, -1e-30, None, "0.5", 1 + 1j,
                    np.float64(value), 2**70][r.integers(12)]
        if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
            return [value[:1] * 3, (-1,) * len(value), (0,) * len(value), (2**40,) * len(value),
                    tuple(v + 1 for v in value), (1.5,) * len(value), []][r.integers(7)]
        if isinstance(value, str):
            return [None, "no_such_thing", 3, value.upper()][r.integers(4)]
        if value is None:
            return [np.ones(3, np.float32), 0, "x", np.float32(1)][r.integers(4)]
        if isinstance(value, tuple):  # CSR parts
            return self.hostile_csr(value)
        return None

    def hostile_array(self, x: np.ndarray):
        r = self.rng
        kinds = ["dtype", "none", "list", "scalar", "string", "transpose", "strided", "reversed",
                 "drop_axis", "add_axis", "resize", "empty", "huge", "readonly", "nan", "zero_strides"]
        kind = kinds[r.integers(len(kinds))]
        if kind == "dtype":
            dtypes = [np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, object, np.float64]
            return x.astype(dtypes[r.integers(len(dtypes))])
        if kind == "none":
            return None
        if kind == "list":
            return x.tolist()
        if kind == "scalar":
            return [1.5, np.float32(2.0), np.array(3.0, np.float32)][r.integers(3)]
        if kind == "string":
            return "not an array"
        if kind == "transpose" and x.ndim >= 2:
            return x.T
        if kind == "strided" and x.ndim >= 1:
            return np.repeat(x, 3, axis=0)[::3]
        if kind == "reversed" and x.ndim >= 1:
            return x[::-1]
        if kind == "drop_axis" and x.ndim >= 1:
            return x[0] if x.shape[0] > 0 else np.zeros(x.shape[1:], x.dtype)
        if kind == "add_axis":
            return x[None] if r.random() < 0.5 else x[..., None]
        if kind in ("resize", "empty") and x.ndim >= 1:
            shape = list(x.shape)
            axis = int(r.integers(x.ndim))
            shape[axis] = 0 if kind == "empty" else int(r.choice([1, shape[axis] + 1, max(shape[axis] - 1, 0), 2 * shape[axis] + 3]))
            return np.resize(x, shape).astype(x.dtype) if math.prod(shape) else np.zeros(shape, x.dtype)
        if kind == "huge":
            shape = list(x.shape) or [1]
            shape[int(r.integers(len(shape)))] = int(r.choice(HUGE_ELEMENTS))
            return np.broadcast_to(np.zeros((), x.dtype), tuple(shape))  # no memory behind it
        if kind == "readonly":
            y = x.copy()
            y.setflags(write=False)
            return y
        if kind == "nan" and x.dtype.kind == "f" and x.size:
            y = x.copy()
            y.reshape(-1)[r.integers(y.size)] = [np.nan, np.inf, -np.inf][r.integers(3)]
            return y
        if kind == "zero_strides" and x.ndim >= 1 and x.size:
            return np.broadcast_to(x.reshape(-1)[:1].reshape((1,) * x.ndim), x.shape)
        return x.astype(np.float64)  # the kind did not apply: a dtype the kernels accept

    def hostile_csr(self, parts):
        data, indices, indptr, shape = parts
        r = self.rng
        pick = r.integers(8)
        if pick == 0 and indices.size:
            indices = indices.astype(np.int64)
            indices[r.integers(indices.size)] = [-1, shape[1], 2**31, -(2**40)][r.integers(4)]
        elif pick == 1 and indptr.size > 1:
            indptr = indptr.astype(np.int64)
            indptr[r.integers(1, indptr.size)] = [-1, 0, indptr[-1] + 5, 2**40][r.integers(4)]
        elif pick == 2 and indptr.size > 2:
            indptr = indptr.copy()
            indptr[1:-1] = indptr[1:-1][::-1]  # not monotone
        elif pick == 3:
            shape = [(shape[0] + 1, shape[1]), (shape[0], -1), (-1, shape[1]), (2**40, shape[1]), (shape[0],),
                     (shape[0], 1.5)][r.integers(6)]
        elif pick == 4:
            data = data.astype([np.int32, np.float16, np.complex64][r.integers(3)])
        elif pick == 5:
            indices = indices.astype([np.float32, np.uint64, np.int8][r.integers(3)])
        elif pick == 6:
            return (data, indices, indptr)
        else:
            data = data[:-1] if data.size else np.ones(1, np.float32)
        return (data, indices, indptr, shape)


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape} {value.dtype} strides {value.strides}"
    if isinstance(value, list):
        return "list"
    return repr(value)[:60]


# ---- the kernels: each builder fills case.kwargs with a valid call ------------------------------


def csr(case: Case, m: int, k: int):
    density = case.rng.random()
    mask = case.rng.random((m, k)) < density
    rows, cols = np.nonzero(mask)
    data = case.normal(rows.size)
    indptr = np.zeros(m + 1, np.int64)
    np.add.at(indptr, rows + 1, 1)
    return data, cols.astype(np.int32), np.cumsum(indptr), (m, k)


def build_matmul(c: Case):
    m, n, k = c.size(), c.size(), c.size()
    ta, tb = bool(c.rng.integers(2)), bool(c.rng.integers(2))
    batches = [None, None, (0, 1), (1, 0), (0, 0), (1, 3), (3, 1), (2, 2), (None, 2), (2, None)]
    batch = batches[c.rng.integers(len(batches))] or (None, None)
    lead = [() if b is None else (b,) for b in batch]
    c.kwargs = dict(a=c.layout(c.normal(*lead[0], *((k, m) if ta else (m, k))))
                    , b=c.layout(c.normal(*lead[1], *((n, k) if tb else (k, n)))),
                    transpose_a=ta, transpose_b=tb, bias=c.normal(n) if c.rng.random() < 0.5 else None,
                    activation=[None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"][c.rng.integers(6)],
                    alpha=float(c.rng.choice([1.0, 0.5])), beta=0.0)
    if c.rng.random() < 0.5:
        shape = np.matmul(np.empty(lead[0] + (m, 0)), np.empty(lead[1] + (0, n))).shape
        c.kwargs["out"] = c.guarded(shape)
        c.kwargs["out"][...] = 1.0
        c.kwargs["beta"] = float(c.rng.choice([0.0, 1.0]))


def build_linear_backward(c: Case):
    m, i, o = c.size(), c.size(), c.size()
    by_out = bool(c.rng.integers(2))
    c.kwargs = dict(x=c.layout(c.normal(m, i)), w=c.layout(c.normal(*((o, i) if by_out else (i, o)))),
                    y=c.normal(m, o), grad_y=c.normal(m, o), weight_is_out_by_in=by_out,
                    activation=[None, "relu", "sigmoid", "tanh"][c.rng.integers(4)],
                    input_grad=bool(c.rng.integers(2)), weight_grad=bool(c.rng.integers(2)),
                    bias_grad=bool(c.rng.integers(2)))
    if c.kwargs["activation"] in ("sigmoid", "tanh"):
        c.kwargs["y"] = np.tanh(c.kwargs["y"])


def build_sparse_matmul(c: Case):
    m, k, n = c.size(), c.size(), c.size()
    tw = bool(c.rng.integers(2))
    c.kwargs = dict(x=csr(c, m, k), w=c.layout(c.normal(*((n, k) if tw else (k, n)))),
                    bias=c.normal(n) if c.rng.random() < 0.5 else None, transpose_w=tw, beta=0.0)
    if c.rng.random() < 0.5:
        c.kwargs["out"] = c.guarded((m, n))
        c.kwargs["out"][...] = 2.0
        c.kwargs["beta"] = float(c.rng.choice([0.0, 0.5]))


def build_sparse_matmul_backward_weight(c: Case):
    m, k, n = c.size(), c.size(), c.size()
    tw = bool(c.rng.integers(2))
    c.kwargs = dict(x=csr(c, m, k), grad_y=c.layout(c.normal(m, n)), transpose_w=tw, beta=0.0)
    if c.rng.random() < 0.5:
        c.kwargs["out"] = c.guarded((n, k) if tw else (k, n))
        c.kwargs["out"][...] = 1.0
        c.kwargs["beta"] = 1.0


def any_shape(c: Case) -> tuple:
    return tuple(c.size() for _ in range(c.rng.integers(0, 4)))


def pointwise(name: str, backward: bool):
    def build(c: Case):
        shape = any_shape(c)
        saved = "y" if name in ("sigmoid", "tanh") else "x"
        if backward:
            c.kwargs = dict(grad_y=c.layout(c.normal(*shape)), **{saved: c.layout(c.normal(*shape))})
        else:
            c.kwargs = dict(x=c.layout(c.normal(*shape, scale=3.0)))
        if name == "gelu":
            c.kwargs["approximate"] = ["none", "tanh"][c.rng.integers(2)]
        if c.rng.random() < 0.4:
            c.kwargs["out"] = c.guarded(shape)
    return build


def softmax_kind(log: bool, backward: bool):
    def build(c: Case):
        shape = any_shape(c) or (c.size(1),)
        axis = int(c.rng.integers(-len(shape), len(shape)))
        if backward:
            y = ops.log_softmax(c.normal(*shape), axis) if log else ops.softmax(c.normal(*shape), axis)
            c.kwargs = dict(grad_y=c.layout(c.normal(*shape)), y=y, axis=axis)
        else:
            c.kwargs = dict(x=c.layout(c.normal(*shape, scale=3.0)), axis=axis)
        if c.rng.random() < 0.4:
            c.kwargs["out"] = c.guarded(shape)
    return build


def lstm_weights(c: Case, i: int, h: int) -> dict:
    s = 1 / math.sqrt(max(h, 1))
    return dict(w_ih=c.normal(4 * h, i, scale=s), w_hh=c.normal(4 * h, h, scale=s),
                b_ih=c.normal(4 * h, scale=s) if c.rng.random() < 0.7 else None,
                b_hh=c.normal(4 * h, scale=s) if c.rng.random() < 0.7 else None)


def build_lstm_cell(c: Case):
    b, i, h = c.size(), c.size(), c.size(1)
    c.kwargs = dict(x=c.layout(c.normal(b, i)), h=c.normal(b, h), c=c.normal(b, h), **lstm_weights(c, i, h))


def build_lstm_cell_backward(c: Case):
    b, i, h = c.size(), c.size(), c.size(1)
    x, hs, cs = c.normal(b, i), c.normal(b, h), c.normal(b, h)
    w = lstm_weights(c, i, h)
    h_new, c_new, gates = ops.lstm_cell(x, hs, cs, w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], return_gates=True,
                                        backend="numpy")
    c.kwargs = dict(grad_h=c.normal(b, h), grad_c=c.normal(b, h) if c.rng.random() < 0.7 else None, x=x, h=hs,
                    c=cs, w_ih=w["w_ih"], w_hh=w["w_hh"], gates=gates.astype(np.float32),
                    c_new=c_new.astype(np.float32))


def build_lstm_pack_weights(c: Case):
    c.kwargs = lstm_weights(c, c.size(), c.size(1))
    del c.kwargs["b_ih"], c.kwargs["b_hh"]


def packed_cell_step(kwargs: dict, packed):
    """A cell step through weights packed by lstm_pack_weights (the cpu backend's handle), or
    the reference's step on the weights themselves (packed None)."""
    w_ih, w_hh = kwargs["w_ih"], kwargs["w_hh"]
    rng = np.random.default_rng(0)
    x, h, c = (rng.standard_normal(shape).astype(np.float32)
               for shape in ((3, np.shape(w_ih)[1]), (3, np.shape(w_hh)[1]), (3, np.shape(w_hh)[1])))
    return ops.lstm_cell(x, h, c, w_ih, w_hh, packed=packed, backend="numpy" if packed is None else "cpu")


def build_lstm_sequence(c: Case):
    t, b, i, h = c.size(0, 4), c.size(), c.size(), c.size(1)
    c.kwargs = dict(x=c.layout(c.normal(t, b, i)), **lstm_weights(c, i, h),
                    h0=c.normal(b, h) if c.rng.random() < 0.6 else None,
                    c0=c.normal(b, h) if c.rng.random() < 0.6 else None)


def build_lstm_sequence_backward(c: Case):
    t, b, i, h = c.size(0, 4), c.size(), c.size(), c.size(1)
    x, w = c.normal(t, b, i), lstm_weights(c, i, h)
    h0 = c.normal(b, h) if c.rng.random() < 0.6 else None
    c0 = c.normal(b, h) if c.rng.random() < 0.6 else None
    y, h_n, c_n, gates, cells = ops.lstm_sequence(x, w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], h0, c0)
    maybe = lambda *shape: c.normal(*shape) if c.rng.random() < 0.7 else None  # noqa: E731
    c.kwargs = dict(grad_y=maybe(t, b, h), grad_h_n=maybe(b, h), grad_c_n=maybe(b, h), x=x, w_ih=w["w_ih"],
                    w_hh=w["w_hh"], h0=h0, c0=c0, y=y, gates=gates, cells=cells)


# gru
def gru_weights(c: Case, i: int, h: int) -> dict:
    s = 1 / math.sqrt(max(h, 1))
    return dict(w_ih=c.normal(3 * h, i, scale=s), w_hh=c.normal(3 * h, h, scale=s),
                b_ih=c.normal(3 * h, scale=s) if c.rng.random() < 0.7 else None,
                b_hh=c.normal(3 * h, scale=s) if c.rng.random() < 0.7 else None)


def build_gru_cell(c: Case):
    b, i, h = c.size(), c.size(), c.size(1)
    c.kwargs = dict(x=c.layout(c.normal(b, i)), h=c.normal(b, h), **gru_weights(c, i, h))


def build_gru_cell_backward(c: Case):
    b, i, h = c.size(), c.size(), c.size(1)
    x, hs, w = c.normal(b, i), c.normal(b, h), gru_weights(c, i, h)
    _, gates = ops.gru_cell(x, hs, w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], return_gates=True, backend="numpy")
    c.kwargs = dict(grad_h=c.normal(b, h), x=x, h=hs, w_ih=w["w_ih"], w_hh=w["w_hh"], gates=gates.astype(np.float32))


def build_gru_sequence(c: Case):
    t, b, i, h = c.size(0, 4), c.size(), c.size(), c.size(1)
    c.kwargs = dict(x=c.layout(c.normal(t, b, i)), **gru_weights(c, i, h),
                    h0=c.normal(b, h) if c.rng.random() < 0.6 else None)


def build_gru_sequence_backward(c: Case):
    t, b, i, h = c.size(0, 4), c.size(), c.size(), c.size(1)
    x, w = c.normal(t, b, i), gru_weights(c, i, h)
    h0 = c.normal(b, h) if c.rng.random() < 0.6 else None
    y, _, gates = ops.gru_sequence(x, w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], h0)
    maybe = lambda *shape: c.normal(*shape) if c.rng.random() < 0.7 else None  # noqa: E731
    c.kwargs = dict(grad_y=maybe(t, b, h), grad_h_n=maybe(b, h), x=x, w_ih=w["w_ih"], w_hh=w["w_hh"], h0=h0, y=y,
                    gates=gates)


def conv_geometry(c: Case) -> dict:
    groups = int(c.rng.choice([1, 1, 2]))
    return dict(stride=int(c.rng.integers(1, 3)), padding=int(c.rng.integers(0, 2)),
                dilation=int(c.rng.integers(1, 3)), groups=groups)


def conv_shapes(c: Case, g: dict):
    n, cin, k = c.size(0, 3), g["groups"] * c.size(1, 3), g["groups"] * c.size(1, 3)
    r, s = int(c.rng.integers(1, 4)), int(c.rng.integers(1, 4))
    hh, ww = c.size(1, 9) + g["dilation"] * (r - 1), c.size(1, 9) + g["dilation"] * (s - 1)
    return (n, cin, hh, ww), (k, cin // g["groups"], r, s)


def build_conv2d(c: Case):
    g = conv_geometry(c)
    xs, ws = conv_shapes(c, g)
    c.kwargs = dict(x=c.layout(c.normal(*xs)), weight=c.layout(c.normal(*ws)),
                    bias=c.normal(ws[0]) if c.rng.random() < 0.6 else None, **g)


def build_conv2d_backward(c: Case):
    g = conv_geometry(c)
    xs, ws = conv_shapes(c, g)
    x, w = c.normal(*xs), c.normal(*ws)
    grad_y = c.normal(*ops.conv2d(x, w, backend="numpy", **g).shape)
    c.kwargs = dict(x=c.layout(x), weight=w, grad_y=c.layout(grad_y), **g, input_grad=bool(c.rng.integers(2)),
                    weight_grad=bool(c.rng.integers(2)), bias_grad=bool(c.rng.integers(2)))


def pool_geometry(c: Case) -> dict:
    kernel = int(c.rng.integers(1, 4))
    return dict(kernel_size=kernel, stride=int(c.rng.integers(1, 3)), padding=int(c.rng.integers(0, kernel // 2 + 1)))


def build_max_pool2d(c: Case):
    g = pool_geometry(c)
    c.kwargs = dict(x=c.layout(c.normal(c.size(0, 3), c.size(1, 3), c.size(3, 9), c.size(3, 9))), **g,
                    dilation=1, ceil_mode=bool(c.rng.integers(2)), return_indices=bool(c.rng.integers(2)))


def build_max_pool2d_backward(c: Case):
    g = pool_geometry(c)
    x = c.normal(c.size(0, 3), c.size(1, 3), c.size(3, 9), c.size(3, 9))
    y, indices = ops.max_pool2d(x, **g, return_indices=True)
    c.kwargs = dict(grad_y=c.layout(c.normal(*y.shape)), indices=indices, input_shape=x.shape)


def build_avg_pool2d(c: Case):
    g = pool_geometry(c)
    c.kwargs = dict(x=c.layout(c.normal(c.size(0, 3), c.size(1, 3), c.size(3, 9), c.size(3, 9))), **g,
                    ceil_mode=bool(c.rng.integers(2)), count_include_pad=bool(c.rng.integers(2)),
                    divisor_override=int(c.rng.integers(1, 5)) if c.rng.random() < 0.3 else None)


def build_avg_pool2d_backward(c: Case):
    g = pool_geometry(c)
    x = c.normal(c.size(0, 3), c.size(1, 3), c.size(3, 9), c.size(3, 9))
    y = ops.avg_pool2d(x, **g)
    c.kwargs = dict(grad_y=c.layout(c.normal(*y.shape)), input_shape=x.shape, **g)


def build_adam_step(c: Case):
    shape = any_shape(c)
    amsgrad = bool(c.rng.integers(2))
    c.kwargs = dict(param=c.normal(*shape), grad=c.layout(c.normal(*shape)), exp_avg=c.normal(*shape) / 10,
                    exp_avg_sq=np.abs(c.normal(*shape)) / 10, step=int(c.rng.integers(1, 5)),
                    lr=float(c.rng.choice([1e-3, 0.1])), beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=float(c.rng.choice([0.0, 0.01])), decoupled=bool(c.rng.integers(2)),
                    amsgrad=amsgrad, max_exp_avg_sq=np.abs(c.normal(*shape)) / 10 if amsgrad else None,
                    maximize=bool(c.rng.integers(2)))


def build_embedding(c: Case):
    v, d = c.size(1), c.size()
    idx_shape = any_shape(c)
    c.kwargs = dict(indices=c.rng.integers(0, v, idx_shape), weight=c.layout(c.normal(v, d)),
                    padding_idx=int(c.rng.integers(-v, v)) if c.rng.random() < 0.4 else None)


def build_embedding_backward(c: Case):
    v, d = c.size(1), c.size()
    idx_shape = any_shape(c)
    c.kwargs = dict(indices=c.rng.integers(0, v, idx_shape), grad_out=c.layout(c.normal(*idx_shape, d)),
                    num_embeddings=v, padding_idx=int(c.rng.integers(-v, v)) if c.rng.random() < 0.4 else None)


def build_softmax_cross_entropy(c: Case):
    n, k = c.size(), c.size(1)
    if c.rng.random() < 0.6:
        target = c.rng.integers(0, k, n)
        if n and c.rng.random() < 0.3:
            target[0] = -100
    else:
        target = ops.softmax(c.normal(n, k))
    c.kwargs = dict(logits=c.layout(c.normal(n, k, scale=3.0)), target=target, ignore_index=-100,
                    label_smoothing=float(c.rng.choice([0.0, 0.1])), return_grad=bool(c.rng.integers(2)),
                    grad_scale=1.0)


def build_bce_with_logits(c: Case):
    shape = any_shape(c)
    c.kwargs = dict(logits=c.layout(c.normal(*shape, scale=3.0)), target=c.rng.random(shape).astype(np.float32),
                    pos_weight=np.abs(c.normal(shape[-1])) if shape and c.rng.random() < 0.4 else None,
                    return_grad=bool(c.rng.integers(2)), grad_scale=float(c.rng.choice([1.0, 0.5])))


def build_mse(c: Case):
    shape = any_shape(c)
    c.kwargs = dict(pred=c.layout(c.normal(*shape)), target=c.normal(*shape), return_grad=bool(c.rng.integers(2)),
                    grad_scale=1.0)


# attention
def attention_arguments(c: Case) -> dict:
    b, h, tq, tk, d, dv = c.size(1, 2), c.size(1, 3), c.size(1, 70), c.size(1, 70), c.size(1), c.size(1)
    return dict(q=c.normal(b, h, tq, d), k=c.normal(b, h, tk, d), v=c.normal(b, h, tk, dv),
                causal=bool(c.rng.integers(2)), scale=None if c.rng.random() < 0.3 else float(c.rng.choice([0.3, 1.5])))


def build_attention(c: Case):
    args = attention_arguments(c)
    c.kwargs = {**{k: c.layout(args[k]) for k in ("q", "k", "v")}, "causal": args["causal"], "scale": args["scale"]}


def build_attention_backward(c: Case):
    args = attention_arguments(c)
    out, lse = ops.scaled_dot_product_attention(**args, backend="numpy")  # consistent with q, k, v: P <= 1
    c.kwargs = {"dout": c.layout(c.normal(*out.shape)), **{k: c.layout(args[k]) for k in ("q", "k", "v")},
                "out": c.layout(out), "logsumexp": c.layout(lse), "causal": args["causal"], "scale": args["scale"]}
# normalization
def norm_layer_args(c: Case) -> tuple:
    n = c.size(1, 6)
    normalized = (n,) if c.rng.random() < 0.6 else (c.size(1, 3), n)
    x = c.normal(c.size(0, 3), *normalized, scale=2.0)
    affine = c.rng.random() < 0.7
    return x, normalized, (c.normal(*normalized) if affine else None), (c.normal(*normalized) if affine else None)


def build_layer_norm(c: Case):
    x, normalized, w, b = norm_layer_args(c)
    c.kwargs = dict(x=c.layout(x), normalized_shape=normalized, weight=w, bias=b,
                    eps=float(c.rng.choice([1e-5, 1e-3])))


def build_layer_norm_backward(c: Case):
    x, normalized, w, b = norm_layer_args(c)
    _, mean, rstd = ops.layer_norm(x, normalized, w, b, backend="numpy")
    c.kwargs = dict(grad_y=c.layout(c.normal(*x.shape)), x=x, mean=mean, rstd=rstd, normalized_shape=normalized,
                    weight=w)


def norm_batch_args(c: Case) -> tuple:
    ch = c.size(1, 5)
    shape = (c.size(2, 4), ch) if c.rng.random() < 0.4 else (c.size(2, 3), ch, c.size(1, 5))
    axis = 1 if c.rng.random() < 0.7 else -1
    if axis == -1:
        shape = shape[:1] + shape[2:] + (ch,)
    return c.normal(*shape, scale=2.0), axis, ch


def build_batch_norm(c: Case):
    x, axis, ch = norm_batch_args(c)
    affine = c.rng.random() < 0.7
    c.kwargs = dict(x=c.layout(x), weight=c.normal(ch) if affine else None, bias=c.normal(ch) if affine else None,
                    running_mean=c.normal(ch), running_var=np.abs(c.normal(ch)) + 0.5,
                    training=bool(c.rng.integers(2)), eps=1e-5, channel_axis=axis)


def build_batch_norm_backward(c: Case):
    x, axis, ch = norm_batch_args(c)
    w = c.normal(ch) if c.rng.random() < 0.7 else None
    training = bool(c.rng.integers(2))
    _, mean, invstd, _ = ops.batch_norm(x, w, None, c.normal(ch), np.abs(c.normal(ch)) + 0.5, training,
                                        channel_axis=axis, backend="numpy")
    c.kwargs = dict(grad_y=c.layout(c.normal(*x.shape)), x=x, save_mean=mean, save_invstd=invstd, weight=w,
                    training=training, channel_axis=axis)


KERNELS = {
    "matmul": build_matmul,
    "linear_backward": build_linear_backward,
    "sparse_matmul": build_sparse_matmul,
    "sparse_matmul_backward_weight": build_sparse_matmul_backward_weight,
    **{name: pointwise(name, False) for name in ("relu", "sigmoid", "tanh", "gelu")},
    **{f"{name}_backward": pointwise(name, True) for name in ("relu", "sigmoid", "tanh", "gelu")},
    "softmax": softmax_kind(False, False),
    "log_softmax": softmax_kind(True, False),
    "softmax_backward": softmax_kind(False, True),
    "log_softmax_backward": softmax_kind(True, True),
    "lstm_cell": build_lstm_cell,
    "lstm_cell_backward": build_lstm_cell_backward,
    "lstm_pack_weights": build_lstm_pack_weights,
    "lstm_sequence": build_lstm_sequence,
    "lstm_sequence_backward": build_lstm_sequence_backward,
    "conv2d": build_conv2d,
    "conv2d_backward": build_conv2d_backward,
    "max_pool2d": build_max_pool2d,
    "max_pool2d_backward": build_max_pool2d_backward,
    "avg_pool2d": build_avg_pool2d,
    "avg_pool2d_backward": build_avg_pool2d_backward,
    "adam_step": build_adam_step,
    "embedding": build_embedding,
    "embedding_backward": build_embedding_backward,
    "softmax_cross_entropy": build_softmax_cross_entropy,
    "bce_with_logits": build_bce_with_logits,
    "mse": build_mse,
    # attention
    "scaled_dot_product_attention": build_attention,
    "scaled_dot_product_attention_backward": build_attention_backward,
    # normalization
    "layer_norm": build_layer_norm,
    "layer_norm_backward": build_layer_norm_backward,
    "batch_norm": build_batch_norm,
    "batch_norm_backward": build_batch_norm_backward,
    # gru
    "gru_cell": build_gru_cell,
    "gru_cell_backward": build_gru_cell_backward,
    "gru_sequence": build_gru_sequence,
    "gru_sequence_backward": build_gru_sequence_backward,
}


# conv/pool breadth: transposed convolution, adaptive pooling
def transpose_geometry(c: Case) -> dict:
    stride = int(c.rng.integers(1, 3))
    return dict(stride=stride, padding=int(c.rng.integers(0, 2)), output_padding=int(c.rng.integers(0, stride)),
                dilation=int(c.rng.integers(1, 3)), groups=int(c.rng.choice([1, 1, 2])))


def transpose_shapes(c: Case, g: dict):
    n, cin, coutg = c.size(0, 3), g["groups"] * c.size(1, 3), c.size(1, 3)
    r, s = int(c.rng.integers(2, 4)), int(c.rng.integers(2, 4))  # 2+: the padding always fits
    return (n, cin, c.size(1, 7), c.size(1, 7)), (cin, coutg, r, s)


def build_conv_transpose2d(c: Case):
    g = transpose_geometry(c)
    xs, ws = transpose_shapes(c, g)
    c.kwargs = dict(x=c.layout(c.normal(*xs)), weight=c.layout(c.normal(*ws)),
                    bias=c.normal(ws[1] * g["groups"]) if c.rng.random() < 0.6 else None, **g)


def build_conv_transpose2d_backward(c: Case):
    g = transpose_geometry(c)
    xs, ws = transpose_shapes(c, g)
    x, w = c.normal(*xs), c.normal(*ws)
    grad_y = c.normal(*ops.conv_transpose2d(x, w, backend="numpy", **g).shape)
    c.kwargs = dict(x=c.layout(x), weight=w, grad_y=c.layout(grad_y), **g, input_grad=bool(c.rng.integers(2)),
                    weight_grad=bool(c.rng.integers(2)), bias_grad=bool(c.rng.integers(2)))


def adaptive_case(c: Case):
    x = c.normal(c.size(0, 3), c.size(1, 3), c.size(1, 9), c.size(1, 9))
    return x, (int(c.rng.integers(1, 6)), int(c.rng.integers(1, 6)))


def build_adaptive_avg_pool2d(c: Case):
    x, size = adaptive_case(c)
    c.kwargs = dict(x=c.layout(x), output_size=size)


def build_adaptive_avg_pool2d_backward(c: Case):
    x, size = adaptive_case(c)
    c.kwargs = dict(grad_y=c.layout(c.normal(*x.shape[:2], *size)), input_shape=x.shape)


def build_adaptive_max_pool2d(c: Case):
    x, size = adaptive_case(c)
    c.kwargs = dict(x=c.layout(x), output_size=size)


def build_adaptive_max_pool2d_backward(c: Case):
    x, size = adaptive_case(c)
    _, indices = ops.adaptive_max_pool2d(x, size, backend="numpy")
    c.kwargs = dict(grad_y=c.layout(c.normal(*indices.shape)), indices=indices, input_shape=x.shape)


KERNELS.update({
    "conv_transpose2d": build_conv_transpose2d,
    "conv_transpose2d_backward": build_conv_transpose2d_backward,
    "adaptive_avg_pool2d": build_adaptive_avg_pool2d,
    "adaptive_avg_pool2d_backward": build_adaptive_avg_pool2d_backward,
    "adaptive_max_pool2d": build_adaptive_max_pool2d,
    "adaptive_max_pool2d_backward": build_adaptive_max_pool2d_backward,
})


def test_every_kernel_is_fuzzed():
    assert sorted(KERNELS) == sorted(ops.__all__)


def make_case(kernel: str, index: int) -> Case:
    """Case `index` of `kernel`: valid for index 0, else one or two arguments spoiled."""
    case = Case(np.random.default_rng(zlib.crc32(kernel.encode()) + index))
    KERNELS[kernel](case)
    if index > 0:
        names = sorted(case.kwargs)
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # NaN cast to int, say
            warnings.simplefilter("ignore", RuntimeWarning)
            case.spoil(case.rng.choice(names, size=min(len(names), int(case.rng.integers(1, 3))), replace=False))
    return case


# ---- comparing answers ------------------------------------------------------------------------


def flatten(result) -> list:
    if isinstance(result, (tuple, list)):
        return [x for r in result for x in flatten(r)]
    return [result]


def non_finite(value) -> bool:
    """Whether an argument holds NaN or an infinity (arrays of up to 10^6 elements are looked at)."""
    if isinstance(value, (tuple, list)):
        return any(non_finite(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and value.size <= 10**6:
        return not np.isfinite(value).all()
    return False


def same_answer(got, want, tol: float, lenient: bool) -> str | None:
    """None when got matches want, else what differs. NaN and infinities must sit in the same
    places, unless `lenient` (the arguments held some): then only where the reference is finite
    must native be finite and close (skipping a product with a zero operand, as a null h0 does,
    gives 0 where the reference's 0 * inf gives NaN; PyTorch and BLAS skip it too)."""
    got, want = flatten(got), flatten(want)
    if len(got) != len(want):
        return f"{len(got)} results, the reference gives {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if g is None or w is None:
            if g is not w:
                return f"result {i}: {describe(g)}, the reference {describe(w)}"
            continue
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return f"result {i}: shape {g.shape}, the reference {w.shape}"
        if w.dtype.kind in "iub":
            if not np.array_equal(g, w):
                return f"result {i}: integers differ"
            continue
        g, w = g.astype(np.float64), w.astype(np.float64)
        finite = np.isfinite(w)
        if not lenient and not (np.array_equal(np.isnan(g), np.isnan(w))
                                and np.array_equal(g[~finite & ~np.isnan(w)], w[~finite & ~np.isnan(w)])):
            return f"result {i}: NaN or infinities differ"
        g, w = g[finite], w[finite]
        if not np.isfinite(g).all():
            return f"result {i}: non-finite values where the reference is finite"
        scale = max(float(np.abs(w).max()) if w.size else 0.0, 1.0)
        err = float(np.abs(g - w).max()) / scale if w.size else 0.0
        if err > tol:
            return f"result {i}: error {err:.2e} > {tol:.0e}"
    return None


def reference_answer(kernel: str, index: int):
    """(the reference's result, or the exception it raised, and the arguments it was given)."""
    reference = make_case(kernel, index)  # the same arguments, built again for the reference to use
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # inf - inf and the like: NaN, as native
            warnings.simplefilter("ignore", RuntimeWarning)
            return getattr(ops, kernel)(**reference.kwargs, backend="numpy"), reference
    except Exception as e:  # noqa: BLE001
        return e, reference


@pytest.mark.parametrize("index", range(CASES_PER_KERNEL))
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_hostile_arguments_give_a_clean_error_or_the_reference_answer(kernel, index):
    case = make_case(kernel, index)
    what = f"{kernel} case {index}: " + ("; ".join(case.notes) or "valid arguments")
    try:
        got, error = getattr(ops, kernel)(**case.kwargs, backend="cpu"), None
    except Exception as e:  # noqa: BLE001 - judged below
        got, error = None, e
    assert case.guards_intact(), f"{what}\n  native wrote outside its output"
    if isinstance(error, CLEAN):
        return
    want, reference = reference_answer(kernel, index)
    if error is not None:
        if type(want) is type(error) and str(want) == str(error):
            # raised by kiln.ops before either backend runs: the Python layer's, not the native code's
            pytest.xfail(f"{what}: kiln.ops raises {type(error).__name__} for both backends: {error}")
        pytest.fail(f"{what}\n  native raised {type(error).__name__}: {error}")
    if isinstance(want, Exception):
        pytest.fail(f"{what}\n  native answered where the reference raises {type(want).__name__}: {want}")
    if kernel == "lstm_pack_weights":  # a handle (None on the reference): compare the step it gives
        got, want = packed_cell_step(case.kwargs, got), packed_cell_step(reference.kwargs, None)
    if kernel == "adam_step":  # in place: compare the state
        got = [case.kwargs[k] for k in ("param", "exp_avg", "exp_avg_sq")]
        want = [reference.kwargs[k] for k in ("param", "exp_avg", "exp_avg_sq")]
    lenient = any(non_finite(v) for v in reference.kwargs.values())
    difference = same_answer(got, want, tol=1e-4, lenient=lenient)
    assert difference is None, f"{what}\n  {difference}"


@pytest.mark.parametrize("call", [
    lambda x: ops.relu(x),
    lambda x: ops.sigmoid_backward(x, x),
    lambda x: ops.matmul(x.reshape(-1, 1), np.ones((1, 1), np.float32)),
    lambda x: ops.mse(x, x),
], ids=["relu", "sigmoid_backward", "matmul", "mse"])
def test_an_oversized_broadcast_view_is_refused_before_it_is_copied(call):
    # A stride-0 view of 2^31 elements costs nothing; its float32 copy 8 GB (and ~10 s) before
    # the kernel refused it.
    import tracemalloc
    x = np.broadcast_to(np.float32(1), (2**31,))
    tracemalloc.start()
    try:
        with pytest.raises((ValueError, MemoryError), match="limit|elements"):
            call(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**26, f"{peak / 2**30:.1f} GB allocated"
