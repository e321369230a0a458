"""Property tests: every kiln.ops kernel, on every backend, equals the float64 reference for
random shapes, strides, paddings, dilations, groups, sequence lengths and Adam hyperparameters.

Hypothesis draws the arguments (and a seed for the values); each example runs the kernel on
the NumPy backend in float64 (the reference) and on every backend in float32, from operands
that are often views (transposed, sliced with a step, offset into a larger buffer), and
compares by relative Frobenius error under conftest's tolerances: ELEMENTWISE_TOL, or
reduction_tol(k) for a reduction over k terms. Where the reference refuses the arguments
(a ValueError), every backend must refuse them too. The examples are derandomized, so CI
runs the same ones every time; ``pytest --hypothesis-show-statistics`` counts them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import ELEMENTWISE_TOL, HOST_BACKENDS, assert_close, reduction_tol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kiln
from kiln import ops

BACKENDS = HOST_BACKENDS  # "numpy" (the reference's code in float32) and each native one of host arrays


def examples(n: int):
    """n derandomized examples, no deadline (a 2-core CI machine shared with other jobs)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ---- operands: values from a seed, laid out as views -------------------------------------------

seeds = st.integers(0, 2**32 - 1)
LAYOUTS = ("contiguous", "transposed", "stepped", "offset")


def values(rng, *shape, scale=1.0):
    """float32 normal values as an array (0-D included), which the reference reads in float64."""
    return np.asarray(scale * rng.standard_normal(shape), dtype=np.float32)


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in another memory layout: a view whose strides are not row-major."""
    if a.ndim == 0 or layout == "contiguous":
        return a
    if layout == "transposed":  # column-major storage, read through a transposed view
        return np.ascontiguousarray(a.T).T
    if layout == "stepped":  # every other element of the last axis of a wider buffer
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1] + 1,), a.dtype)
        wide[..., 1::2] = a
        return wide[..., 1::2]
    big = np.zeros((a.shape[0] + 3,) + a.shape[1:], a.dtype)  # offset: rows 2.. of a taller buffer
    big[2:2 + a.shape[0]] = a
    return big[2:2 + a.shape[0]]


def reference_operand(a):
    """The reference's copy of an operand: float arrays in float64 (contiguous), the rest as it is."""
    if isinstance(a, (np.ndarray, np.floating)) and a.dtype == np.float32:
        return np.array(a, dtype=np.float64)
    if isinstance(a, tuple):
        return tuple(reference_operand(v) for v in a)
    return a


def outputs(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def agree(call, args: tuple, tolerances, names=None, backends=BACKENDS):
    """call(*args, backend=b) for every backend equals the float64 reference within
    ``tolerances`` (one per output, None to skip one); both refuse alike."""
    try:
        want = outputs(call(*map(reference_operand, args), backend="numpy"))
    except ValueError:
        for name in backends:
            with pytest.raises(ValueError):
                call(*args, backend=name)
        return
    tolerances = tolerances if isinstance(tolerances, (list, tuple)) else [tolerances] * len(want)
    names = names or [f"output {i}" for i in range(len(want))]
    for name in backends:
        got = outputs(call(*args, backend=name))
        assert len(got) == len(want)
        for g, w, tol, what in zip(got, want, tolerances, names):
            if tol is None or w is None:
                assert (g is None) == (w is None), f"{what} on {name}"
                continue
            if type(w) is float:  # a loss: a Python float, NaN for a mean over nothing
                assert type(g) is float, f"{what} on {name}: {type(g).__name__}"
                if np.isnan(w):
                    assert np.isnan(g), f"{what} on {name}"
                else:
                    assert_close(g, w, tol, f"{what} on {name}")
                continue
            assert np.shape(g) == np.shape(w), f"{what} on {name}: shape {np.shape(g)} != {np.shape(w)}"
            if np.asarray(w).dtype.kind in "biu":
                np.testing.assert_array_equal(g, w, err_msg=f"{what} on {name}")
            else:
                assert np.asarray(g).dtype == np.float32, f"{what} on {name}: dtype {np.asarray(g).dtype}"
                assert_close(g, w, tol, f"{what} on {name}")


layouts = st.sampled_from(LAYOUTS)
ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")


# ---- matmul and linear_backward ----------------------------------------------------------------

@examples(400)
@given(m=st.integers(0, 96), k=st.integers(0, 96), n=st.integers(0, 96), batch=st.sampled_from([None, 1, 3]),
       b_batch=st.booleans(), transpose_a=st.booleans(), transpose_b=st.booleans(), bias=st.booleans(),
       activation=st.sampled_from(ACTIVATIONS), alpha=st.sampled_from([1.0, 0.5, -2.0]),
       beta=st.sampled_from([0.0, 1.0, 0.25]), layout_a=layouts, layout_b=layouts, seed=seeds)
def test_matmul(m, k, n, batch, b_batch, transpose_a, transpose_b, bias, activation, alpha, beta, layout_a,
                layout_b, seed):
    rng = np.random.default_rng(seed)
    lead = () if batch is None else (batch,)
    a = laid_out(values(rng, *lead, *((k, m) if transpose_a else (m, k))), layout_a)
    b_lead = lead if b_batch else ()
    b = laid_out(values(rng, *b_lead, *((n, k) if transpose_b else (k, n))), layout_b)
    c = values(rng, n) if bias else None
    prior = values(rng, *lead, m, n)

    def run(a, b, c, *, backend):
        return ops.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=c, activation=activation,
                          alpha=alpha, beta=beta, out=prior.copy() if beta else None, backend=backend)
    agree(run, (a, b, c), reduction_tol(k + 2))


