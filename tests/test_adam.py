"""adam_step: native vs the float64 reference over several steps and every flag, torch's
Adam/AdamW, thread-count independence, refusals that leave the arrays untouched, NaN."""

import itertools

import numpy as np
import pytest
from conftest import ELEMENTWISE_TOL, HOST_BACKENDS, TAIL_SIZES, assert_close, f32

import kiln
from kiln import ops, reference

SIZES = [0, 1, 7, 17, 1000, 70001]  # past the threading threshold at the end
FLAGS = list(itertools.product([False, True], repeat=4))  # decoupled, amsgrad, maximize, weight decay
FLAG_IDS = ["".join(name if on else "-" for name, on in zip("DAMW", flags)) for flags in FLAGS]


def fresh_state(rng, shape, dtype=np.float32):
    """param, exp_avg, exp_avg_sq, max_exp_avg_sq as after some earlier steps."""
    param = rng.standard_normal(shape)
    exp_avg = 0.1 * rng.standard_normal(shape)
    exp_avg_sq = 0.01 * rng.random(shape)
    max_exp_avg_sq = exp_avg_sq + 0.01 * rng.random(shape)
    return [np.asarray(a, dtype=dtype) for a in (param, exp_avg, exp_avg_sq, max_exp_avg_sq)]


def hyper(flags):
    decoupled, amsgrad, maximize, decay = flags
    return dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1 if decay else 0.0,
                decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_matches_reference_over_steps(n, flags, backend, rng):
    native_state = fresh_state(rng, n)
    ref_state = [a.astype(np.float64) for a in native_state]
    kwargs = hyper(flags)
    for step in range(1, 5):
        grad = f32(rng.standard_normal(n))
        param, exp_avg, exp_avg_sq, max_sq = native_state
        ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, max_exp_avg_sq=max_sq,
                      backend=backend, **kwargs)
        param, exp_avg, exp_avg_sq, max_sq = ref_state
        reference.adam_step(param, grad.astype(np.float64), exp_avg, exp_avg_sq, step=step,
                            max_exp_avg_sq=max_sq, **kwargs)
        for name, got, want in zip(["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"], native_state, ref_state):
            assert_close(got, want, ELEMENTWISE_TOL, f"step {step} {name}")


def one_step_matches_reference(n, flags, rng):
    kwargs = hyper(flags)
    state = fresh_state(rng, n)
    want = [a.astype(np.float64) for a in state]
    grad = f32(rng.standard_normal(n))
    ops.adam_step(state[0], grad, state[1], state[2], step=3, max_exp_avg_sq=state[3], backend="cpu",
                  **kwargs)
    reference.adam_step(want[0], grad.astype(np.float64), want[1], want[2], step=3,
                        max_exp_avg_sq=want[3], **kwargs)
    for name, got, expected in zip(["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"], state, want):
        assert_close(got, expected, ELEMENTWISE_TOL, f"n={n} {name}")


@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_simd_paths_vector_tails(flags, threads, rng):
    for n in TAIL_SIZES[:-1]:
        one_step_matches_reference(n, flags, rng)


@pytest.mark.parametrize("flags", [FLAGS[0], FLAGS[-1]], ids=[FLAG_IDS[0], FLAG_IDS[-1]])
def test_simd_paths_threaded_with_tail(flags, threads, rng):
    one_step_matches_reference(TAIL_SIZES[-1], flags, rng)


