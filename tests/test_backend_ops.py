"""Every primitive and every kernel of the backend interface, on every backend, against the
reference (ggml's test-backend-ops, in kiln's terms).

Each case makes fresh random inputs of odd shapes, runs the backend's method on that backend's
own arrays, and compares with the reference backend in float64 by relative Frobenius error.
Outputs written in place are views into larger buffers whose guard values must survive; the
reference's backward kernels are checked against central finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import finite_difference_grad, rel_error
from kiln import backends
from toy_backend import ToyBackend

TOY = ToyBackend()
GUARD = np.float32(-1234.5)
BACKENDS = backends.names() + ["toy"]


def backend_named(name):
    return TOY if name == "toy" else backends.get(name)


@pytest.fixture(params=BACKENDS)
def be(request):
    if request.param == "toy":
        backends.register(TOY, default=False)
        yield TOY
        backends.unregister("toy")
    else:
        yield backends.get(request.param)


def on(be, x):
    """A NumPy value as ``be``'s array (float32 for a float32-only backend); others pass through."""
    if isinstance(x, np.ndarray):
        if x.dtype == np.float64 and getattr(be, "float32_only", False):
            x = x.astype(np.float32)
        return be.from_numpy(x)
    if isinstance(x, tuple):
        return tuple(on(be, v) for v in x)
    if isinstance(x, list):
        return [on(be, v) for v in x]
    return x


def host(be, x):
    if isinstance(x, tuple):
        return tuple(host(be, v) for v in x)
    if x is None or isinstance(x, (float, int, bool, np.generic)):
        return x
    return np.asarray(be.to_numpy(x))


def f32(rng, *shape):
    """float32 values held in float64: both paths see the same numbers."""
    return rng.standard_normal(shape).astype(np.float32).astype(np.float64)


def check(name, be, call, args, tol):
    ref = backends.get("numpy")
    want = host(ref, call(ref, *args))
    got = host(be, call(be, *on(be, args)))
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        if w is None:
            assert g is None, name
            continue
        assert np.shape(g) == np.shape(w), f"{name}: shape {np.shape(g)} != {np.shape(w)}"
        if np.asarray(w).dtype.kind in "biu":
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            assert rel_error(g, w) <= tol, f"{name} on {be.name}: relative error {rel_error(g, w):.2e} > {tol}"


# ---- primitives -----------------------------------------------------------------------------

SHAPE = (3, 5, 7)


def _primitive_cases(rng):
    a, b = f32(rng, *SHAPE), f32(rng, 5, 1)
    pos = np.abs(a) + 0.5
    mask = a > 0
    idx = rng.integers(0, 5, (3, 2, 7))
    return {
        "astype": (lambda be, a: be.astype(a, np.float64), (a,)),
        "copy": (lambda be, a: be.copy(a), (a,)),
        **{op: (lambda be, a, b, op=op: getattr(be, op)(a, b), (a, b)) for op in
           ("add", "subtract", "multiply", "maximum", "minimum", "equal", "not_equal", "less", "less_equal",
            "greater", "greater_equal")},
        "divide": (lambda be, a, b: be.divide(a, b), (a, pos[0, :, :1])),
        "power": (lambda be, a, b: be.power(a, b), (pos, b)),
        "scalar operand": (lambda be, a: be.multiply(be.add(a, 2.5), -1.5), (a,)),
        "logical_and": (lambda be, m, n: be.logical_and(m, n), (mask, ~mask[:1])),
        "logical_or": (lambda be, m, n: be.logical_or(m, n), (mask, ~mask[:1])),
        "logical_not": (lambda be, m: be.logical_not(m), (mask,)),
        **{op: (lambda be, a, op=op: getattr(be, op)(a), (a,)) for op in ("negative", "exp", "abs", "sign", "round")},
        "log": (lambda be, a: be.log(a), (pos,)),
        "sqrt": (lambda be, a: be.sqrt(a), (pos,)),
        "clip": (lambda be, a: be.clip(a, -0.5, 0.25), (a,)),
        "where": (lambda be, m, a, b: be.where(m, a, b), (mask, a, b)),
        **{f"{op} axis {axis}": (lambda be, a, op=op, axis=axis: getattr(be, op)(a, axis, axis == 1), (a,))
           for op in ("sum", "max", "min", "argmax", "argmin") for axis in (None, 1, -1)},
        "unbroadcast": (lambda be, g: be.unbroadcast(g, (5, 1)), (a,)),
        "reshape": (lambda be, a: be.reshape(a, (15, 7)), (a,)),
        "transpose": (lambda be, a: be.transpose(a, (2, 0, 1)), (a,)),
        "broadcast_to": (lambda be, b: be.broadcast_to(b, (3, 5, 4)), (b,)),
        "contiguous": (lambda be, a: be.contiguous(be.transpose(a, (1, 0, 2))), (a,)),
        "concatenate": (lambda be, a, c: be.concatenate([a, c], 1), (a, f32(rng, 3, 2, 7))),
        "stack": (lambda be, a, c: be.stack([a, c], 1), (a, f32(rng, *SHAPE))),
        "tile": (lambda be, b: be.tile(b, (2, 1, 3)), (b,)),
        "pad": (lambda be, a: be.pad(a, ((0, 0), (1, 2), (3, 0)), -1.0), (a,)),
        "getitem": (lambda be, a: be.getitem(a, (slice(1, 3), 2)), (a,)),
        "take_along_axis": (lambda be, a, i: be.take_along_axis(a, i, 1), (a, idx)),
        "empty shape": (lambda be: be.full((2, 0, 3), 1.0, np.float32), ()),
        "arange": (lambda be: be.arange(2, 11, 3, np.int64), ()),
    }


