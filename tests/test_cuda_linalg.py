"""The CUDA backend's GEMM-shaped kernels beyond what test_backend_ops covers.

matmul on odd and edge sizes (1, 7, 33, 130; k = 0), all four transposes, every fused
activation, alpha / beta, batches with a broadcast operand, transposed views and other
dtypes, ``out`` written in place, and the opt-in TF32 path
(``kiln.backends.cuda.matmul.allow_tf32``) against a product of TF32-rounded inputs;
linear_backward with both weight layouts, conv2d with strides, dilations and groups, the
LSTM cell and sequence, each against the NumPy reference in float64. Skipped without a
CUDA device (real or emulated).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiln import backends

try:  # the backend object itself: it is tested here before every kernel family is in
    from kiln.backends import cuda
except ImportError:  # a build without CUDA
    cuda = None

pytestmark = pytest.mark.skipif(cuda is None or not cuda.available(), reason="no CUDA device")

ACTIVATIONS = (None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")
TOL = 2e-5  # relative Frobenius error of a float32 result against float64


@pytest.fixture(scope="module")
def be():
    return cuda.get_backend()


@pytest.fixture(scope="module")
def ref():
    return backends.get("numpy")


def rel_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    norm = np.linalg.norm(want)
    return np.linalg.norm(got - want) / (norm if norm > 0 else 1.0)


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(got, want, tol=TOL):
    assert np.shape(got) == np.shape(want)
    assert rel_error(got, want) <= tol, rel_error(got, want)


def tf32(x):
    """x rounded to TF32 (10 mantissa bits; round to nearest, ties away), as cvt.rna.tf32.f32."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


# ---- matmul ------------------------------------------------------------------------------
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 33, 1), (33, 7, 130), (130, 65, 33), (5, 9, 0),
                                   (7, 33, 1300)])  # the last splits k over a workspace
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_sizes_and_transposes(be, ref, m, n, k, ta, tb):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    a = rand(rng, *((k, m) if ta else (m, k)))
    b = rand(rng, *((n, k) if tb else (k, n)))
    bias = rand(rng, n)
    want = ref.matmul(a.astype(np.float64), b.astype(np.float64), ta, tb, bias.astype(np.float64), None, 1.0,
                      0.0, None)
    got = be.to_numpy(be.matmul(be.from_numpy(a), be.from_numpy(b), ta, tb, be.from_numpy(bias), None, 1.0,
                                0.0, None))
    close(got, want)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matmul_epilogue(be, ref, activation):
    rng = np.random.default_rng(7)
    a, b, bias, c = rand(rng, 33, 20), rand(rng, 20, 70), rand(rng, 70), rand(rng, 33, 70)
    want = ref.matmul(a.astype(np.float64), b.astype(np.float64), False, False, bias.astype(np.float64),
                      activation, -0.75, 0.5, c.astype(np.float64))
    out = be.from_numpy(c)
    result = be.matmul(be.from_numpy(a), be.from_numpy(b), False, False, be.from_numpy(bias), activation,
                       -0.75, 0.5, out)
    assert result is out
    close(be.to_numpy(out), want)


@pytest.mark.parametrize("a_shape,b_shape", [((4, 9, 12), (12, 5)), ((9, 12), (3, 12, 5)),
                                             ((1, 9, 12), (6, 12, 5)), ((6, 9, 12), (1, 12, 5)),
                                             ((0, 9, 12), (12, 5))])
