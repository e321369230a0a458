"""LSTM cell and sequence: native vs the float64 reference, the reference vs finite
differences and PyTorch, bad input, NaN, and thread-count independence."""

import numpy as np
import pytest
from conftest import NATIVE_BACKENDS, assert_close, f32, finite_difference_grad, reduction_tol

import kiln
from kiln import ops, reference

# (B, I, H): a single row and an empty batch, odd sizes that fit no SIMD width, one side long.
SHAPES = [(1, 1, 1), (0, 3, 17), (1, 17, 33), (5, 33, 3), (3, 130, 33), (2, 3, 130)]

CELL_GRADS = ("dx", "dh", "dc", "dw_ih", "dw_hh", "db")
SEQUENCE_OUTPUTS = ("y", "h_n", "c_n", "gates", "cells")
SEQUENCE_GRADS = ("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db")


def f64(x):
    return None if x is None else np.asarray(x, dtype=np.float64)


def lstm_weights(rng, inputs, hidden, bias=True):
    """w_ih, w_hh, b_ih, b_hh in float32, uniform(-1/sqrt(H), 1/sqrt(H)) as torch initialises."""
    scale = 1 / np.sqrt(max(hidden, 1))
    draw = lambda *shape: f32(rng.uniform(-scale, scale, shape))  # noqa: E731
    w_ih, w_hh = draw(4 * hidden, inputs), draw(4 * hidden, hidden)
    return w_ih, w_hh, (draw(4 * hidden) if bias else None), (draw(4 * hidden) if bias else None)


def normal(rng, *shape):
    return f32(rng.standard_normal(shape))


def cell_grad_tolerances(batch, hidden):
    """Per gradient: dx and dh reduce over the 4H gates, the weight gradients over B rows."""
    return {name: reduction_tol(k) for name, k in
            (("dx", 4 * hidden), ("dh", 4 * hidden), ("dc", 1), ("dw_ih", batch), ("dw_hh", batch),
             ("db", batch))}


def sequence_grad_tolerances(steps, batch, hidden):
    """Per gradient: those of the states reduce over 4H at each of T steps back, the weight
    gradients sum over T * B rows."""
    return {name: reduction_tol(k) for name, k in
            (("dx", steps * 4 * hidden), ("dh0", steps * 4 * hidden), ("dc0", steps * 4 * hidden),
             ("dw_ih", steps * batch), ("dw_hh", steps * batch), ("db", steps * batch))}


# ---- native vs the float64 reference --------------------------------------------------------