@examples(250)
@given(m=st.integers(1, 24), inputs=st.integers(1, 24), out=st.integers(1, 24), out_by_in=st.booleans(),
       activation=st.sampled_from([None, "relu", "sigmoid", "tanh"]),
       wanted=st.tuples(st.booleans(), st.booleans(), st.booleans()), layout=layouts, seed=seeds)
def test_linear_backward(m, inputs, out, out_by_in, activation, wanted, layout, seed):
    rng = np.random.default_rng(seed)
    x, w, bias = values(rng, m, inputs), values(rng, out, inputs), values(rng, out)
    y = kiln.reference.matmul(x.astype(np.float64), w.astype(np.float64), transpose_b=True, bias=bias,
                              activation=activation).astype(np.float32)
    weight = w if out_by_in else np.ascontiguousarray(w.T)
    grad_y = laid_out(values(rng, m, out), layout)

    def run(x, weight, y, grad_y, *, backend):
        return ops.linear_backward(x, weight, y, grad_y, weight_is_out_by_in=out_by_in, activation=activation,
                                   input_grad=wanted[0], weight_grad=wanted[1], bias_grad=wanted[2], backend=backend)
    agree(run, (laid_out(x, layout), weight, y, grad_y), [reduction_tol(out), reduction_tol(m), reduction_tol(m)],
          ["dx", "dw", "db"])


# ---- conv2d ----------------------------------------------------------------------------------------

conv_geometry = st.fixed_dictionaries({
    "n": st.integers(1, 2), "groups": st.integers(1, 3), "c_per_group": st.integers(1, 3),
    "k_per_group": st.integers(1, 3), "h": st.integers(1, 16), "w": st.integers(1, 16), "r": st.integers(1, 3),
    "s": st.integers(1, 3), "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2))})


def conv_operands(g, rng):
    c, k = g["groups"] * g["c_per_group"], g["groups"] * g["k_per_group"]
    x = values(rng, g["n"], c, g["h"], g["w"])
    weight = values(rng, k, g["c_per_group"], g["r"], g["s"])
    hyper = {"stride": g["stride"], "padding": g["padding"], "dilation": g["dilation"], "groups": g["groups"]}
    out_hw = [(size + 2 * p - d * (f - 1) - 1) // st_ + 1 for size, p, d, f, st_ in
              zip((g["h"], g["w"]), g["padding"], g["dilation"], (g["r"], g["s"]), g["stride"])]
    return x, weight, hyper, out_hw


@examples(300)
@given(g=conv_geometry, bias=st.booleans(), layout=layouts, seed=seeds)
def test_conv2d(g, bias, layout, seed):
    rng = np.random.default_rng(seed)
    x, weight, hyper, _ = conv_operands(g, rng)
    b = values(rng, weight.shape[0]) if bias else None
    agree(lambda x, w, b, *, backend: ops.conv2d(x, w, b, **hyper, backend=backend),
          (laid_out(x, layout), weight, b), reduction_tol(weight[0].size + 1))


@examples(250)
@given(g=conv_geometry, wanted=st.tuples(st.booleans(), st.booleans(), st.booleans()), layout=layouts, seed=seeds)
def test_conv2d_backward(g, wanted, layout, seed):
    rng = np.random.default_rng(seed)
    x, weight, hyper, (oh, ow) = conv_operands(g, rng)
    grad_y = values(rng, g["n"], weight.shape[0], max(oh, 1), max(ow, 1))
    taps = weight.shape[2] * weight.shape[3]

    def run(x, w, grad_y, *, backend):
        return ops.conv2d_backward(x, w, grad_y, **hyper, input_grad=wanted[0], weight_grad=wanted[1],
                                   bias_grad=wanted[2], backend=backend)
    agree(run, (x, weight, laid_out(grad_y, layout)),
          [reduction_tol(g["k_per_group"] * taps), reduction_tol(g["n"] * oh * ow), reduction_tol(g["n"] * oh * ow)],
          ["grad_x", "grad_weight", "grad_bias"])


# ---- pooling ---------------------------------------------------------------------------------------

pool_geometry = st.fixed_dictionaries({
    "shape": st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
    "kernel_size": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "stride": st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    "padding": st.tuples(st.integers(0, 1), st.integers(0, 1)), "ceil_mode": st.booleans()})


@examples(300)
@given(g=pool_geometry, dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), layout=layouts, seed=seeds)
def test_max_pool2d_and_backward(g, dilation, layout, seed):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, *g["shape"]), layout)
    pool = {k: v for k, v in g.items() if k != "shape"}

    def forward(x, *, backend):
        return ops.max_pool2d(x, **pool, dilation=dilation, return_indices=True, backend=backend)
    agree(forward, (x,), [ELEMENTWISE_TOL, 0], ["y", "indices"])  # a maximum is exact; indices compared exactly
    try:
        y, indices = ops.max_pool2d(x, **pool, dilation=dilation, return_indices=True, backend="numpy")
    except ValueError:
        return
    grad_y = values(rng, *y.shape)
    taps = g["kernel_size"][0] * g["kernel_size"][1]
    agree(lambda g_, i, *, backend: ops.max_pool2d_backward(g_, i, g["shape"], backend=backend),
          (laid_out(grad_y, layout), indices), reduction_tol(taps))