def test_matmul_batched_broadcast(be, ref, a_shape, b_shape):
    rng = np.random.default_rng(11)
    a, b = rand(rng, *a_shape), rand(rng, *b_shape)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = be.to_numpy(be.matmul(be.from_numpy(a), be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    close(got, want)


def test_matmul_views_and_float64_input(be):
    rng = np.random.default_rng(12)
    a = rand(rng, 17, 9)
    b = rng.standard_normal((9, 13))  # float64: converted on the device
    a_view = be.transpose(be.from_numpy(np.ascontiguousarray(a.T)), None)  # read in place, flag flipped
    got = be.to_numpy(be.matmul(a_view, be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    close(got, a.astype(np.float64) @ b)
    # A row-strided view of a wider matrix, and a column slice (no unit stride: copied).
    wide = rand(rng, 17, 20)
    rows = be.getitem(be.from_numpy(wide), (slice(None), slice(2, 11)))
    got = be.to_numpy(be.matmul(rows, be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    close(got, wide[:, 2:11].astype(np.float64) @ b)
    every_other = be.getitem(be.from_numpy(rand(rng, 34, 9)), (slice(None, None, 2), slice(None)))
    got = be.to_numpy(be.matmul(every_other, be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    close(got, be.to_numpy(every_other).astype(np.float64) @ b)


def test_matmul_into_views_keeps_guards(be):
    """out as a view into a larger buffer: only its elements change (row-strided, and transposed)."""
    rng = np.random.default_rng(14)
    a, b, c = rand(rng, 7, 5), rand(rng, 5, 6), rand(rng, 7, 6)
    guard = np.float32(-1234.5)
    for transposed in (False, True):
        big = np.full((9, 10), guard, np.float32)
        if transposed:
            big[1:7, 2:9] = c.T
        else:
            big[1:8, 2:8] = c
        buffer = be.from_numpy(big)
        window = be.getitem(buffer, (slice(1, 7), slice(2, 9)) if transposed else (slice(1, 8), slice(2, 8)))
        out = be.transpose(window, None) if transposed else window
        result = be.matmul(be.from_numpy(a), be.from_numpy(b), False, False, None, "tanh", 1.0, 1.0, out)
        assert result is out
        want = np.tanh(a.astype(np.float64) @ b + c)
        got = be.to_numpy(buffer)
        inside = (slice(1, 7), slice(2, 9)) if transposed else (slice(1, 8), slice(2, 8))
        close(got[inside].T if transposed else got[inside], want)
        mask = np.ones(big.shape, bool)
        mask[inside] = False
        assert (got[mask] == guard).all()


def test_matmul_out_aliasing_an_operand(be):
    """out may be an input (c = a @ c): the result is the reference's, every input read first."""
    rng = np.random.default_rng(15)
    a, c = rand(rng, 130, 130), rand(rng, 130, 130)  # several blocks: one's C is another's B
    want = a.astype(np.float64) @ c + 0.5 * c
    dc = be.from_numpy(c)
    be.matmul(be.from_numpy(a), dc, False, False, None, None, 1.0, 0.5, dc)
    close(be.to_numpy(dc), want)


def test_matmul_tf32_is_opt_in(be):
    flags = cuda.matmul
    rng = np.random.default_rng(13)
    a, b = rand(rng, 130, 140), rand(rng, 140, 37)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    rounded = tf32(a).astype(np.float64) @ tf32(b).astype(np.float64)
    assert flags.allow_tf32 is False
    try:
        flags.allow_tf32 = True
        got = be.to_numpy(be.matmul(be.from_numpy(a), be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    finally:
        flags.allow_tf32 = False
    close(got, rounded)  # TF32 inputs, float32 accumulation
    assert rel_error(got, exact) > 10 * TOL  # it did round: visibly not a float32 product
    plain = be.to_numpy(be.matmul(be.from_numpy(a), be.from_numpy(b), False, False, None, None, 1.0, 0.0, None))
    close(plain, exact)


def test_matmul_bad_activation(be):
    x = be.from_numpy(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="activation"):
        be.matmul(x, x, False, False, None, "swish", 1.0, 0.0, None)


# ---- linear_backward ---------------------------------------------------------------------
@pytest.mark.parametrize("activation", (None, "relu", "sigmoid", "tanh"))
@pytest.mark.parametrize("out_by_in", (True, False))
@pytest.mark.parametrize("m,i,o", [(1, 1, 1), (33, 7, 130), (600, 5, 9)])
def test_linear_backward(be, ref, activation, out_by_in, m, i, o):
    rng = np.random.default_rng(m + i + o)
    x, dy = rand(rng, m, i), rand(rng, m, o)
    w = rand(rng, o, i) if out_by_in else rand(rng, i, o)
    y = rand(rng, m, o)
    if activation == "sigmoid":
        y = 1 / (1 + np.exp(-y))
    elif activation == "tanh":
        y = np.tanh(y)
    elif activation == "relu":
        y = np.maximum(y, 0)
    args = (x, w, y, dy)
    want = ref.linear_backward(*(v.astype(np.float64) for v in args), out_by_in, activation, True, True, True)
    got = be.linear_backward(*(be.from_numpy(v) for v in args), out_by_in, activation, True, True, True)
    for g, wv in zip(got, want):
        close(be.to_numpy(g), wv)
    none = be.linear_backward(*(be.from_numpy(v) for v in args), out_by_in, activation, False, True, False)
    assert none[0] is None and none[2] is None


# ---- conv2d ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,c,h,w,k,r,s,stride,padding,dilation,groups", [
    (2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1),
    (1, 4, 11, 10, 6, 3, 2, (2, 1), (1, 0), (2, 3), 2),
    (2, 6, 7, 7, 6, 3, 3, 2, 1, 1, 6),
    (4, 3, 16, 16, 8, 3, 3, 1, 1, 1, 1),
])
def test_conv2d(be, ref, n, c, h, w, k, r, s, stride, padding, dilation, groups):
    from kiln.reference.conv2d import conv2d_output_size
    from kiln._args import pair

    rng = np.random.default_rng(n * c * h)
    x, weight, bias = rand(rng, n, c, h, w), rand(rng, k, c // groups, r, s), rand(rng, k)
    st, pd, dl = pair("t", "s", stride), pair("t", "p", padding), pair("t", "d", dilation)
    out_shape = (n, k) + tuple(conv2d_output_size((h, w)[a], (r, s)[a], st[a], pd[a], dl[a]) for a in (0, 1))
    want = ref.conv2d(x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64), stride, padding,
                      dilation, groups, out_shape)
    got = be.conv2d(be.from_numpy(x), be.from_numpy(weight), be.from_numpy(bias), stride, padding, dilation,
                    groups, out_shape)
    close(be.to_numpy(got), want)
    dy = rand(rng, *out_shape)
    want = ref.conv2d_backward(x.astype(np.float64), weight.astype(np.float64), dy.astype(np.float64), stride,
                               padding, dilation, groups, True, True, True)
    got = be.conv2d_backward(be.from_numpy(x), be.from_numpy(weight), be.from_numpy(dy), stride, padding,
                             dilation, groups, True, True, True)
    for g, wv in zip(got, want):
        close(be.to_numpy(g), wv)


# ---- LSTM --------------------------------------------------------------------------------
@pytest.mark.parametrize("batch,inputs,hidden", [(1, 1, 1), (7, 33, 5), (3, 0, 9)])
def test_lstm_cell(be, ref, batch, inputs, hidden):
    rng = np.random.default_rng(batch * 100 + hidden)
    x, h, c = rand(rng, batch, inputs), rand(rng, batch, hidden), rand(rng, batch, hidden)
    w_ih, w_hh = 0.3 * rand(rng, 4 * hidden, inputs), 0.3 * rand(rng, 4 * hidden, hidden)
    b_ih, b_hh = rand(rng, 4 * hidden), rand(rng, 4 * hidden)
    args = (x, h, c, w_ih, w_hh, b_ih, b_hh)
    want = ref.lstm_cell(*(v.astype(np.float64) for v in args))
    got = be.lstm_cell(*(be.from_numpy(v) for v in args))
    assert len(got) == len(want)
    for g, wv in zip(got, want):
        close(be.to_numpy(g), wv)
    grad_h, grad_c = rand(rng, batch, hidden), rand(rng, batch, hidden)
    gates, c_new = want[2].astype(np.float32), want[1].astype(np.float32)
    for gc in (grad_c, None):
        bargs = (grad_h, gc, x, h, c, w_ih, w_hh, gates, c_new)
        want_b = ref.lstm_cell_backward(*(None if v is None else v.astype(np.float64) for v in bargs))
        got_b = be.lstm_cell_backward(*(None if v is None else be.from_numpy(v) for v in bargs))
        for g, wv in zip(got_b, want_b):
            close(be.to_numpy(g), wv)


@pytest.mark.parametrize("steps,batch,inputs,hidden,initial", [(5, 3, 7, 9, True), (4, 7, 33, 5, False),
                                                              (0, 3, 4, 5, True), (1, 1, 1, 1, False),
                                                              (2, 3, 600, 20, True)])
def test_lstm_sequence(be, ref, steps, batch, inputs, hidden, initial):
    rng = np.random.default_rng(steps * 10 + hidden)
    x = rand(rng, steps, batch, inputs)
    w_ih, w_hh = 0.3 * rand(rng, 4 * hidden, inputs), 0.3 * rand(rng, 4 * hidden, hidden)
    b_ih, b_hh = rand(rng, 4 * hidden), rand(rng, 4 * hidden)
    h0 = rand(rng, batch, hidden) if initial else None
    c0 = rand(rng, batch, hidden) if initial else None
    args = (x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    f64 = [None if v is None else v.astype(np.float64) for v in args]
    want = ref.lstm_sequence(*f64)
    got = be.lstm_sequence(*(None if v is None else be.from_numpy(v) for v in args))
    assert len(got) == len(want) == 5
    for g, wv in zip(got, want):
        close(be.to_numpy(g), wv)
    y, _, _, gates, cells = (np.asarray(v, np.float32) for v in want)
    grad_y, grad_h_n, grad_c_n = rand(rng, steps, batch, hidden), rand(rng, batch, hidden), rand(rng, batch, hidden)
    bargs = (grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells)
    want_b = ref.lstm_sequence_backward(*(None if v is None else v.astype(np.float64) for v in bargs))
    got_b = be.lstm_sequence_backward(*(None if v is None else be.from_numpy(v) for v in bargs))
    for g, wv in zip(got_b, want_b):
        close(be.to_numpy(g), wv)