@pytest.mark.parametrize("batch,inputs,hidden", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_reference(batch, inputs, hidden, bias, backend, rng):
    x, h, c = normal(rng, batch, inputs), normal(rng, batch, hidden), normal(rng, batch, hidden)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, inputs, hidden, bias)
    got = ops.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, return_gates=True, backend=backend)
    want = reference.lstm_cell(*map(f64, (x, h, c, w_ih, w_hh, b_ih, b_hh)))
    for name, g, w in zip(("h_new", "c_new", "gates"), got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        assert_close(g, w, reduction_tol(inputs + hidden), name)

    # Both backwards start from the same float32 forward outputs, so only backward is compared.
    _, c_new, gates = (f32(a) for a in want)
    grad_h, grad_c = normal(rng, batch, hidden), normal(rng, batch, hidden)
    got = ops.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new, backend=backend)
    want = reference.lstm_cell_backward(*map(f64, (grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)))
    tolerances = cell_grad_tolerances(batch, hidden)
    for name, g, w in zip(CELL_GRADS, got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        assert_close(g, w, tolerances[name], name)


def sequence_inputs(rng, steps, batch, inputs, hidden, bias, initial_state):
    x = normal(rng, steps, batch, inputs)
    h0, c0 = (normal(rng, batch, hidden), normal(rng, batch, hidden)) if initial_state else (None, None)
    return (x, *lstm_weights(rng, inputs, hidden, bias), h0, c0)


@pytest.mark.parametrize("batch,inputs,hidden", SHAPES)
@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("initial_state", [True, False])
def test_sequence_matches_reference(batch, inputs, hidden, steps, bias, initial_state, backend, rng):
    args = sequence_inputs(rng, steps, batch, inputs, hidden, bias, initial_state)
    x, w_ih, w_hh, _, _, h0, c0 = args
    got = ops.lstm_sequence(*args, backend=backend)
    want = reference.lstm_sequence(*map(f64, args))
    for name, g, w in zip(SEQUENCE_OUTPUTS, got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        assert_close(g, w, reduction_tol(inputs + hidden), name)

    y, _, _, gates, cells = (f32(a) for a in want)
    grad_y, grad_h_n, grad_c_n = (normal(rng, steps, batch, hidden), normal(rng, batch, hidden),
                                  normal(rng, batch, hidden))
    backward_args = (grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
    got = ops.lstm_sequence_backward(*backward_args, backend=backend)
    want = reference.lstm_sequence_backward(*map(f64, backward_args))
    tolerances = sequence_grad_tolerances(steps, batch, hidden)
    for name, g, w in zip(SEQUENCE_GRADS, got, want):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        assert_close(g, w, tolerances[name], name)


def test_sequence_backward_with_each_upstream_gradient_absent(backend, rng):
    steps, batch, inputs, hidden = 4, 3, 5, 6
    args = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    x, w_ih, w_hh, _, _, h0, c0 = args
    y, _, _, gates, cells = (f32(a) for a in reference.lstm_sequence(*map(f64, args)))
    upstream = (normal(rng, steps, batch, hidden), normal(rng, batch, hidden), normal(rng, batch, hidden))
    for absent in range(3):
        grads = tuple(None if i == absent else g for i, g in enumerate(upstream))
        backward_args = (*grads, x, w_ih, w_hh, h0, c0, y, gates, cells)
        got = ops.lstm_sequence_backward(*backward_args, backend=backend)
        want = reference.lstm_sequence_backward(*map(f64, backward_args))
        tolerances = sequence_grad_tolerances(steps, batch, hidden)
        for name, g, w in zip(SEQUENCE_GRADS, got, want):
            assert_close(g, w, tolerances[name], f"{name} (grad {absent} absent)")


def test_empty_sequence_passes_the_state_through(backend, rng):
    args = sequence_inputs(rng, 0, 3, 4, 5, True, True)
    y, h_n, c_n, gates, cells = ops.lstm_sequence(*args, backend=backend)
    assert y.shape == (0, 3, 5) and gates.shape == (0, 3, 20) and cells.shape == (0, 3, 5)
    np.testing.assert_array_equal(h_n, args[5])
    np.testing.assert_array_equal(c_n, args[6])
    grad_h_n, grad_c_n = normal(rng, 3, 5), normal(rng, 3, 5)
    dx, dh0, dc0, dw_ih, dw_hh, db = ops.lstm_sequence_backward(
        None, grad_h_n, grad_c_n, args[0], args[1], args[2], args[5], args[6], y, gates, cells,
        backend=backend)
    np.testing.assert_array_equal(dh0, grad_h_n)
    np.testing.assert_array_equal(dc0, grad_c_n)
    assert dx.shape == (0, 3, 4)
    assert not dw_ih.any() and not dw_hh.any() and not db.any()


def test_sequence_equals_cell_steps(backend, rng):
    steps, batch, inputs, hidden = 5, 4, 9, 11
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    y, h_n, c_n, gates, cells = ops.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backend=backend)
    h, c = h0, c0
    for t in range(steps):
        h, c, step_gates = ops.lstm_cell(x[t], h, c, w_ih, w_hh, b_ih, b_hh, return_gates=True, backend=backend)
        assert_close(y[t], h, reduction_tol(inputs + hidden), f"y[{t}]")
        assert_close(cells[t], c, reduction_tol(inputs + hidden), f"cells[{t}]")
        assert_close(gates[t], step_gates, reduction_tol(inputs + hidden), f"gates[{t}]")
    assert_close(h_n, h, reduction_tol(inputs + hidden), "h_n")
    assert_close(c_n, c, reduction_tol(inputs + hidden), "c_n")

    grad_y = normal(rng, steps, batch, hidden)
    dx, dh0, dc0, dw_ih, dw_hh, db = ops.lstm_sequence_backward(
        grad_y, None, None, x, w_ih, w_hh, h0, c0, y, gates, cells, backend=backend)
    dh, dc = np.zeros((batch, hidden), np.float32), np.zeros((batch, hidden), np.float32)
    totals = [np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(4 * hidden, np.float32)]
    tolerances = sequence_grad_tolerances(steps, batch, hidden)
    for t in reversed(range(steps)):
        h_prev, c_prev = (y[t - 1], cells[t - 1]) if t else (h0, c0)
        dx_t, dh, dc, *weight_grads = ops.lstm_cell_backward(
            dh + grad_y[t], dc, x[t], h_prev, c_prev, w_ih, w_hh, gates[t], cells[t], backend=backend)
        assert_close(dx[t], dx_t, tolerances["dx"], f"dx[{t}]")
        totals = [total + g for total, g in zip(totals, weight_grads)]
    for name, got, want in zip(("dh0", "dc0", "dw_ih", "dw_hh", "db"), (dh0, dc0, dw_ih, dw_hh, db),
                               (dh, dc, *totals)):
        assert_close(got, want, tolerances[name], name)


@pytest.mark.parametrize("absent_bias", ["b_ih", "b_hh"])
def test_one_bias_alone(absent_bias, backend, rng):
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = sequence_inputs(rng, 3, 2, 5, 4, True, True)
    b_ih, b_hh = (None, b_hh) if absent_bias == "b_ih" else (b_ih, None)
    got = ops.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backend=backend)
    want = reference.lstm_sequence(*map(f64, (x, w_ih, w_hh, b_ih, b_hh, h0, c0)))
    for name, g, w in zip(SEQUENCE_OUTPUTS, got, want):
        assert_close(g, w, reduction_tol(5 + 4), name)


def test_float64_inputs_are_accepted(backend, rng):
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    w_ih, w_hh = rng.standard_normal((16, 3)) / 2, rng.standard_normal((16, 4)) / 2
    got = ops.lstm_cell(x, h, c, w_ih, w_hh, return_gates=True, backend=backend)
    want = reference.lstm_cell(x, h, c, w_ih, w_hh)
    for name, g, w in zip(("h_new", "c_new", "gates"), got, want):
        assert g.dtype == np.float32
        assert_close(g, w, reduction_tol(7), name)


def test_native_module_skips_outputs_passed_as_none(rng):
    from kiln import _C
    steps, batch, inputs, hidden = 3, 2, 5, 4
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    y, h_n, c_n = np.empty((steps, batch, hidden), np.float32), np.empty((batch, hidden), np.float32), \
        np.empty((batch, hidden), np.float32)
    _C.lstm_sequence_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, h_n, c_n, None, None)
    want = ops.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backend="cpu")
    for got, expected in zip((y, h_n, c_n), want):
        np.testing.assert_array_equal(got, expected)
    dw_hh = np.empty_like(w_hh)
    _C.lstm_sequence_backward(x, h0, c0, w_ih, w_hh, want[0], want[3], want[4], np.ones_like(y), None,
                              None, None, None, None, None, dw_hh, None)
    full = ops.lstm_sequence_backward(np.ones_like(y), None, None, x, w_ih, w_hh, h0, c0, want[0],
                                      want[3], want[4], backend="cpu")
    np.testing.assert_array_equal(dw_hh, full[4])