@examples(300)
@given(g=pool_geometry, count_include_pad=st.booleans(), divisor=st.sampled_from([None, 1, 3, -2]),
       layout=layouts, seed=seeds)
def test_avg_pool2d_and_backward(g, count_include_pad, divisor, layout, seed):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, *g["shape"]), layout)
    pool = {k: v for k, v in g.items() if k != "shape"}
    pool.update(count_include_pad=count_include_pad, divisor_override=divisor)
    taps = g["kernel_size"][0] * g["kernel_size"][1]
    agree(lambda x, *, backend: ops.avg_pool2d(x, **pool, backend=backend), (x,), reduction_tol(taps))
    try:
        y = ops.avg_pool2d(x, **pool, backend="numpy")
    except ValueError:
        return
    grad_y = laid_out(values(rng, *y.shape), layout)
    agree(lambda g_, *, backend: ops.avg_pool2d_backward(g_, g["shape"], **pool, backend=backend), (grad_y,),
          reduction_tol(taps))


# ---- LSTM --------------------------------------------------------------------------------------------

def lstm_weights(rng, inputs, hidden, bias):
    scale = 1 / np.sqrt(hidden)
    draw = lambda *shape: rng.uniform(-scale, scale, shape).astype(np.float32)  # noqa: E731
    return draw(4 * hidden, inputs), draw(4 * hidden, hidden), (draw(4 * hidden) if bias else None), \
        (draw(4 * hidden) if bias else None)


@examples(250)
@given(batch=st.integers(1, 5), inputs=st.integers(1, 9), hidden=st.integers(1, 9), bias=st.booleans(),
       with_grad_c=st.booleans(), layout=layouts, seed=seeds)
def test_lstm_cell_and_backward(batch, inputs, hidden, bias, with_grad_c, layout, seed):
    rng = np.random.default_rng(seed)
    x, h, c = values(rng, batch, inputs), values(rng, batch, hidden), values(rng, batch, hidden)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, inputs, hidden, bias)
    forward = lambda *a, backend: ops.lstm_cell(*a, return_gates=True, backend=backend)  # noqa: E731
    agree(forward, (laid_out(x, layout), h, c, w_ih, w_hh, b_ih, b_hh), reduction_tol(inputs + hidden),
          ["h_new", "c_new", "gates"])
    # Weights packed once (lstm_pack_weights) give what packing on the call gives, bit for bit.
    assert ops.lstm_pack_weights(w_ih, w_hh, backend="numpy") is None
    packed = ops.lstm_pack_weights(w_ih, w_hh, backend="cpu")
    plain = forward(laid_out(x, layout), h, c, w_ih, w_hh, b_ih, b_hh, backend="cpu")
    for keep_gates in (True, False):
        got = ops.lstm_cell(laid_out(x, layout), h, c, w_ih, w_hh, b_ih, b_hh, return_gates=keep_gates,
                            packed=packed, backend="cpu")
        assert len(got) == 2 + keep_gates
        for g, w in zip(got, plain):
            np.testing.assert_array_equal(g, w)
    _, c_new, gates = (a.astype(np.float32) for a in
                       kiln.reference.lstm_cell(*map(reference_operand, (x, h, c, w_ih, w_hh, b_ih, b_hh))))
    grad_h, grad_c = values(rng, batch, hidden), (values(rng, batch, hidden) if with_grad_c else None)
    tol = {"dx": 4 * hidden, "dh": 4 * hidden, "dc": 1, "dw_ih": batch, "dw_hh": batch, "db": batch}
    agree(lambda *a, backend: ops.lstm_cell_backward(*a, backend=backend),
          (laid_out(grad_h, layout), grad_c, x, h, c, w_ih, w_hh, gates, c_new),
          [reduction_tol(k) for k in tol.values()], list(tol))


@examples(200)
@given(steps=st.integers(0, 7), batch=st.integers(1, 4), inputs=st.integers(1, 8), hidden=st.integers(1, 8),
       bias=st.sampled_from(["both", "b_ih", "none"]), initial_state=st.booleans(),
       upstream=st.tuples(st.booleans(), st.booleans(), st.booleans()), layout=layouts, seed=seeds)