PRIMITIVE_NAMES = list(_primitive_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("case", PRIMITIVE_NAMES)
def test_primitive(be, case, rng):
    call, args = _primitive_cases(rng)[case]
    check(case, be, call, args, tol=1e-6)


def _guarded(be, shape):
    """A zero output of ``shape`` on ``be`` that is a view into a buffer ending in guard values."""
    size = int(np.prod(shape))
    buffer = be.from_numpy(np.concatenate([np.zeros(size, np.float32), np.full(7, GUARD)]))
    return buffer, be.reshape(be.getitem(buffer, slice(0, size)), shape)


def _guards_intact(be, buffer, size) -> bool:
    return bool((host(be, buffer)[size:] == GUARD).all())


@pytest.mark.parametrize("op", ["copy_into", "fill", "add_into", "setitem", "index_add", "put_along_axis"])
def test_in_place_primitive_writes_only_its_output(be, op, rng):
    shape = (4, 3)
    src = f32(rng, *shape).astype(np.float32)
    idx = np.array([[0, 2, 1], [1, 1, 0], [2, 0, 0], [0, 1, 2]])
    updates = {
        "copy_into": lambda be, out: be.copy_into(out, on(be, src)),
        "fill": lambda be, out: be.fill(out, 2.5),
        "add_into": lambda be, out: be.add_into(out, on(be, src)),
        "setitem": lambda be, out: be.setitem(out, (slice(1, 3), 1), 7.0),
        "index_add": lambda be, out: be.index_add(out, (np.array([0, 0, 3]), np.array([1, 1, 2])), on(be, src[0])),
        "put_along_axis": lambda be, out: be.put_along_axis(out, on(be, idx[:, :1]), on(be, src[:, :1]), 1),
    }
    results = []
    for backend in (backends.get("numpy"), be):
        buffer, out = _guarded(backend, shape)
        updates[op](backend, out)
        assert _guards_intact(backend, buffer, 12), f"{op} on {backend.name} wrote past its output"
        results.append(host(backend, out))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


def test_every_primitive_is_covered():
    covered = {name.split(" ")[0] for name in PRIMITIVE_NAMES} | {
        "from_numpy", "to_numpy", "empty", "full", "copy_into", "fill", "add_into", "setitem", "index_add",
        "put_along_axis", "logical_and"}
    assert set(backends.PRIMITIVES) <= covered, set(backends.PRIMITIVES) - covered


# ---- kernels ------------------------------------------------------------------------------------


def _kernel_cases(rng):
    x, w, bias = f32(rng, 7, 13), f32(rng, 11, 13), f32(rng, 11)
    y = np.maximum(x @ w.T + bias, 0)
    images, filters = f32(rng, 2, 3, 9, 7), f32(rng, 5, 3, 3, 2)
    conv = ((1, 2), (1, 0), (1, 1), 1)
    pool_x = f32(rng, 2, 3, 7, 9)
    seq, hidden = f32(rng, 4, 3, 5), 6
    w_ih, w_hh, b4 = f32(rng, 4 * hidden, 5) * 0.3, f32(rng, 4 * hidden, hidden) * 0.3, f32(rng, 4 * hidden)
    h0, c0 = f32(rng, 3, hidden), f32(rng, 3, hidden)
    lstm = backends.get("numpy").lstm_sequence(seq, w_ih, w_hh, b4, None, h0, c0)
    cell = backends.get("numpy").lstm_cell(seq[0], h0, c0, w_ih, w_hh, b4, b4)
    indices = rng.integers(0, 9, (3, 4))
    csr = (f32(rng, 6), np.array([0, 4, 2, 4, 1, 0]), np.array([0, 2, 2, 5, 6]), (4, 5))
    labels = rng.integers(0, 11, 7)
    logits = f32(rng, 7, 11)
    # gru
    g_ih, g_hh, g_b, g_b2 = (f32(rng, 3 * hidden, 5) * 0.3, f32(rng, 3 * hidden, hidden) * 0.3, f32(rng, 3 * hidden),
                             f32(rng, 3 * hidden))
    gru = backends.get("numpy").gru_sequence(seq, g_ih, g_hh, g_b, g_b2, h0)
    gru_plain = backends.get("numpy").gru_sequence(seq, g_ih, g_hh, None, None, None)
    gru_cell = backends.get("numpy").gru_cell(seq[0], h0, g_ih, g_hh, g_b, g_b2)
    return {
        "matmul": (lambda be, a, b, c: be.matmul(a, b, False, True, c, "relu", 1.0, 0.0, None), (x, w, bias)),
        "matmul batched": (lambda be, a, b: be.matmul(a, b, True, False, None, None, 0.5, 0.0, None),
                           (f32(rng, 2, 13, 7), f32(rng, 13, 3))),
        "linear_backward": (lambda be, *a: be.linear_backward(*a, True, "relu", True, True, True),
                            (x, w, y, f32(rng, 7, 11))),
        "conv2d": (lambda be, a, b, c: be.conv2d(a, b, c, *conv, (2, 5, 9, 3)), (images, filters, f32(rng, 5))),
        "conv2d_backward": (lambda be, a, b, g: be.conv2d_backward(a, b, g, *conv, True, True, True),
                            (images, filters, f32(rng, 2, 5, 9, 3))),
        "max_pool2d": (lambda be, a: be.max_pool2d(a, (3, 2), (2, 2), (1, 1), (1, 1), True, True, (2, 3, 4, 5)),
                       (pool_x,)),
        "max_pool2d_backward": (lambda be, g, i: be.max_pool2d_backward(g, i, (2, 3, 7, 9)),
                                (f32(rng, 2, 3, 4, 5), rng.integers(0, 63, (2, 3, 4, 5)))),
        "avg_pool2d": (lambda be, a: be.avg_pool2d(a, (3, 3), (2, 2), (1, 1), False, False, 0, (2, 3, 4, 5)),
                       (pool_x,)),
        "avg_pool2d_backward": (lambda be, g: be.avg_pool2d_backward(g, (2, 3, 7, 9), (3, 3), (2, 2), (1, 1), False,
                                                                     True, 0), (f32(rng, 2, 3, 4, 5),)),
        "lstm_sequence": (lambda be, *a: be.lstm_sequence(*a), (seq, w_ih, w_hh, b4, None, h0, c0)),
        "lstm_sequence_backward": (lambda be, *a: be.lstm_sequence_backward(*a),
                                   (f32(rng, 4, 3, hidden), f32(rng, 3, hidden), None, seq, w_ih, w_hh, h0, c0,
                                    lstm[0], lstm[3], lstm[4])),
        "lstm_cell": (lambda be, *a: be.lstm_cell(*a), (seq[0], h0, c0, w_ih, w_hh, b4, b4)),
        "lstm_cell_backward": (lambda be, *a: be.lstm_cell_backward(*a),
                               (f32(rng, 3, hidden), f32(rng, 3, hidden), seq[0], h0, c0, w_ih, w_hh, cell[2],
                                cell[1])),
        "adam_step": None,  # in place: test_adam_step_on_every_backend
        "embedding": (lambda be, i, w: be.embedding(i, w, None), (indices, f32(rng, 9, 4))),
        "embedding_backward": (lambda be, i, g: be.embedding_backward(i, g, 9, 2), (indices, f32(rng, 3, 4, 4))),
        "sparse_matmul": (lambda be, w, c: be.sparse_matmul(csr, w, c, False, 0.0, None), (f32(rng, 5, 3), f32(rng, 3))),
        "sparse_matmul_backward_weight": (lambda be, g: be.sparse_matmul_backward_weight(csr, g, True, 0.0, None),
                                          (f32(rng, 4, 3),)),
        "softmax_cross_entropy": (lambda be, z, t: be.softmax_cross_entropy(z, t, 3, 0.1, True, 1.0),
                                  (logits, labels)),
        "bce_with_logits": (lambda be, z, t, p: be.bce_with_logits(z, t, p, True, 2.0),
                            (logits, rng.random((7, 11)), np.abs(f32(rng, 11)))),
        "mse": (lambda be, p, t: be.mse(p, t, True, 1.0), (logits, f32(rng, 7, 11))),
        **{f"activation {a}": (lambda be, v, a=a: be.activation(a, v, None), (logits,))
           for a in ("relu", "sigmoid", "tanh", "gelu", "gelu_tanh")},
        **{f"activation_backward {a}": (lambda be, g, v, a=a: be.activation_backward(a, g, v, None), (x, x))
           for a in ("relu", "gelu")},
        "softmax": (lambda be, v: be.softmax(v, 0, True, None), (logits,)),
        "softmax_backward": (lambda be, g, v: be.softmax_backward(g, v, 1, False, None),
                             (logits, backends.get("numpy").softmax(logits, 1, False, None))),
        # attention: odd T, Tq != Tk, D != Dv, causal on and off (kept small for the emulated device)
        **_attention_cases(rng),
        # normalization
        **_norm_cases(rng),
        # gru
        "gru_sequence": (lambda be, *a: be.gru_sequence(*a), (seq, g_ih, g_hh, g_b, g_b2, h0)),
        "gru_sequence plain": (lambda be, *a: be.gru_sequence(*a), (seq, g_ih, g_hh, None, None, None)),
        "gru_sequence_backward": (lambda be, *a: be.gru_sequence_backward(*a),
                                  (f32(rng, 4, 3, hidden), f32(rng, 3, hidden), seq, g_ih, g_hh, h0, gru[0], gru[2])),
        "gru_sequence_backward plain": (lambda be, *a: be.gru_sequence_backward(*a),
                                        (f32(rng, 4, 3, hidden), None, seq, g_ih, g_hh, None, gru_plain[0],
                                         gru_plain[2])),
        "gru_cell": (lambda be, *a: be.gru_cell(*a), (seq[0], h0, g_ih, g_hh, g_b, g_b2)),
        "gru_cell_backward": (lambda be, *a: be.gru_cell_backward(*a),
                              (f32(rng, 3, hidden), seq[0], h0, g_ih, g_hh, gru_cell[1])),
    }


def _norm_cases(rng):
    """layer norm on (7, 13) and a block-per-row (3, 1030); batch norm on (3, 5, 7) (NCHW-like)
    and channels-last (37, 6, 1); with and without the affine vectors, odd eps."""
    ref = backends.get("numpy")
    rows, wide = f32(rng, 7, 13) * 3 + 1, f32(rng, 3, 1030)
    w13, b13 = f32(rng, 13), f32(rng, 13)
    _, mean, rstd = ref.layer_norm(rows, w13, b13, 1e-5)
    _, wide_mean, wide_rstd = ref.layer_norm(wide, None, None, 0.1)
    planar, last = f32(rng, 3, 5, 7) * 2 - 1, f32(rng, 37, 6, 1) + 2
    w5, b5, _w6 = f32(rng, 5), f32(rng, 5), f32(rng, 6)
    running_mean, running_var = f32(rng, 5), np.abs(f32(rng, 5)) + 0.5
    _, p_mean, p_invstd, _ = ref.batch_norm(planar, w5, b5, None, None, True, 1e-5)
    _, l_mean, l_invstd, _ = ref.batch_norm(last, None, None, None, None, True, 1e-3)
    inv_running = 1.0 / np.sqrt(running_var + 1e-5)
    return {
        "layer_norm": (lambda be, *a: be.layer_norm(*a, 1e-5), (rows, w13, b13)),
        "layer_norm no-affine wide": (lambda be, a: be.layer_norm(a, None, None, 0.1), (wide,)),
        "layer_norm weight-only": (lambda be, a, w: be.layer_norm(a, w, None, 1e-5), (rows, w13)),
        "layer_norm_backward": (lambda be, *a: be.layer_norm_backward(*a),
                                (f32(rng, 7, 13), rows, mean, rstd, w13)),
        "layer_norm_backward no-affine wide": (lambda be, *a: be.layer_norm_backward(*a, None),
                                               (f32(rng, 3, 1030), wide, wide_mean, wide_rstd)),
        "batch_norm training": (lambda be, *a: be.batch_norm(*a, None, None, True, 1e-5), (planar, w5, b5)),
        "batch_norm inference": (lambda be, *a: be.batch_norm(*a, False, 1e-5),
                                 (planar, w5, b5, running_mean, running_var)),
        "batch_norm channels-last no-affine": (lambda be, a: be.batch_norm(a, None, None, None, None, True, 1e-3),
                                               (last,)),
        "batch_norm_backward training": (lambda be, *a: be.batch_norm_backward(*a, True),
                                         (f32(rng, 3, 5, 7), planar, p_mean, p_invstd, w5)),
        "batch_norm_backward inference": (lambda be, *a: be.batch_norm_backward(*a, False),
                                          (f32(rng, 3, 5, 7), planar, running_mean, inv_running, w5)),
        "batch_norm_backward channels-last no-affine": (lambda be, *a: be.batch_norm_backward(*a, None, True),
                                                        (f32(rng, 37, 6, 1), last, l_mean, l_invstd)),
    }


def _attention_cases(rng):
    ref, cases = backends.get("numpy"), {}
    for label, (b, h, tq, tk, d, dv), causal, scale in (("", (2, 2, 37, 29, 5, 7), False, 0.4),
                                                          (" causal", (1, 3, 33, 40, 16, 3), True, 0.25),
                                                          (" causal Tq>Tk", (2, 1, 39, 17, 8, 8), True, 0.35)):
        q, k, v = f32(rng, b, h, tq, d), f32(rng, b, h, tk, d), f32(rng, b, h, tk, dv)
        out, lse = ref.scaled_dot_product_attention(q, k, v, causal, scale)
        cases[f"scaled_dot_product_attention{label}"] = (
            lambda be, *a, c=causal, s=scale: be.scaled_dot_product_attention(*a, c, s), (q, k, v))
        cases[f"scaled_dot_product_attention_backward{label}"] = (
            lambda be, *a, c=causal, s=scale: be.scaled_dot_product_attention_backward(*a, c, s),
            (f32(rng, b, h, tq, dv), q, k, v, out, lse))
    return cases


KERNEL_NAMES = list(_kernel_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("case", [k for k in KERNEL_NAMES if k != "adam_step"])
def test_kernel(be, case, rng):
    call, args = _kernel_cases(rng)[case]
    check(case, be, call, args, tol=1e-5 * 8)


def test_every_kernel_is_covered():
    assert set(backends.KERNELS) <= {name.split(" ")[0] for name in KERNEL_NAMES}


@pytest.mark.parametrize("op", ["matmul", "activation", "softmax"])
def test_kernel_outputs_stay_inside_out(be, op, rng):
    a, b = f32(rng, 5, 6), f32(rng, 6, 3)
    calls = {"matmul": (lambda be, out: be.matmul(on(be, a), on(be, b), False, False, None, None, 1.0, 0.0, out), (5, 3)),
             "activation": (lambda be, out: be.activation("tanh", on(be, a), out), (5, 6)),
             "softmax": (lambda be, out: be.softmax(on(be, a), 1, False, out), (5, 6))}
    call, shape = calls[op]
    buffer, out = _guarded(be, shape)
    result = call(be, out)
    assert _guards_intact(be, buffer, int(np.prod(shape)))
    assert rel_error(host(be, result), host(be, out)) == 0.0


def test_adam_step_on_every_backend(be, rng):
    state = [f32(rng, 37).astype(np.float32) for _ in range(3)] + [np.abs(f32(rng, 37)).astype(np.float32)]
    results = []
    for backend in (backends.get("numpy"), be):
        param, grad, m, v = (on(backend, s.copy()) for s in state)
        backend.adam_step(param, grad, m, v, None, 3, 1e-2, 0.9, 0.999, 1e-8, 0.01, True, False, False)
        results.append([host(backend, a) for a in (param, m, v)])
    for got, want in zip(results[1], results[0]):
        assert rel_error(got, want) <= 1e-6


# ---- the reference's backward kernels against finite differences -------------------------------


def test_reference_backward_kernels_match_finite_differences(rng):
    ref = backends.get("numpy")
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    up = rng.standard_normal((3, 5))
    y = ref.matmul(x, w, False, True, None, "tanh", 1.0, 0.0, None)
    dx, dw, _ = ref.linear_backward(x, w, y, up, True, "tanh", True, True, False)
    forward = lambda: float((ref.matmul(x, w, False, True, None, "tanh", 1.0, 0.0, None) * up).sum())  # noqa: E731
    assert rel_error(dx, finite_difference_grad(forward, x)) < 1e-7
    assert rel_error(dw, finite_difference_grad(forward, w)) < 1e-7
    images, filters = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3))
    up = rng.standard_normal((1, 3, 3, 2))
    conv = ((2, 1), (1, 0), (1, 1), 1)
    gx, gw, gb = ref.conv2d_backward(images, filters, up, *conv, True, True, True)
    forward = lambda: float((ref.conv2d(images, filters, None, *conv, None) * up).sum())  # noqa: E731
    assert rel_error(gx, finite_difference_grad(forward, images)) < 1e-7
    assert rel_error(gw, finite_difference_grad(forward, filters)) < 1e-7
    pool = rng.standard_normal((1, 2, 5, 5))
    up = rng.standard_normal((1, 2, 3, 3))
    got = ref.avg_pool2d_backward(up, (1, 2, 5, 5), (3, 3), (2, 2), (1, 1), False, False, 0)
    forward = lambda: float((ref.avg_pool2d(pool, (3, 3), (2, 2), (1, 1), False, False, 0, None) * up).sum())  # noqa: E731
    assert rel_error(got, finite_difference_grad(forward, pool)) < 1e-7