# ---- the reference against finite differences ---------------------------------------------


def assert_matches_finite_differences(loss, variables: dict, grads: dict) -> None:
    for name, variable in variables.items():
        assert_close(grads[name], finite_difference_grad(loss, variable), 1e-7, name)


@pytest.mark.parametrize("with_grad_c", [True, False])
def test_reference_cell_backward_matches_finite_differences(with_grad_c, rng):
    batch, inputs, hidden = 2, 3, 4
    x, h, c = rng.standard_normal((batch, inputs)), rng.standard_normal((batch, hidden)), \
        rng.standard_normal((batch, hidden))
    w_ih, w_hh, b_ih, b_hh = map(f64, lstm_weights(rng, inputs, hidden))
    grad_h = rng.standard_normal((batch, hidden))
    grad_c = rng.standard_normal((batch, hidden)) if with_grad_c else None

    def loss():
        h_new, c_new, _ = reference.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
        return np.sum(h_new * grad_h) + (np.sum(c_new * grad_c) if with_grad_c else 0.0)

    _, c_new, gates = reference.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    dx, dh, dc, dw_ih, dw_hh, db = reference.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh,
                                                                gates, c_new)
    assert_matches_finite_differences(
        loss, {"x": x, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh},
        {"x": dx, "h": dh, "c": dc, "w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db, "b_hh": db})


@pytest.mark.parametrize("initial_state", [True, False])
def test_reference_sequence_backward_matches_finite_differences(initial_state, rng):
    steps, batch, inputs, hidden = 3, 2, 3, 2
    x = rng.standard_normal((steps, batch, inputs))
    w_ih, w_hh, b_ih, b_hh = map(f64, lstm_weights(rng, inputs, hidden))
    h0 = rng.standard_normal((batch, hidden)) if initial_state else None
    c0 = rng.standard_normal((batch, hidden)) if initial_state else None
    grad_y, grad_h_n, grad_c_n = (rng.standard_normal((steps, batch, hidden)),
                                  rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden)))

    def loss():
        y, h_n, c_n, _, _ = reference.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0)
        return np.sum(y * grad_y) + np.sum(h_n * grad_h_n) + np.sum(c_n * grad_c_n)

    y, _, _, gates, cells = reference.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    dx, dh0, dc0, dw_ih, dw_hh, db = reference.lstm_sequence_backward(
        grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
    variables = {"x": x, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}
    grads = {"x": dx, "w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db, "b_hh": db}
    if initial_state:
        variables.update(h0=h0, c0=c0)
        grads.update(h0=dh0, c0=dc0)
    assert_matches_finite_differences(loss, variables, grads)


# ---- against PyTorch ---------------------------------------------------------------------------

ALL_BACKENDS = ["numpy", *NATIVE_BACKENDS]


def tolerance_against_torch(backend, native_tolerance):
    return 1e-12 if backend == "numpy" else native_tolerance


@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_cell_matches_torch(kiln_backend, rng):
    torch = pytest.importorskip("torch")
    batch, inputs, hidden = 3, 7, 5
    x, h, c = normal(rng, batch, inputs), normal(rng, batch, hidden), normal(rng, batch, hidden)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, inputs, hidden)
    cell = torch.nn.LSTMCell(inputs, hidden, dtype=torch.float64)
    with torch.no_grad():
        for param, value in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                                (w_ih, w_hh, b_ih, b_hh)):
            param.copy_(torch.from_numpy(f64(value)))
    tx, th, tc = (torch.tensor(f64(a), requires_grad=True) for a in (x, h, c))
    th_new, tc_new = cell(tx, (th, tc))
    grad_h, grad_c = normal(rng, batch, hidden), normal(rng, batch, hidden)
    loss = (th_new * torch.from_numpy(f64(grad_h))).sum() + (tc_new * torch.from_numpy(f64(grad_c))).sum()
    loss.backward()

    # float64 inputs holding float32 values: the NumPy path computes in float64, the native in float32.
    x, h, c, w_ih, w_hh, b_ih, b_hh, grad_h, grad_c = map(
        f64, (x, h, c, w_ih, w_hh, b_ih, b_hh, grad_h, grad_c))
    h_new, c_new, gates = ops.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, return_gates=True,
                                        backend=kiln_backend)
    tol = tolerance_against_torch(kiln_backend, reduction_tol(inputs + hidden))
    assert_close(h_new, th_new.detach().numpy(), tol, "h_new")
    assert_close(c_new, tc_new.detach().numpy(), tol, "c_new")
    grads = ops.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new, backend=kiln_backend)
    want = (tx.grad, th.grad, tc.grad, cell.weight_ih.grad, cell.weight_hh.grad, cell.bias_ih.grad)
    tolerances = cell_grad_tolerances(batch, hidden)
    for name, g, w in zip(CELL_GRADS, grads, want):
        assert_close(g, w.numpy(), tolerance_against_torch(kiln_backend, tolerances[name]), name)
    np.testing.assert_array_equal(cell.bias_ih.grad.numpy(), cell.bias_hh.grad.numpy())