def test_lstm_sequence_and_backward(steps, batch, inputs, hidden, bias, initial_state, upstream, layout, seed):
    rng = np.random.default_rng(seed)
    x = values(rng, steps, batch, inputs)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, inputs, hidden, bias != "none")
    if bias == "b_ih":
        b_hh = None
    h0, c0 = (values(rng, batch, hidden), values(rng, batch, hidden)) if initial_state else (None, None)
    args = (laid_out(x, layout), w_ih, w_hh, b_ih, b_hh, h0, c0)
    agree(lambda *a, backend: ops.lstm_sequence(*a, backend=backend), args, reduction_tol(inputs + hidden),
          ["y", "h_n", "c_n", "gates", "cells"])
    try:
        y, _, _, gates, cells = (a.astype(np.float32) for a in
                                 kiln.reference.lstm_sequence(*map(reference_operand, args)))
    except ValueError:
        return
    grad_y = values(rng, steps, batch, hidden) if upstream[0] else None
    grad_h_n = values(rng, batch, hidden) if upstream[1] else None
    grad_c_n = values(rng, batch, hidden) if upstream[2] else None
    back = steps * 4 * hidden
    tol = {"dx": back, "dh0": back, "dc0": back, "dw_ih": steps * batch, "dw_hh": steps * batch,
           "db": steps * batch}
    agree(lambda *a, backend: ops.lstm_sequence_backward(*a, backend=backend),
          (grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells),
          [reduction_tol(k) for k in tol.values()], list(tol))


# ---- GRU ---------------------------------------------------------------------------------------------

def gru_weights(rng, inputs, hidden, bias):
    scale = 1 / np.sqrt(hidden)
    draw = lambda *shape: rng.uniform(-scale, scale, shape).astype(np.float32)  # noqa: E731
    return draw(3 * hidden, inputs), draw(3 * hidden, hidden), (draw(3 * hidden) if bias else None), \
        (draw(3 * hidden) if bias else None)


@examples(200)
@given(steps=st.integers(0, 6), batch=st.integers(1, 4), inputs=st.integers(1, 8), hidden=st.integers(1, 8),
       bias=st.booleans(), initial_state=st.booleans(), upstream=st.tuples(st.booleans(), st.booleans()),
       layout=layouts, seed=seeds)
def test_gru_sequence_cell_and_backward(steps, batch, inputs, hidden, bias, initial_state, upstream, layout, seed):
    rng = np.random.default_rng(seed)
    x = values(rng, steps, batch, inputs)
    w_ih, w_hh, b_ih, b_hh = gru_weights(rng, inputs, hidden, bias)
    h0 = values(rng, batch, hidden) if initial_state else None
    args = (laid_out(x, layout), w_ih, w_hh, b_ih, b_hh, h0)
    agree(lambda *a, backend: ops.gru_sequence(*a, backend=backend), args, reduction_tol(inputs + hidden),
          ["y", "h_n", "gates"])
    y, _, gates = (a.astype(np.float32) for a in kiln.reference.gru_sequence(*map(reference_operand, args)))
    grad_y = values(rng, steps, batch, hidden) if upstream[0] else None
    grad_h_n = values(rng, batch, hidden) if upstream[1] else None
    back, rows = steps * 3 * hidden, steps * batch
    tol = {"dx": back, "dh0": back, "dw_ih": rows, "dw_hh": rows, "db_ih": rows, "db_hh": rows}
    agree(lambda *a, backend: ops.gru_sequence_backward(*a, backend=backend),
          (grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates), [reduction_tol(k) for k in tol.values()], list(tol))
    h, x0 = values(rng, batch, hidden), x[0] if steps else values(rng, batch, inputs)
    agree(lambda *a, backend: ops.gru_cell(*a, return_gates=True, backend=backend),
          (laid_out(x0, layout), h, w_ih, w_hh, b_ih, b_hh), reduction_tol(inputs + hidden), ["h_new", "gates"])
    cell_gates = kiln.reference.gru_cell(*map(reference_operand, (x0, h, w_ih, w_hh, b_ih, b_hh)))[1]
    tol = {"dx": 3 * hidden, "dh": 3 * hidden, "dw_ih": batch, "dw_hh": batch, "db_ih": batch, "db_hh": batch}
    agree(lambda *a, backend: ops.gru_cell_backward(*a, backend=backend),
          (laid_out(values(rng, batch, hidden), layout), x0, h, w_ih, w_hh, cell_gates.astype(np.float32)),
          [reduction_tol(k) for k in tol.values()], list(tol))


# ---- Adam -------------------------------------------------------------------------------------------

@examples(400)
@given(size=st.integers(1, 300), step=st.integers(1, 10_000), lr=st.floats(0.0, 0.1),
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.9999), eps=st.floats(1e-10, 1e-3),
       weight_decay=st.floats(0.0, 0.1), decoupled=st.booleans(), amsgrad=st.booleans(), maximize=st.booleans(),
       layout=layouts, seed=seeds)