# attention
@pytest.mark.parametrize("causal", [False, True])
def test_reference_attention_backward_matches_finite_differences(rng, causal):
    ref = backends.get("numpy")
    q, k, v = rng.standard_normal((1, 2, 5, 3)), rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((1, 2, 4, 2))
    up = rng.standard_normal((1, 2, 5, 2))
    out, lse = ref.scaled_dot_product_attention(q, k, v, causal, 0.7)
    dq, dk, dv = ref.scaled_dot_product_attention_backward(up, q, k, v, out, lse, causal, 0.7)
    forward = lambda: float((ref.scaled_dot_product_attention(q, k, v, causal, 0.7)[0] * up).sum())  # noqa: E731
    for got, x in ((dq, q), (dk, k), (dv, v)):
        assert rel_error(got, finite_difference_grad(forward, x)) < 1e-7

# ---- normalization: the reference's backward kernels against finite differences ------------


def test_reference_norm_backward_kernels_match_finite_differences(rng):
    ref = backends.get("numpy")
    x, w, b = rng.standard_normal((3, 5)) * 2 + 1, rng.standard_normal(5), rng.standard_normal(5)
    up = rng.standard_normal((3, 5))
    _, mean, rstd = ref.layer_norm(x, w, b, 1e-3)
    dx, dw, db = ref.layer_norm_backward(up, x, mean, rstd, w)
    forward = lambda: float((ref.layer_norm(x, w, b, 1e-3)[0] * up).sum())  # noqa: E731
    for got, wrt in ((dx, x), (dw, w), (db, b)):
        assert rel_error(got, finite_difference_grad(forward, wrt)) < 1e-7
    dx_plain, _, _ = ref.layer_norm_backward(up, x, mean, rstd, None)
    plain = lambda: float((ref.layer_norm(x, None, None, 1e-3)[0] * up).sum())  # noqa: E731
    assert rel_error(dx_plain, finite_difference_grad(plain, x)) < 1e-7

    planar, wc, bc = rng.standard_normal((4, 3, 2)) + 0.5, rng.standard_normal(3), rng.standard_normal(3)
    up = rng.standard_normal((4, 3, 2))
    rm, rv = rng.standard_normal(3), np.abs(rng.standard_normal(3)) + 0.5
    for training in (True, False):
        _, sm, si, _ = ref.batch_norm(planar, wc, bc, rm, rv, training, 1e-3)
        dx, dw, db = ref.batch_norm_backward(up, planar, sm, si, wc, training)
        forward = lambda: float((ref.batch_norm(planar, wc, bc, rm, rv, training, 1e-3)[0] * up).sum())  # noqa: E731
        for got, wrt in ((dx, planar), (dw, wc), (db, bc)):
            assert rel_error(got, finite_difference_grad(forward, wrt)) < 1e-7, training