@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_cell_returns_h_and_c_as_torch(kiln_backend):
    """ops.lstm_cell unpacks as torch.nn.LSTMCell's (h', c'); the gates only when asked for."""
    args = cell_args()
    h_new, c_new = ops.lstm_cell(**args, backend=kiln_backend)
    with_gates = ops.lstm_cell(**args, return_gates=True, backend=kiln_backend)
    assert len(with_gates) == 3 and with_gates[2].shape == (2, 16)
    np.testing.assert_array_equal(h_new, with_gates[0])
    np.testing.assert_array_equal(c_new, with_gates[1])
    assert h_new.shape == c_new.shape == (2, 4)


@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_sequence_matches_torch(kiln_backend, rng):
    torch = pytest.importorskip("torch")
    steps, batch, inputs, hidden = 6, 3, 5, 7
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    lstm = torch.nn.LSTM(inputs, hidden, num_layers=1, dtype=torch.float64)
    with torch.no_grad():
        for param, value in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0),
                                (w_ih, w_hh, b_ih, b_hh)):
            param.copy_(torch.from_numpy(f64(value)))
    tx = torch.tensor(f64(x), requires_grad=True)
    th0, tc0 = (torch.tensor(f64(a)[None], requires_grad=True) for a in (h0, c0))
    ty, (th_n, tc_n) = lstm(tx, (th0, tc0))
    grad_y, grad_h_n, grad_c_n = (normal(rng, steps, batch, hidden), normal(rng, batch, hidden),
                                  normal(rng, batch, hidden))
    loss = (ty * torch.from_numpy(f64(grad_y))).sum() + (th_n[0] * torch.from_numpy(f64(grad_h_n))).sum() \
        + (tc_n[0] * torch.from_numpy(f64(grad_c_n))).sum()
    loss.backward()

    x, w_ih, w_hh, b_ih, b_hh, h0, c0, grad_y, grad_h_n, grad_c_n = map(
        f64, (x, w_ih, w_hh, b_ih, b_hh, h0, c0, grad_y, grad_h_n, grad_c_n))
    y, h_n, c_n, gates, cells = ops.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0, backend=kiln_backend)
    tol = tolerance_against_torch(kiln_backend, reduction_tol(inputs + hidden))
    for name, got, want in (("y", y, ty), ("h_n", h_n, th_n[0]), ("c_n", c_n, tc_n[0])):
        assert_close(got, want.detach().numpy(), tol, name)
    grads = ops.lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells,
                                       backend=kiln_backend)
    want = (tx.grad, th0.grad[0], tc0.grad[0], lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad,
            lstm.bias_ih_l0.grad)
    tolerances = sequence_grad_tolerances(steps, batch, hidden)
    for name, g, w in zip(SEQUENCE_GRADS, grads, want):
        assert_close(g, w.numpy(), tolerance_against_torch(kiln_backend, tolerances[name]), name)