@pytest.mark.parametrize("flags", FLAGS, ids=FLAG_IDS)
def test_matches_torch(flags, backend, rng):
    torch = pytest.importorskip("torch")
    kwargs = hyper(flags)
    decoupled = kwargs.pop("decoupled")
    shape = (37, 5)
    param = f32(rng.standard_normal(shape))
    param_t = torch.nn.Parameter(torch.tensor(param))
    optimizer = (torch.optim.AdamW if decoupled else torch.optim.Adam)(
        [param_t], lr=kwargs["lr"], betas=(kwargs["beta1"], kwargs["beta2"]), eps=kwargs["eps"],
        weight_decay=kwargs["weight_decay"], amsgrad=kwargs["amsgrad"], maximize=kwargs["maximize"])
    exp_avg, exp_avg_sq, max_sq = (np.zeros(shape, np.float32) for _ in range(3))
    for step in range(1, 6):
        grad = f32(rng.standard_normal(shape))
        param_t.grad = torch.tensor(grad)
        optimizer.step()
        ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, max_exp_avg_sq=max_sq,
                      decoupled=decoupled, backend=backend, **kwargs)
        state = optimizer.state[param_t]
        assert_close(param, param_t.detach().numpy(), ELEMENTWISE_TOL, f"step {step} param")
        assert_close(exp_avg, state["exp_avg"].numpy(), ELEMENTWISE_TOL, "exp_avg")
        assert_close(exp_avg_sq, state["exp_avg_sq"].numpy(), ELEMENTWISE_TOL, "exp_avg_sq")
        if kwargs["amsgrad"]:
            assert_close(max_sq, state["max_exp_avg_sq"].numpy(), ELEMENTWISE_TOL, "max_exp_avg_sq")


def test_reference_updates_float32_and_float64_in_place(rng):
    for dtype in (np.float32, np.float64):
        param, exp_avg, exp_avg_sq, _ = fresh_state(rng, (3, 4), dtype)
        before = param.copy()
        result = ops.adam_step(param, rng.standard_normal((3, 4)), exp_avg, exp_avg_sq, step=1, lr=0.1,
                               backend="numpy")
        assert result is None and param.dtype == dtype and not np.array_equal(param, before)


def test_float64_grad_and_views_of_one_buffer(backend, rng):
    flat = np.zeros(3 * 50, np.float32)  # torch-style flat state: three disjoint views
    param, exp_avg, exp_avg_sq = flat[:50], flat[50:100], flat[100:]
    param[:] = rng.standard_normal(50)
    want = [a.astype(np.float64) for a in (param, exp_avg, exp_avg_sq)]
    grad = rng.standard_normal(50)
    ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=1, lr=0.05, backend=backend)
    reference.adam_step(*want[:1], f32(grad).astype(np.float64), *want[1:], step=1, lr=0.05)
    assert_close(param, want[0], ELEMENTWISE_TOL)


def test_thread_count_does_not_change_result(rng):
    grad = f32(rng.standard_normal(300001))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            state = fresh_state(np.random.default_rng(7), 300001)
            ops.adam_step(state[0], grad, state[1], state[2], step=3, lr=1e-3, weight_decay=0.01,
                          amsgrad=True, max_exp_avg_sq=state[3], backend="cpu")
            results.append(state)
    finally:
        kiln.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_nan_and_inf_propagate_like_reference(backend):
    grad = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0], np.float32)
    param = np.array([1.0, 1.0, 1.0, np.nan, np.inf], np.float32)
    got = [param.copy(), np.zeros(5, np.float32), np.zeros(5, np.float32), np.zeros(5, np.float32)]
    want = [a.astype(np.float64) for a in got]
    ops.adam_step(got[0], grad, got[1], got[2], step=1, lr=0.1, weight_decay=0.1, amsgrad=True,
                  max_exp_avg_sq=got[3], backend=backend)
    with np.errstate(invalid="ignore"):
        reference.adam_step(want[0], grad.astype(np.float64), want[1], want[2], step=1, lr=0.1,
                            weight_decay=0.1, amsgrad=True, max_exp_avg_sq=want[3])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_allclose(g[~np.isnan(w)], w[~np.isnan(w)], rtol=1e-6)


# ---- refusals: a clean error, every array untouched -----------------------------------------------
# The NumPy path refuses the same arguments, except for layouts and dtypes it can update in place.


@pytest.fixture(params=HOST_BACKENDS)
def any_backend(request):
    return request.param



def _state():
    return [np.full((4, 3), v, np.float32) for v in (1.0, 0.5, 0.25, 0.3)]