# ---- conv/pool breadth: transposed convolution, adaptive pooling --------------------------------

# (x shape, weight shape, stride, padding, output_padding, dilation, groups): odd sizes,
# strides with an output_padding, dilation, groups.
_TRANSPOSE_GEOMETRIES = {
    "plain": ((2, 3, 5, 4), (3, 2, 3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1),
    "strided": ((2, 4, 3, 5), (4, 3, 3, 2), (2, 3), (1, 0), (1, 2), (1, 1), 1),
    "dilated-groups": ((1, 4, 4, 3), (4, 1, 2, 3), (2, 1), (0, 1), (1, 0), (2, 1), 2),
}


def _transpose_output(x_shape, w_shape, stride, padding, output_padding, dilation, groups):
    from kiln.reference import conv_transpose2d_output_size
    return (x_shape[0], w_shape[1] * groups) + tuple(
        conv_transpose2d_output_size(x_shape[2 + a], w_shape[2 + a], stride[a], padding[a], output_padding[a],
                                     dilation[a]) for a in (0, 1))


def _conv_pool_cases(rng):
    cases = {}
    for name, (xs, ws, st, pd, op, dl, g) in _TRANSPOSE_GEOMETRIES.items():
        out = _transpose_output(xs, ws, st, pd, op, dl, g)
        cases[f"conv_transpose2d {name}"] = (
            lambda be, a, b, c, st=st, pd=pd, op=op, dl=dl, g=g, out=out:
                be.conv_transpose2d(a, b, c, st, pd, op, dl, g, out), (f32(rng, *xs), f32(rng, *ws), f32(rng, out[1])))
        cases[f"conv_transpose2d_backward {name}"] = (
            lambda be, a, b, y, st=st, pd=pd, dl=dl, g=g:
                be.conv_transpose2d_backward(a, b, y, st, pd, dl, g, True, True, True),
            (f32(rng, *xs), f32(rng, *ws), f32(rng, *out)))
    # (input, output size): shrinking unevenly, global, growing (overlapping windows), a warp per window.
    for name, (shape, size) in {"uneven": ((2, 3, 7, 5), (3, 2)), "global": ((2, 3, 6, 9), (1, 1)),
                                "growing": ((1, 2, 3, 4), (5, 7)), "wide": ((1, 2, 13, 40), (2, 3))}.items():
        x = f32(rng, *shape)
        x[0, 0, 1, 1:3] = 9.0  # a tie: the first maximum wins
        grad = f32(rng, *shape[:2], *size)
        _, indices = backends.get("numpy").adaptive_max_pool2d(x, size)
        cases[f"adaptive_avg_pool2d {name}"] = (lambda be, a, size=size: be.adaptive_avg_pool2d(a, size),
                                                (x,))
        cases[f"adaptive_avg_pool2d_backward {name}"] = (
            lambda be, g, shape=shape: be.adaptive_avg_pool2d_backward(g, shape), (grad,))
        cases[f"adaptive_max_pool2d {name}"] = (lambda be, a, size=size: be.adaptive_max_pool2d(a, size), (x,))
        cases[f"adaptive_max_pool2d_backward {name}"] = (
            lambda be, g, i, shape=shape: be.adaptive_max_pool2d_backward(g, i, shape), (grad, indices))
    return cases


KERNEL_NAMES += list(_conv_pool_cases(np.random.default_rng(0)))


@pytest.mark.parametrize("case", list(_conv_pool_cases(np.random.default_rng(0))))
def test_conv_pool_kernel(be, case, rng):
    call, args = _conv_pool_cases(rng)[case]
    check(case, be, call, args, tol=1e-5 * 8)


@pytest.mark.parametrize("geometry", _TRANSPOSE_GEOMETRIES.values(), ids=_TRANSPOSE_GEOMETRIES.keys())
def test_reference_conv_transpose2d_backward_matches_finite_differences(geometry, rng):
    ref = backends.get("numpy")
    xs, ws, st, pd, op, dl, g = geometry
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[1] * g)
    up = rng.standard_normal(_transpose_output(*geometry))
    gx, gw, gb = ref.conv_transpose2d_backward(x, w, up, st, pd, dl, g, True, True, True)
    forward = lambda: float((ref.conv_transpose2d(x, w, b, st, pd, op, dl, g, None) * up).sum())  # noqa: E731
    assert rel_error(gx, finite_difference_grad(forward, x)) < 1e-7
    assert rel_error(gw, finite_difference_grad(forward, w)) < 1e-7
    assert rel_error(gb, finite_difference_grad(forward, b)) < 1e-7