# ---- bad input: a clean error, nothing written ------------------------------------------------

BAD_DTYPES = [np.arange(12).reshape(3, 4), np.ones((3, 4), np.float16), np.array([[object()] * 4] * 3),
              np.array([["a"] * 4] * 3), None]
BAD_IDS = ["int", "float16", "object", "str", "None"]


def cell_args(batch=2, inputs=3, hidden=4):
    rng = np.random.default_rng(0)
    x, h, c = normal(rng, batch, inputs), normal(rng, batch, hidden), normal(rng, batch, hidden)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, inputs, hidden)
    return {"x": x, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh}


def sequence_args(steps=3, batch=2, inputs=3, hidden=4):
    args = cell_args(batch, inputs, hidden)
    x = np.stack([args.pop("x")] * steps)
    return {"x": x, "w_ih": args["w_ih"], "w_hh": args["w_hh"], "b_ih": args["b_ih"],
            "b_hh": args["b_hh"], "h0": args["h"], "c0": args["c"]}


@pytest.mark.parametrize("which,bad", [
    pytest.param(which, bad, id=f"{which}-{bad_id}")
    for which in ("x", "h", "c", "w_ih", "w_hh", "b_ih") for bad, bad_id in zip(BAD_DTYPES, BAD_IDS)
    if not (which == "b_ih" and bad is None)])  # an absent bias is valid
@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_cell_bad_dtype_is_type_error(which, bad, kiln_backend):
    args = cell_args()
    args[which] = bad
    with pytest.raises(TypeError, match=f"lstm_cell: {which} "):
        ops.lstm_cell(**args, backend=kiln_backend)


@pytest.mark.parametrize("bad", BAD_DTYPES[:4], ids=BAD_IDS[:4])
@pytest.mark.parametrize("which", ["x", "w_hh", "h0", "b_hh"])
@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_sequence_bad_dtype_is_type_error(bad, which, kiln_backend):
    args = sequence_args()
    args[which] = bad
    with pytest.raises(TypeError, match=f"lstm_sequence: {which} "):
        ops.lstm_sequence(**args, backend=kiln_backend)


@pytest.mark.parametrize("which", ["grad_h", "gates", "c_new"])
@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_cell_backward_bad_dtype_is_type_error(which, kiln_backend):
    args = cell_args()
    h_new, c_new, gates = ops.lstm_cell(**args, return_gates=True, backend="numpy")
    backward = {"grad_h": h_new, "grad_c": None, "x": args["x"], "h": args["h"], "c": args["c"],
                "w_ih": args["w_ih"], "w_hh": args["w_hh"], "gates": gates, "c_new": c_new}
    backward[which] = backward[which].astype(np.int32)
    with pytest.raises(TypeError, match=f"lstm_cell_backward: {which} "):
        ops.lstm_cell_backward(**backward, backend=kiln_backend)