def test_adam_step(size, step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize, layout, seed):
    rng = np.random.default_rng(seed)
    param, grad, exp_avg = values(rng, size), values(rng, size), values(rng, size, scale=0.1)
    exp_avg_sq = np.abs(values(rng, size, scale=0.1))
    max_sq = exp_avg_sq + np.abs(values(rng, size, scale=0.01)) if amsgrad else None
    grad_view = laid_out(grad[None], layout)[0]
    results = {}
    for name in ["reference", *BACKENDS]:
        dtype = np.float64 if name == "reference" else np.float32
        state = [np.array(a, dtype) for a in (param, exp_avg, exp_avg_sq)]
        max_state = None if max_sq is None else np.array(max_sq, dtype)
        ops.adam_step(state[0], grad.astype(np.float64) if name == "reference" else grad_view, *state[1:],
                      step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                      decoupled=decoupled, amsgrad=amsgrad, max_exp_avg_sq=max_state, maximize=maximize,
                      backend="numpy" if name == "reference" else name)
        results[name] = state + ([max_state] if amsgrad else [])
    for name in BACKENDS:
        for got, want, what in zip(results[name], results["reference"], ("param", "exp_avg", "exp_avg_sq", "max")):
            assert_close(got, want, ELEMENTWISE_TOL, f"{what} on {name}")


# ---- embedding and sparse_matmul -----------------------------------------------------------------------

@examples(250)
@given(num=st.integers(1, 20), dim=st.integers(1, 9), index_shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       padding_idx=st.one_of(st.none(), st.integers(-1, 0)), layout=layouts, seed=seeds)
def test_embedding_and_backward(num, dim, index_shape, padding_idx, layout, seed):
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, num, index_shape)
    weight = laid_out(values(rng, num, dim), layout)
    agree(lambda i, w, *, backend: ops.embedding(i, w, padding_idx, backend=backend), (indices, weight), 0.0)
    grad_out = laid_out(values(rng, *index_shape, dim), layout)
    agree(lambda i, g_, *, backend: ops.embedding_backward(i, g_, num, padding_idx, backend=backend),
          (indices, grad_out), reduction_tol(max(indices.size, 1)))


@examples(250)
@given(m=st.integers(0, 20), k=st.integers(0, 20), n=st.integers(0, 12), density=st.floats(0.0, 1.0),
       transpose_w=st.booleans(), bias=st.booleans(), beta=st.sampled_from([0.0, 1.0, 0.5]),
       layout=layouts, seed=seeds)
def test_sparse_matmul_and_backward_weight(m, k, n, density, transpose_w, bias, beta, layout, seed):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(seed)
    x = sparse.random(m, k, density=density, format="csr", dtype=np.float32, random_state=rng)
    w = laid_out(values(rng, *((n, k) if transpose_w else (k, n))), layout)
    c = values(rng, n) if bias else None
    prior_y, prior_w = values(rng, m, n), values(rng, *w.shape)

    def forward(w, c, *, backend):
        return ops.sparse_matmul(x if backend != "numpy" or w.dtype == np.float32 else x.astype(np.float64), w, c,
                                 transpose_w=transpose_w, beta=beta, out=prior_y.copy() if beta else None,
                                 backend=backend)
    agree(forward, (w, c), reduction_tol(k + 2))
    grad_y = laid_out(values(rng, m, n), layout)

    def backward(g_, *, backend):
        return ops.sparse_matmul_backward_weight(
            x if backend != "numpy" or g_.dtype == np.float32 else x.astype(np.float64), g_, transpose_w=transpose_w,
            beta=beta, out=prior_w.copy() if beta else None, backend=backend)
    agree(backward, (grad_y,), reduction_tol(m + 1))


# ---- losses ------------------------------------------------------------------------------------------

@examples(300)
@given(n=st.integers(0, 20), c=st.integers(1, 12), probabilities=st.booleans(), ignored=st.floats(0.0, 1.0),
       label_smoothing=st.sampled_from([0.0, 0.1, 1.0]), return_grad=st.booleans(),
       grad_scale=st.sampled_from([1.0, 0.5]), layout=layouts, seed=seeds)
def test_softmax_cross_entropy(n, c, probabilities, ignored, label_smoothing, return_grad, grad_scale, layout, seed):
    rng = np.random.default_rng(seed)
    logits = laid_out(values(rng, n, c, scale=3.0), layout)
    if probabilities:
        target = kiln.reference.softmax(rng.standard_normal((n, c))).astype(np.float32)
    else:
        target = np.where(rng.random(n) < ignored, 7, rng.integers(0, c, n))
    agree(lambda z, t, *, backend: ops.softmax_cross_entropy(z, t, ignore_index=7, label_smoothing=label_smoothing,
                                                             return_grad=return_grad, grad_scale=grad_scale,
                                                             backend=backend),
          (logits, target), [reduction_tol(n * c), reduction_tol(c)], ["loss", "grad"])


shapes = st.lists(st.integers(0, 7), min_size=0, max_size=4)


@examples(250)
@given(shape=shapes, pos_weight=st.booleans(), return_grad=st.booleans(), layout=layouts, seed=seeds)
def test_bce_with_logits_and_mse(shape, pos_weight, return_grad, layout, seed):
    rng = np.random.default_rng(seed)
    logits = laid_out(values(rng, *shape, scale=3.0), layout)
    target = laid_out(rng.random(shape).astype(np.float32), layout)
    weight = np.abs(values(rng, shape[-1])) if pos_weight and shape else None
    size = max(int(np.prod(shape)), 1)
    agree(lambda z, t, p, *, backend: ops.bce_with_logits(z, t, pos_weight=p, return_grad=return_grad,
                                                          backend=backend),
          (logits, target, weight), [reduction_tol(size), ELEMENTWISE_TOL], ["loss", "grad"])
    agree(lambda p, t, *, backend: ops.mse(p, t, return_grad=return_grad, backend=backend), (logits, target),
          [reduction_tol(size), ELEMENTWISE_TOL], ["loss", "grad"])


