"""Losses: native vs the float64 reference, gradients by finite differences, torch,
thread-count independence, bad input, NaN."""

import numpy as np
import pytest
from conftest import TAIL_SIZES, assert_close, f32, finite_difference_grad, reduction_tol

import kiln
from kiln import ops, reference

CE_SHAPES = [(1, 1), (1, 5), (7, 3), (33, 17), (256, 1000), (1000, 50), (0, 4)]


def class_targets(rng, n, c, ignore_some=True):
    target = rng.integers(0, c, n)
    if ignore_some and n > 2:
        target[rng.random(n) < 0.2] = -100
        target[0] = 0  # at least one row counts
    return target


def check_loss(got, want, k):
    """A loss (float, or (float, grad)) against the reference; k terms in the sum."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple)
        assert got[1].dtype == np.float32 and got[1].shape == want[1].shape
        assert_close(got[1], want[1], reduction_tol(k), "grad")
        got, want = got[0], want[0]
    assert isinstance(got, float)
    if np.isnan(want):  # a mean over nothing
        assert np.isnan(got)
    else:
        assert_close(got, want, reduction_tol(k), "loss")


@pytest.mark.parametrize("n,c", CE_SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("return_grad", [False, True])
def test_cross_entropy_class_targets(n, c, label_smoothing, return_grad, backend, rng):
    logits = f32(3 * rng.standard_normal((n, c)))
    target = class_targets(rng, n, c)
    kwargs = dict(label_smoothing=label_smoothing, return_grad=return_grad, grad_scale=1.7)
    got = ops.softmax_cross_entropy(logits, target, backend=backend, **kwargs)
    want = reference.softmax_cross_entropy(logits.astype(np.float64), target, **kwargs)
    check_loss(got, want, n * c)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_simd_paths_cross_entropy_row_tails(label_smoothing, threads, rng):
    """Every class count 1..33 (vector tails of the row kernels), and a shape for both threads."""
    for n, c in [(5, c) for c in TAIL_SIZES[:-1]] + [(997, 1003)]:
        logits = f32(3 * rng.standard_normal((n, c)))
        target = class_targets(rng, n, c)
        probs = f32(rng.dirichlet(np.ones(c), n))
        for t in (target, probs):
            got = ops.softmax_cross_entropy(logits, t, label_smoothing=label_smoothing, return_grad=True,
                                            backend="cpu")
            want = reference.softmax_cross_entropy(logits.astype(np.float64), t if t is target else
                                                   t.astype(np.float64), label_smoothing=label_smoothing,
                                                   return_grad=True)
            check_loss(got, want, c)


@pytest.mark.parametrize("n,c", CE_SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_probability_targets(n, c, label_smoothing, backend, rng):
    logits = f32(3 * rng.standard_normal((n, c)))
    target = f32(reference.softmax(rng.standard_normal((n, c))))
    kwargs = dict(label_smoothing=label_smoothing, return_grad=True, grad_scale=0.5)
    got = ops.softmax_cross_entropy(logits, target, backend=backend, **kwargs)
    want = reference.softmax_cross_entropy(logits.astype(np.float64), target.astype(np.float64), **kwargs)
    check_loss(got, want, n * c)


def test_cross_entropy_ignore_index(backend, rng):
    logits = f32(rng.standard_normal((6, 4)))
    logits[2] = np.nan  # an ignored row is never read into the loss
    target = np.array([1, 0, 3, 3, 2, 3])
    loss, grad = ops.softmax_cross_entropy(logits, target, ignore_index=3, return_grad=True, backend=backend)
    kept = [0, 1, 4]
    want = ops.softmax_cross_entropy(logits[kept].astype(np.float64), target[kept], backend="numpy")
    assert_close(loss, want, reduction_tol(12))
    assert not grad[[2, 3, 5]].any() and np.isfinite(grad).all()
    all_ignored = ops.softmax_cross_entropy(logits, np.full(6, -100), return_grad=True, backend=backend)
    assert np.isnan(all_ignored[0]) and not all_ignored[1].any()


BCE_SHAPES = [(), (1,), (7,), (33, 17), (5000, 3), (2, 3, 4), (0, 3), (70001,)]


@pytest.mark.parametrize("shape,with_pos_weight",  # pos_weight broadcasts over a last axis
                         [(s, False) for s in BCE_SHAPES] + [(s, True) for s in BCE_SHAPES if s])
@pytest.mark.parametrize("return_grad", [False, True])
def test_bce_with_logits(shape, with_pos_weight, return_grad, backend, rng):
    logits = f32(4 * rng.standard_normal(shape))
    target = f32(rng.random(shape))
    pos_weight = f32(rng.random(shape[-1:]) * 3) if with_pos_weight else None
    kwargs = dict(return_grad=return_grad, grad_scale=2.5)
    got = ops.bce_with_logits(logits, target, pos_weight=pos_weight, backend=backend, **kwargs)
    want = reference.bce_with_logits(logits.astype(np.float64), target.astype(np.float64),
                                     pos_weight=None if pos_weight is None else pos_weight.astype(np.float64),
                                     **kwargs)
    check_loss(got, want, int(np.prod(shape)))


@pytest.mark.parametrize("shape", BCE_SHAPES)
@pytest.mark.parametrize("return_grad", [False, True])
def test_mse(shape, return_grad, backend, rng):
    pred = f32(rng.standard_normal(shape))
    target = f32(rng.standard_normal(shape))
    got = ops.mse(pred, target, return_grad=return_grad, grad_scale=-0.5, backend=backend)
    want = reference.mse(pred.astype(np.float64), target.astype(np.float64), return_grad=return_grad,
                         grad_scale=-0.5)
    check_loss(got, want, int(np.prod(shape)))


# ---- the reference gradients, by finite differences ------------------------------------------


def _fd_check(loss_fn, x, grad_scale):
    _, grad = loss_fn(return_grad=True, grad_scale=grad_scale)
    numeric = finite_difference_grad(lambda: loss_fn(return_grad=False), x)
    assert_close(grad, grad_scale * numeric, 1e-7)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_reference_cross_entropy_gradient(label_smoothing, rng):
    logits = rng.standard_normal((5, 4))
    target = np.array([0, 3, -100, 1, 1])
    _fd_check(lambda **kw: reference.softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, **kw),
              logits, 1.3)
    probs = reference.softmax(rng.standard_normal((5, 4)))
    _fd_check(lambda **kw: reference.softmax_cross_entropy(logits, probs, label_smoothing=label_smoothing, **kw),
              logits, 1.3)


def test_reference_bce_and_mse_gradients(rng):
    logits = 3 * rng.standard_normal((4, 3))
    target = rng.random((4, 3))
    pos_weight = rng.random(3) * 2
    _fd_check(lambda **kw: reference.bce_with_logits(logits, target, pos_weight=pos_weight, **kw), logits, 0.7)
    _fd_check(lambda **kw: reference.bce_with_logits(logits, target, **kw), logits, 1.0)
    _fd_check(lambda **kw: reference.mse(logits, target, **kw), logits, 3.0)


# ---- torch -------------------------------------------------------------------------------------


def _torch_loss_and_grad(torch, fn, x, *args, **kwargs):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = fn(xt, *args, **kwargs)
    loss.backward()
    return loss.item(), xt.grad.numpy()


def test_against_torch(backend, rng):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    logits = f32(3 * rng.standard_normal((40, 11)))
    target = class_targets(rng, 40, 11)
    probs = f32(reference.softmax(rng.standard_normal((40, 11))))
    binary = f32(rng.random((40, 11)) < 0.3)
    pos_weight = f32(rng.random(11) * 4)
    to64 = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    cases = [
        (ops.softmax_cross_entropy(logits, target, label_smoothing=0.2, return_grad=True, backend=backend),
         _torch_loss_and_grad(torch, functional.cross_entropy, logits, torch.tensor(target), label_smoothing=0.2)),
        (ops.softmax_cross_entropy(logits, probs, return_grad=True, backend=backend),
         _torch_loss_and_grad(torch, functional.cross_entropy, logits, to64(probs))),
        (ops.bce_with_logits(logits, binary, pos_weight=pos_weight, return_grad=True, backend=backend),
         _torch_loss_and_grad(torch, functional.binary_cross_entropy_with_logits, logits, to64(binary),
                              pos_weight=to64(pos_weight))),
        (ops.bce_with_logits(logits, probs, return_grad=True, backend=backend),
         _torch_loss_and_grad(torch, functional.binary_cross_entropy_with_logits, logits, to64(probs))),
        (ops.mse(logits, probs, return_grad=True, backend=backend),
         _torch_loss_and_grad(torch, functional.mse_loss, logits, to64(probs))),
    ]
    for (loss, grad), (want_loss, want_grad) in cases:
        assert_close(loss, want_loss, reduction_tol(logits.size))
        assert_close(grad, want_grad, reduction_tol(11))


def test_thread_count_does_not_change_result(rng):
    logits = f32(3 * rng.standard_normal((512, 1000)))
    target = class_targets(rng, 512, 1000)
    probs = f32(rng.random((512, 1000)))
    pos_weight = f32(rng.random(1000) + 0.5)
    calls = [
        lambda: ops.softmax_cross_entropy(logits, target, label_smoothing=0.1, return_grad=True, backend="cpu"),
        lambda: ops.softmax_cross_entropy(logits, probs, return_grad=True, backend="cpu"),
        lambda: ops.bce_with_logits(logits, probs, pos_weight=pos_weight, return_grad=True, backend="cpu"),
        lambda: ops.mse(logits, probs, return_grad=True, backend="cpu"),
    ]
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            results.append([call() for call in calls])
    finally:
        kiln.set_num_threads(before)
    for (loss1, grad1), (loss2, grad2) in zip(*results):
        assert loss1 == loss2
        np.testing.assert_array_equal(grad1, grad2)


# ---- bad input and special values ---------------------------------------------------------------

BAD_DTYPES = [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16),
              np.array([[object()] * 3] * 2), np.array([["a"] * 3] * 2), None]
BAD_IDS = ["int", "float16", "object", "str", "None"]


@pytest.mark.parametrize("bad", BAD_DTYPES, ids=BAD_IDS)
def test_bad_dtype_is_type_error(bad, backend):
    good = np.ones((2, 3), np.float32)
    calls = [(lambda: ops.softmax_cross_entropy(bad, np.zeros(2, np.int64), backend=backend), "logits"),
             (lambda: ops.bce_with_logits(bad, good, backend=backend), "logits"),
             (lambda: ops.bce_with_logits(good, bad, backend=backend), "target"),
             (lambda: ops.mse(good, bad, backend=backend), "target"),
             (lambda: ops.mse(bad, good, backend=backend), "pred")]
    if bad is None or bad.dtype.kind != "i":  # integer targets are class indices
        calls.append((lambda: ops.softmax_cross_entropy(good, bad, backend=backend), "target"))
    for call, arg in calls:
        with pytest.raises(TypeError, match=arg):
            call()


def test_bad_values_are_value_errors(backend):
    logits = np.zeros((3, 4), np.float32)
    for target in ([0, 4, 1], [0, -1, 1], [0, -101, 1]):
        with pytest.raises(ValueError, match=r"target\[1\]"):
            ops.softmax_cross_entropy(logits, np.array(target), backend=backend)
    with pytest.raises(ValueError, match="target"):
        ops.softmax_cross_entropy(logits, np.zeros(4, np.int64), backend=backend)
    with pytest.raises(ValueError, match="target"):
        ops.softmax_cross_entropy(logits, np.zeros((3, 5), np.float32), backend=backend)
    with pytest.raises(ValueError, match="logits"):
        ops.softmax_cross_entropy(np.zeros(4, np.float32), np.zeros(4, np.int64), backend=backend)
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.softmax_cross_entropy(logits, np.zeros(3, np.int64), label_smoothing=1.5, backend=backend)
    with pytest.raises(ValueError, match="pos_weight"):
        ops.bce_with_logits(logits, logits, pos_weight=np.ones(3, np.float32), backend=backend)
    with pytest.raises(ValueError, match="target"):
        ops.bce_with_logits(logits, logits.T, backend=backend)
    with pytest.raises(ValueError, match="target"):
        ops.mse(logits, np.zeros(12, np.float32), backend=backend)


def test_native_module_checks_its_own_arguments():
    from kiln import _C
    logits = np.zeros((3, 4), np.float32)
    grad = np.full((3, 4), 7.0, np.float32)
    with pytest.raises(ValueError, match=r"target\[2\] = 9"):
        _C.softmax_cross_entropy(logits, np.array([0, 1, 9]), grad)
    assert (grad == 7.0).all()
    with pytest.raises(ValueError, match="label_smoothing"):
        _C.softmax_cross_entropy(logits, np.array([0, 1, 2]), grad, -100, 2.0)
    with pytest.raises(ValueError, match="grad must have shape"):
        _C.mse(logits, logits, np.empty((4, 3), np.float32))


def test_empty_inputs_give_nan_like_torch(backend):
    assert np.isnan(ops.mse(np.zeros(0), np.zeros(0), backend=backend))
    assert np.isnan(ops.bce_with_logits(np.zeros((0, 2)), np.zeros((0, 2)), backend=backend))
    loss, grad = ops.softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64), return_grad=True, backend=backend)
    assert np.isnan(loss) and grad.shape == (0, 3)


def test_nan_propagates(backend):
    logits = np.zeros((2, 3), np.float32)
    logits[1, 2] = np.nan
    assert np.isnan(ops.softmax_cross_entropy(logits, np.array([0, 1]), backend=backend))
    assert np.isnan(ops.bce_with_logits(logits, np.ones_like(logits), backend=backend))
    loss, grad = ops.mse(logits, np.ones_like(logits), return_grad=True, backend=backend)
    assert np.isnan(loss) and np.isnan(grad[1, 2]) and np.isfinite(grad[0]).all()


def test_extreme_logits_stay_finite(backend):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], np.float32)
    loss, grad = ops.softmax_cross_entropy(logits, np.array([1, 1]), return_grad=True, backend=backend)
    assert np.isclose(loss, 1e4) and np.isfinite(grad).all()
    loss, grad = ops.bce_with_logits(logits, np.ones_like(logits), return_grad=True, backend=backend)
    assert np.isfinite(loss) and np.isfinite(grad).all()