CELL_BAD_SHAPES = [  # (argument, bad value, what the message names)
    ("x", np.ones(3, np.float32), "x"),
    ("x", np.ones((1, 2, 3), np.float32), "x"),
    ("w_hh", np.ones(16, np.float32), "w_hh"),
    ("w_hh", np.ones((16, 5), np.float32), "w_hh"),   # 4H != 4 * columns
    ("w_ih", np.ones((17, 3), np.float32), "w_ih"),   # 4H disagrees with w_hh
    ("w_ih", np.ones((16, 4), np.float32), "w_ih"),   # I disagrees with x
    ("b_ih", np.ones(15, np.float32), "b_ih"),
    ("b_hh", np.ones((16, 1), np.float32), "b_hh"),
    ("h", np.ones((3, 4), np.float32), "h"),           # batch differs from x
    ("c", np.ones((2, 5), np.float32), "c"),
]


@pytest.mark.parametrize("which,bad,named", CELL_BAD_SHAPES)
@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_cell_bad_shapes_are_value_errors(which, bad, named, kiln_backend):
    args = cell_args()
    args[which] = bad
    with pytest.raises(ValueError, match=f"lstm_cell: {named} "):
        ops.lstm_cell(**args, backend=kiln_backend)


SEQUENCE_BAD_SHAPES = [
    ("x", np.ones((2, 3), np.float32), "x"),
    ("w_ih", np.ones((16, 2), np.float32), "w_ih"),
    ("h0", np.ones((1, 4), np.float32), "h0"),
    ("c0", np.ones((2, 3), np.float32), "c0"),
    ("b_ih", np.ones(20, np.float32), "b_ih"),
]


@pytest.mark.parametrize("which,bad,named", SEQUENCE_BAD_SHAPES)
@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_sequence_bad_shapes_are_value_errors(which, bad, named, kiln_backend):
    args = sequence_args()
    args[which] = bad
    with pytest.raises(ValueError, match=f"lstm_sequence: {named} "):
        ops.lstm_sequence(**args, backend=kiln_backend)


@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_sequence_backward_bad_shapes_are_value_errors(kiln_backend):
    args = sequence_args()
    y, _, _, gates, cells = ops.lstm_sequence(**args, backend="numpy")
    good = {"grad_y": y, "grad_h_n": None, "grad_c_n": None, "x": args["x"], "w_ih": args["w_ih"],
            "w_hh": args["w_hh"], "h0": args["h0"], "c0": args["c0"], "y": y, "gates": gates,
            "cells": cells}
    for which, bad in (("grad_y", y[1:]), ("gates", cells), ("grad_c_n", y[0, :1]), ("cells", y[:, :, 1:])):
        with pytest.raises(ValueError, match=f"lstm_sequence_backward: {which} "):
            ops.lstm_sequence_backward(**{**good, which: bad}, backend=kiln_backend)


def native_cell_call():
    """Arguments of _C.lstm_cell_forward, outputs filled with a sentinel."""
    args = cell_args()
    batch, hidden = args["h"].shape
    outputs = {"h_new": np.full((batch, hidden), 7.0, np.float32),
               "c_new": np.full((batch, hidden), 7.0, np.float32),
               "gates": np.full((batch, 4 * hidden), 7.0, np.float32)}
    return {**args, **outputs}


def test_native_module_refuses_bad_outputs_and_writes_nothing():
    from kiln import _C
    for which in ("h_new", "gates"):
        call = native_cell_call()
        call[which].flags.writeable = False
        with pytest.raises(ValueError, match=f"lstm_cell_forward: {which} is read-only"):
            _C.lstm_cell_forward(**call)
        call = native_cell_call()
        call[which] = np.full(call[which].shape[::-1], 7.0, np.float32).T
        with pytest.raises(ValueError, match=f"lstm_cell_forward: {which} must be C-contiguous"):
            _C.lstm_cell_forward(**call)
        assert (call["h_new"] == 7).all() and (call["c_new"] == 7).all() and (call["gates"] == 7).all()
    call = native_cell_call()
    call["c_new"] = call["h"]
    with pytest.raises(ValueError, match="lstm_cell_forward: c_new shares memory with h"):
        _C.lstm_cell_forward(**call)
    call = native_cell_call()
    call["c_new"] = call["h_new"]
    with pytest.raises(ValueError, match="lstm_cell_forward: h_new shares memory with c_new"):
        _C.lstm_cell_forward(**call)
    call = native_cell_call()
    call["x"] = np.asfortranarray(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="lstm_cell_forward: x must be C-contiguous"):
        _C.lstm_cell_forward(**call)
    call = native_cell_call()
    call["w_ih"] = call["w_ih"].astype(np.float64)
    with pytest.raises(TypeError, match="lstm_cell_forward: w_ih must be a numpy.ndarray of float32"):
        _C.lstm_cell_forward(**call)
    call = native_cell_call()
    call["gates"] = np.zeros((2, 15), np.float32)
    with pytest.raises(ValueError,
                       match=r"lstm_cell_forward: gates must have shape \(2, 16\), got \(2, 15\)"):
        _C.lstm_cell_forward(**call)
    assert (call["h_new"] == 7).all() and (call["c_new"] == 7).all()