# ---- pointwise and softmax ---------------------------------------------------------------------------------

POINTWISE = {
    "relu": (ops.relu, ops.relu_backward, "x"), "sigmoid": (ops.sigmoid, ops.sigmoid_backward, "y"),
    "tanh": (ops.tanh, ops.tanh_backward, "y"),
    "gelu": (ops.gelu, ops.gelu_backward, "x"),
    "gelu_tanh": (lambda x, **kw: ops.gelu(x, "tanh", **kw), lambda g, x, **kw: ops.gelu_backward(g, x, "tanh", **kw),
                  "x"),
}


# gelu's far negative tail is below float32's relative resolution of the kernels' erfc
# (test_reference_gelu_is_accurate_in_the_negative_tail checks the reference itself there).
GELU_LOWEST = -6.0


@examples(400)
@given(op=st.sampled_from(sorted(POINTWISE)), shape=shapes, scale=st.sampled_from([1.0, 10.0]), layout=layouts,
       seed=seeds)
def test_activations_and_backward(op, shape, scale, layout, seed):
    rng = np.random.default_rng(seed)
    forward, backward, saved = POINTWISE[op]
    x0, grad_y = values(rng, *shape, scale=scale), laid_out(values(rng, *shape), layout)
    runs = [(BACKENDS, x0)]
    if op.startswith("gelu"):
        runs = [(BACKENDS, np.asarray(np.maximum(x0, np.float32(GELU_LOWEST))))]
    for names, x in runs:
        x = laid_out(x, layout)
        agree(lambda x, *, backend: forward(x, backend=backend), (x,), ELEMENTWISE_TOL, backends=names)
        keep = x if saved == "x" else np.asarray(forward(x.astype(np.float64), backend="numpy"), np.float32)
        agree(lambda g_, s, *, backend: backward(g_, s, backend=backend), (grad_y, keep), ELEMENTWISE_TOL,
              backends=names)


@examples(400)
@given(shape=st.lists(st.integers(0, 9), min_size=1, max_size=4), axis=st.integers(-4, 3), log=st.booleans(),
       scale=st.sampled_from([1.0, 30.0]), layout=layouts, seed=seeds)
def test_softmax_and_backward(shape, axis, log, scale, layout, seed):
    """The backward from a saturated softmax (scale 30) is ill-conditioned in any float32 code
    (y * (g - sum(g * y)) cancels to ~1 - y), so the backward runs on unsaturated ones."""
    rng = np.random.default_rng(seed)
    forward, backward = (ops.log_softmax, ops.log_softmax_backward) if log else (ops.softmax, ops.softmax_backward)
    x = laid_out(values(rng, *shape, scale=scale), layout)
    k = shape[axis] if -len(shape) <= axis < len(shape) else 1
    agree(lambda x, *, backend: forward(x, axis, backend=backend), (x,), reduction_tol(k))
    if scale != 1.0:
        return
    try:
        y = forward(x.astype(np.float64), axis, backend="numpy").astype(np.float32)
    except ValueError:
        return
    grad_y = laid_out(values(rng, *shape), layout)
    agree(lambda g_, y, *, backend: backward(g_, y, axis, backend=backend), (grad_y, y), reduction_tol(k))