_ONES = object()  # the default grad (None is a bad grad to test)


def _refused(error, match, backend, *, grad=_ONES, state=None, **overrides):
    state = state if state is not None else _state()
    snapshot = [a.copy() for a in state]
    kwargs = dict(step=1, lr=0.1, amsgrad=True, max_exp_avg_sq=state[3])
    kwargs.update(overrides)
    grad = np.ones((4, 3), np.float32) if grad is _ONES else grad
    with pytest.raises(error, match=match):
        ops.adam_step(state[0], grad, state[1], state[2], backend=backend, **kwargs)
    for before, after in zip(snapshot, state):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("name,value", [("step", 0), ("step", -3), ("lr", -0.1), ("lr", float("nan")),
                                        ("eps", -1e-8), ("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.5),
                                        ("weight_decay", -0.01)])
def test_bad_hyperparameters_are_value_errors(name, value, any_backend):
    _refused(ValueError, f"adam_step: {name}", any_backend, **{name: value})


def test_bad_hyperparameter_types_are_type_errors(any_backend):
    _refused(TypeError, "step", any_backend, step=1.0)
    _refused(TypeError, "lr", any_backend, lr="0.1")
    _refused(TypeError, "beta1", any_backend, beta1=None)


@pytest.mark.parametrize("bad", [np.ones((4, 3), np.int64), np.ones((4, 3), np.float16),
                                 np.array([[object()] * 3] * 4), np.array([["a"] * 3] * 4), None],
                         ids=["int", "float16", "object", "str", "None"])
def test_bad_grad_dtype_is_type_error(bad, any_backend):
    _refused(TypeError, "grad", any_backend, grad=bad)


def test_bad_state_arrays_are_refused(any_backend):
    for index, name in enumerate(["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]):
        state = _state()
        state[index].flags.writeable = False
        _refused(ValueError, f"{name} is read-only", any_backend, state=state, max_exp_avg_sq=state[3])
        state = _state()
        state[index] = state[index].tolist()
        _refused(TypeError, name, any_backend, state=state, max_exp_avg_sq=state[3])
        if index:
            state = _state()
            state[index] = np.zeros((3, 4), np.float32)
            _refused(ValueError, f"{name} must have shape", any_backend, state=state, max_exp_avg_sq=state[3])
    _refused(ValueError, "grad must have", any_backend, grad=np.ones(12, np.float32))
    _refused(ValueError, "max_exp_avg_sq", any_backend, max_exp_avg_sq=None)
    state = _state()
    state[2] = state[1]
    _refused(ValueError, "shares memory", any_backend, state=state)


def test_native_refuses_state_it_would_have_to_copy(backend):
    for index, name in enumerate(["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"]):
        state = _state()
        state[index] = np.zeros((3, 4), np.float32).T  # a view in Fortran order
        _refused(ValueError, f"{name} must be C-contiguous", backend, state=state, max_exp_avg_sq=state[3])
        state = _state()
        state[index] = state[index].astype(np.float64)
        _refused(TypeError, f"{name} must be float32", backend, state=state, max_exp_avg_sq=state[3])


def test_native_module_checks_its_own_arguments():
    from kiln import _C
    state = _state()
    with pytest.raises(ValueError, match="step must be >= 1"):
        _C.adam_step(state[0], state[3], state[1], state[2], None, 0, 0.1, 0.9, 0.999, 1e-8, 0.0,
                     False, False, False)
    with pytest.raises(ValueError, match="amsgrad"):
        _C.adam_step(state[0], state[3], state[1], state[2], None, 1, 0.1, 0.9, 0.999, 1e-8, 0.0,
                     False, True, False)
    with pytest.raises(ValueError, match="shares memory"):
        _C.adam_step(state[0], state[3], state[1], state[1], None, 1, 0.1, 0.9, 0.999, 1e-8, 0.0,
                     False, False, False)
    np.testing.assert_array_equal(state[0], np.ones((4, 3), np.float32))