def huge_view(shape):
    """A C-contiguous float32 view of `shape` over one element: its size is real, its memory
    is not, so only code that refuses it before reading can be given it."""
    base = np.zeros(1, np.float32)
    strides = tuple(int(4 * np.prod(shape[i + 1:])) for i in range(len(shape)))
    return np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides, writeable=False)


@pytest.mark.parametrize("kiln_backend", ALL_BACKENDS)
def test_overflowing_sizes_are_refused(kiln_backend):
    inputs = 2**15 + 1
    x = np.broadcast_to(np.float32(0), (1, 2**16, inputs))  # 2**31 + 2**16 elements, none stored
    w_ih, w_hh = np.zeros((4, inputs), np.float32), np.zeros((4, 1), np.float32)
    with pytest.raises(ValueError, match="lstm_sequence: x would have .* more than kiln's limit"):
        ops.lstm_sequence(x, w_ih, w_hh, backend=kiln_backend)


def test_native_kernel_refuses_overflowing_sizes():
    from kiln import _C
    # An empty batch and sequence keep every other array empty, so no memory check
    # stands between the kernel and a w_hh of 2**32 elements.
    hidden = 2**15
    w_hh = huge_view((4 * hidden, hidden))
    assert w_hh.flags.c_contiguous and w_hh.size > 2**31
    empty = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="lstm_sequence_forward: w_hh has more than 2147483647 elements"):
        _C.lstm_sequence_forward(empty(0, 0, 0), None, None, empty(4 * hidden, 0), w_hh, None, None,
                                 empty(0, 0, hidden), empty(0, hidden), empty(0, hidden), None, None)
    with pytest.raises(ValueError, match="lstm_cell_backward: w_hh has more than 2147483647 elements"):
        _C.lstm_cell_backward(empty(0, 0), empty(0, hidden), empty(0, hidden), empty(4 * hidden, 0), w_hh,
                              empty(0, 4 * hidden), empty(0, hidden), empty(0, hidden), None, None, None,
                              None, None, None, None)


def test_nan_propagates_as_in_the_reference(backend, rng):
    args = sequence_inputs(rng, 3, 4, 5, 6, True, True)
    args[0][1, 0, 2] = np.nan  # x at step 1, row 0
    args[6][2, 3] = np.nan     # c0, row 2
    with np.errstate(invalid="ignore"):
        want = reference.lstm_sequence(*map(f64, args))
    got = ops.lstm_sequence(*args, backend=backend)
    for name, g, w in zip(SEQUENCE_OUTPUTS, got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=name)
        assert np.isnan(w).any() and not np.isnan(w).all(), name
        assert_close(g[~np.isnan(w)], w[~np.isnan(w)], reduction_tol(5 + 6), name)


# ---- thread count ---------------------------------------------------------------------------


def test_thread_count_does_not_change_result(rng):
    steps, batch, inputs, hidden = 5, 64, 96, 128
    args = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    x, w_ih, w_hh, _, _, h0, c0 = args
    upstream = (normal(rng, steps, batch, hidden), normal(rng, batch, hidden), normal(rng, batch, hidden))

    def run():
        forward = ops.lstm_sequence(*args, backend="cpu")
        y, _, _, gates, cells = forward
        backward = ops.lstm_sequence_backward(*upstream, x, w_ih, w_hh, h0, c0, y, gates, cells,
                                              backend="cpu")
        cell = ops.lstm_cell(x[0], h0, c0, *args[1:5], return_gates=True, backend="cpu")
        cell_backward = ops.lstm_cell_backward(upstream[1], upstream[2], x[0], h0, c0, w_ih, w_hh, cell[2],
                                               cell[1], backend="cpu")
        return (*forward, *backward, *cell, *cell_backward)

    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(1)
        one = run()
        kiln.set_num_threads(2)
        two = run()
    finally:
        kiln.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("steps,batch,inputs,hidden", [(1, 41, 5, 603), (3, 2, 3, 531)])