@pytest.mark.parametrize("dtype,x", [(np.float32, -4.0), (np.float32, -6.0), (np.float64, -9.0)])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_reference_gelu_is_accurate_in_the_negative_tail(dtype, x, approximate):
    if approximate == "none":
        exact = x * 0.5 * math.erfc(-x / math.sqrt(2))
    else:
        exact = x / (1 + math.exp(-2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    got = float(ops.gelu(np.array(x, dtype), approximate, backend="numpy"))
    assert abs(got - exact) <= 1e-5 * abs(exact)


# ---- normalization --------------------------------------------------------------------------------------

def _dx_agrees(call, args, scale, tol, what):
    """dx of a normalization against the float64 reference, its error relative to the size of
    its terms (``scale``, rstd * grad_y): dx is their difference after projecting out the mean
    and xhat, which cancels to ~0 for two elements (or with eps ~ var), so dx's own norm is no
    yardstick."""
    want = call(*map(reference_operand, args), backend="numpy")[0]
    for name in BACKENDS:
        got = call(*args, backend=name)[0]
        err = np.linalg.norm(np.asarray(got, np.float64) - want) / max(np.linalg.norm(scale), 1e-30)
        assert err <= tol, f"{what} on {name}: error {err:.3e} relative to its terms > {tol:.1e}"

@examples(200)
@given(lead=st.lists(st.integers(0, 4), min_size=0, max_size=2), normalized=st.lists(st.integers(1, 40), min_size=1,
       max_size=2), affine=st.booleans(), eps=st.sampled_from([1e-5, 1e-3, 0.5]), shift=st.sampled_from([0.0, 5.0]),
       layout=layouts, seed=seeds)
def test_layer_norm_and_backward(lead, normalized, affine, eps, shift, layout, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(lead) + tuple(normalized)
    x = laid_out(values(rng, *shape, scale=2.0) + np.float32(shift), layout)
    w, b = (values(rng, *normalized), values(rng, *normalized)) if affine else (None, None)
    k = math.prod(normalized)
    agree(lambda x, w, b, *, backend: ops.layer_norm(x, tuple(normalized), w, b, eps, backend=backend), (x, w, b),
          [reduction_tol(k)] * 3, ["y", "mean", "rstd"])
    _, mean, rstd = ops.layer_norm(np.array(x, np.float64), tuple(normalized), w, b, eps, backend="numpy")
    g = laid_out(values(rng, *shape), layout)
    rows = max(math.prod(lead), 1)
    backward = lambda g, x, m, r, w, *, backend: ops.layer_norm_backward(  # noqa: E731
        g, x, m, r, tuple(normalized), w, backend=backend)
    args = (g, x, mean.astype(np.float32), rstd.astype(np.float32), w)
    agree(backward, args, [None, reduction_tol(rows), reduction_tol(rows)], ["dx", "dweight", "dbias"])
    terms = np.asarray(g, np.float64) * (w if w is not None else 1.0) * rstd.reshape(tuple(lead) + (1,) * len(normalized))
    _dx_agrees(backward, args, terms, reduction_tol(k), "dx")


@examples(200)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4), axis=st.sampled_from([1, -1]),
       training=st.booleans(), affine=st.booleans(), shift=st.sampled_from([0.0, 5.0]), layout=layouts, seed=seeds)
def test_batch_norm_and_backward(shape, axis, training, affine, shift, layout, seed):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, *shape, scale=2.0) + np.float32(shift), layout)
    c = shape[axis]
    w, b = (values(rng, c), values(rng, c)) if affine else (None, None)
    rm, rv = values(rng, c), np.abs(values(rng, c)) + np.float32(0.5)
    count = math.prod(shape) // c
    agree(lambda x, w, b, rm, rv, *, backend: ops.batch_norm(x, w, b, rm, rv, training, 1e-3, axis, backend=backend),
          (x, w, b, rm, rv), [reduction_tol(count)] * 4, ["y", "save_mean", "save_invstd", "batch_var"])
    if training and count <= 1:
        return
    _, mean, invstd, _ = ops.batch_norm(np.array(x, np.float64), w, b, rm, rv, training, 1e-3, axis,
                                        backend="numpy")
    g = laid_out(values(rng, *shape), layout)
    backward = lambda g, x, m, s, w, *, backend: ops.batch_norm_backward(  # noqa: E731
        g, x, m, s, w, training, axis, backend=backend)
    args = (g, x, mean.astype(np.float32), invstd.astype(np.float32), w)
    agree(backward, args, [None, reduction_tol(count), reduction_tol(count)], ["dx", "dweight", "dbias"])
    per_channel = [1] * len(shape)
    per_channel[axis] = c
    terms = np.asarray(g, np.float64) * (invstd * (w if w is not None else 1.0)).reshape(per_channel)
    _dx_agrees(backward, args, terms, reduction_tol(count), "dx")


def test_every_kernel_has_a_property():
    tested = {"matmul", "linear_backward", "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
              "avg_pool2d", "avg_pool2d_backward", "lstm_cell", "lstm_cell_backward", "lstm_pack_weights", "lstm_sequence",
              "lstm_sequence_backward", "adam_step", "embedding", "embedding_backward", "sparse_matmul",
              "sparse_matmul_backward_weight", "softmax_cross_entropy", "bce_with_logits", "mse", "relu",
              "relu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "gelu", "gelu_backward",
              "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
              # attention
              "scaled_dot_product_attention", "scaled_dot_product_attention_backward"}
    tested |= {"layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"}  # normalization
    tested |= {"conv_transpose2d", "conv_transpose2d_backward", "adaptive_avg_pool2d",  # conv/pool breadth
               "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward"}
    tested |= {"gru_cell", "gru_cell_backward", "gru_sequence", "gru_sequence_backward"}  # gru
    assert set(ops.__all__) <= tested, set(ops.__all__) - tested


# attention
@examples(60)
@given(b=st.integers(1, 2), h=st.integers(1, 3), tq=st.integers(1, 80), tk=st.integers(1, 80),
       d=st.integers(1, 20), dv=st.integers(1, 20), causal=st.booleans(), scale=st.sampled_from([None, 0.2, 1.0]),
       layout=layouts, seed=seeds)