@pytest.mark.parametrize("shape, size", [((1, 2, 7, 5), (3, 2)), ((1, 2, 3, 4), (5, 7)), ((2, 1, 4, 6), (1, 1))])
def test_reference_adaptive_pool_backward_matches_finite_differences(shape, size, rng):
    ref = backends.get("numpy")
    x = rng.standard_normal(shape)
    up = rng.standard_normal(shape[:2] + size)
    forward = lambda: float((ref.adaptive_avg_pool2d(x, size) * up).sum())  # noqa: E731
    assert rel_error(ref.adaptive_avg_pool2d_backward(up, shape), finite_difference_grad(forward, x)) < 1e-7
    _, indices = ref.adaptive_max_pool2d(x, size)  # distinct values: the max is differentiable
    forward = lambda: float((ref.adaptive_max_pool2d(x, size)[0] * up).sum())  # noqa: E731
    assert rel_error(ref.adaptive_max_pool2d_backward(up, indices, shape), finite_difference_grad(forward, x)) < 1e-7
# gru
def test_reference_gru_backward_kernels_match_finite_differences(rng):
    ref = backends.get("numpy")
    steps, batch, inputs, hidden = 3, 2, 4, 3
    x = rng.standard_normal((steps, batch, inputs))
    w_ih, w_hh = rng.standard_normal((3 * hidden, inputs)) * 0.5, rng.standard_normal((3 * hidden, hidden)) * 0.5
    b_ih, b_hh, h0 = (rng.standard_normal(3 * hidden), rng.standard_normal(3 * hidden),
                      rng.standard_normal((batch, hidden)))
    gy, gh = rng.standard_normal((steps, batch, hidden)), rng.standard_normal((batch, hidden))

    def forward():
        y, h_n, _ = ref.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0)
        return float((y * gy).sum() + (h_n * gh).sum())
    y, _, gates = ref.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0)
    grads = ref.gru_sequence_backward(gy, gh, x, w_ih, w_hh, h0, y, gates)
    for got, wrt in zip(grads, (x, h0, w_ih, w_hh, b_ih, b_hh)):
        assert rel_error(got, finite_difference_grad(forward, wrt)) < 1e-7

    up = rng.standard_normal((batch, hidden))
    cell = lambda: float((ref.gru_cell(x[0], h0, w_ih, w_hh, b_ih, b_hh)[0] * up).sum())  # noqa: E731
    grads = ref.gru_cell_backward(up, x[0], h0, w_ih, w_hh, ref.gru_cell(x[0], h0, w_ih, w_hh, b_ih, b_hh)[1])
    for got, wrt in zip(grads, (x[0], h0, w_ih, w_hh, b_ih, b_hh)):
        assert rel_error(got, finite_difference_grad(cell, wrt)) < 1e-7