def test_thread_count_does_not_change_result_when_threads_split_a_row(steps, batch, inputs, hidden, rng):
    """41 rows of 603 units: the gate passes' work items (512-unit spans) split between two threads
    in the middle of a row, and a row ends in a partial vector."""
    args = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    x, w_ih, w_hh, _, _, h0, c0 = args
    grad_y = normal(rng, steps, batch, hidden)

    def run():
        y, h_n, c_n, gates, cells = ops.lstm_sequence(*args, backend="cpu")
        grads = ops.lstm_sequence_backward(grad_y, None, None, x, w_ih, w_hh, h0, c0, y, gates, cells,
                                           backend="cpu")
        return (y, h_n, c_n, gates, cells, *grads)

    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(1)
        one = run()
        kiln.set_num_threads(2)
        two = run()
    finally:
        kiln.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


# ---- the fused gate pass ---------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("steps,batch,inputs,hidden", [(1, 1, 3, 531), (4, 3, 2, 515), (2, 1, 1, 17)])
def test_gate_pass_edges_match_reference(steps, batch, inputs, hidden, threads, backend, rng):
    """H that is no multiple of 8 or 16 and crosses a 512-unit span, one row, one step; the
    sequences of more than one step multiply by W_hh packed once."""
    args = sequence_inputs(rng, steps, batch, inputs, hidden, True, True)
    x, w_ih, w_hh, _, _, h0, c0 = args
    before = kiln.get_num_threads()
    try:
        kiln.set_num_threads(threads)
        got = ops.lstm_sequence(*args, backend=backend)
        want = reference.lstm_sequence(*map(f64, args))
        for name, g, w in zip(SEQUENCE_OUTPUTS, got, want):
            assert_close(g, w, reduction_tol(inputs + hidden), name)
        y, _, _, gates, cells = (f32(a) for a in want)
        backward_args = (normal(rng, steps, batch, hidden), normal(rng, batch, hidden),
                         normal(rng, batch, hidden), x, w_ih, w_hh, h0, c0, y, gates, cells)
        got = ops.lstm_sequence_backward(*backward_args, backend=backend)
        want = reference.lstm_sequence_backward(*map(f64, backward_args))
        tolerances = sequence_grad_tolerances(steps, batch, hidden)
        for name, g, w in zip(SEQUENCE_GRADS, got, want):
            assert_close(g, w, tolerances[name], name)
    finally:
        kiln.set_num_threads(before)


def test_gate_nonlinearities_are_accurate_elementwise(backend, rng):
    """With zero weights the pre-activations are the bias: sigmoid and tanh of values from 1e-30
    to 80 in magnitude, each within a few float32 ulp of float64 (relative error 1e-6), and
    h_new = o * tanh(c_new) likewise where it is a normal float."""
    hidden = 1000
    magnitudes = np.concatenate([10.0 ** rng.uniform(-30, 0, 250), rng.uniform(0, 80, 250)])
    pre = f32(np.concatenate([magnitudes, -magnitudes, [0.0] * 4 * hidden])[:4 * hidden])
    pre = rng.permutation(pre)
    x, h = np.zeros((1, 1), np.float32), np.zeros((1, hidden), np.float32)
    c = normal(rng, 1, hidden) * 3
    w_ih, w_hh = np.zeros((4 * hidden, 1), np.float32), np.zeros((4 * hidden, hidden), np.float32)
    h_new, c_new, gates = ops.lstm_cell(x, h, c, w_ih, w_hh, pre, None, return_gates=True, backend=backend)

    p = f64(pre)
    sigmoid = 1 / (1 + np.exp(-p))
    want = np.concatenate([sigmoid[:2 * hidden], np.tanh(p[2 * hidden:3 * hidden]), sigmoid[3 * hidden:]])
    assert np.max(np.abs(gates[0] - want) / np.abs(want).clip(1e-300)) < 1e-6
    want_h = f64(gates[:, 3 * hidden:]) * np.tanh(f64(c_new))
    normal_h = np.abs(want_h) >= np.finfo(np.float32).tiny  # a tiny o times a tiny tanh underflows
    assert np.max(np.abs(h_new - want_h)[normal_h] / np.abs(want_h)[normal_h]) < 1e-6