def test_scaled_dot_product_attention_and_backward(b, h, tq, tk, d, dv, causal, scale, layout, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (laid_out(values(rng, b, h, t, n), layout) for t, n in ((tq, d), (tk, d), (tk, dv)))
    tol = reduction_tol(tk * max(d, dv))
    agree(lambda q, k, v, *, backend: ops.scaled_dot_product_attention(q, k, v, causal, scale, backend=backend),
          (q, k, v), (tol, tol))
    out, lse = (np.asarray(a, np.float32) for a in ops.scaled_dot_product_attention(
        q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), causal, scale, backend="numpy"))
    dout = laid_out(values(rng, b, h, tq, dv), layout)
    args = (dout, q, k, v, out, lse)
    want = ops.scaled_dot_product_attention_backward(*map(reference_operand, args), causal, scale, backend="numpy")
    # dS = P * (dP - delta) cancels where a row's probabilities concentrate (exactly, with one key),
    # so dq and dk are judged against the size of the terms they sum: scale * max|dP| * max|k or q|
    s = 1 / math.sqrt(d) if scale is None else scale
    dp_max = float(np.abs(np.asarray(dout, np.float64) @ np.swapaxes(np.asarray(v, np.float64), -1, -2)).max())
    for name in BACKENDS:
        got = ops.scaled_dot_product_attention_backward(*args, causal, scale, backend=name)
        for i, (g, w, other) in enumerate(zip(got, want, (k, q, None))):
            g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
            if other is None:
                assert_close(g, w, tol, f"dv on {name}")
                continue
            size = float(np.abs(w).max()) + s * dp_max * float(np.abs(other).max())
            assert float(np.abs(g - w).max()) <= tol * size, f"output {i} on {name}"


# ---- conv/pool breadth: transposed convolution, adaptive pooling ---------------------------------

transpose_geometry = st.fixed_dictionaries({
    "n": st.integers(1, 2), "groups": st.integers(1, 2), "c_per_group": st.integers(1, 3),
    "k_per_group": st.integers(1, 3), "h": st.integers(1, 7), "w": st.integers(1, 7), "r": st.integers(1, 3),
    "s": st.integers(1, 3), "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "padding": st.tuples(st.integers(0, 1), st.integers(0, 1)), "extra": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2))})


@examples(150)
@given(g=transpose_geometry, bias=st.booleans(), wanted=st.tuples(st.booleans(), st.booleans(), st.booleans()),
       layout=layouts, seed=seeds)
def test_conv_transpose2d_and_backward(g, bias, wanted, layout, seed):
    rng = np.random.default_rng(seed)
    c, k = g["groups"] * g["c_per_group"], g["groups"] * g["k_per_group"]
    x = values(rng, g["n"], c, g["h"], g["w"])
    weight = values(rng, c, g["k_per_group"], g["r"], g["s"])
    b = values(rng, k) if bias else None
    hyper = {"stride": g["stride"], "padding": g["padding"], "dilation": g["dilation"], "groups": g["groups"],
             "output_padding": tuple(e % s for e, s in zip(g["extra"], g["stride"]))}
    taps = g["r"] * g["s"]
    agree(lambda x, w, b, *, backend: ops.conv_transpose2d(x, w, b, **hyper, backend=backend),
          (laid_out(x, layout), weight, b), reduction_tol(c * taps + 1))
    try:
        y = ops.conv_transpose2d(x, weight, b, **hyper, backend="numpy")
    except ValueError:
        return
    grad_y = values(rng, *y.shape)

    def run(x, w, grad_y, *, backend):
        return ops.conv_transpose2d_backward(x, w, grad_y, **hyper, input_grad=wanted[0], weight_grad=wanted[1],
                                             bias_grad=wanted[2], backend=backend)
    pixels = g["n"] * y.shape[2] * y.shape[3]
    agree(run, (x, weight, laid_out(grad_y, layout)),
          [reduction_tol(g["k_per_group"] * taps), reduction_tol(pixels), reduction_tol(pixels)],
          ["grad_x", "grad_weight", "grad_bias"])


adaptive_geometry = st.fixed_dictionaries({
    "shape": st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)),
    "size": st.tuples(st.integers(1, 8), st.integers(1, 8))})


@examples(150)
@given(g=adaptive_geometry, layout=layouts, seed=seeds)
def test_adaptive_pools_and_backward(g, layout, seed):
    rng = np.random.default_rng(seed)
    x = laid_out(values(rng, *g["shape"]), layout)
    h, w = g["shape"][2:]
    window = (-(-h // g["size"][0]) + 1) * (-(-w // g["size"][1]) + 1)
    agree(lambda x, *, backend: ops.adaptive_avg_pool2d(x, g["size"], backend=backend), (x,), reduction_tol(window))
    agree(lambda x, *, backend: ops.adaptive_max_pool2d(x, g["size"], backend=backend), (x,),
          [ELEMENTWISE_TOL, 0], ["y", "indices"])
    grad_y = laid_out(values(rng, *g["shape"][:2], *g["size"]), layout)
    overlap = (g["size"][0] // h + 2) * (g["size"][1] // w + 2)
    agree(lambda g_, *, backend: ops.adaptive_avg_pool2d_backward(g_, g["shape"], backend=backend), (grad_y,),
          reduction_tol(overlap))
    _, indices = ops.adaptive_max_pool2d(x, g["size"], backend="numpy")
    agree(lambda g_, i, *, backend: ops.adaptive_max_pool2d_backward(g_, i, g["shape"], backend=backend),
          (grad_y, indices), reduction_tol(overlap))
