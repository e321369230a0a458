"""The torch namespace's breadth: accelerator and mps queries, linspace and the *_like
factories, sin/cos, add/sub alpha, div rounding, masked_fill, gather, index_select, mm, bmm,
integer reductions and torch's dtype rules; on "cpu" and "cuda", against torch where it is
installed, gradients against finite differences in float64 on the NumPy path."""

import numpy as np
import pytest

import kiln
from torch_compare import DEVICES, check_against_torch, check_gradient, needs_torch, torch


# ---- devices -----------------------------------------------------------------------------------


def test_accelerator_and_mps():
    acc = kiln.accelerator.current_accelerator()
    assert kiln.accelerator.is_available() == kiln.cuda.is_available()
    if kiln.cuda.is_available():
        assert acc == kiln.device("cuda") and acc.type == "cuda" and acc.index is None
        assert kiln.accelerator.device_count() == 1
        assert kiln.accelerator.current_accelerator(check_available=True) == acc
        assert kiln.ones(2).to(acc).device.type == "cuda"
    else:
        assert kiln.accelerator.device_count() == 0
        assert kiln.accelerator.current_accelerator(check_available=True) is None
    assert kiln.accelerator.current_device_index() == 0
    assert kiln.backends.mps.is_available() is False and kiln.backends.mps.is_built() is False
    assert "mps" not in kiln.backends.names() and "mps" not in kiln.backends.devices()
    assert kiln.backends.cudnn.is_available() is False
    kiln.backends.cudnn.benchmark = True  # what PyTorch programs set: accepted, changes nothing
    kiln.backends.cudnn.benchmark = False
    assert kiln.device("cuda:0").index == 0 and str(kiln.device("cpu")) == "cpu"


# ---- factories ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_linspace(device):
    for steps in (0, 1, 2, 7, 100, 1001):
        for start, end in ((0, 1), (-3.3, 7.1), (5, -2)):
            t = kiln.linspace(start, end, steps, device=device)
            assert t.shape == (steps,) and t.dtype == np.float32 and t.device.type == device
            expected = np.linspace(start, end, steps)
            np.testing.assert_allclose(t.numpy(force=True), expected, rtol=1e-6, atol=1e-6)
            if torch is not None:  # within an ulp of torch's (its vectorised kernel rounds its own way)
                np.testing.assert_allclose(t.numpy(force=True), torch.linspace(start, end, steps).numpy(),
                                           rtol=2e-7, atol=5e-7)
    assert kiln.linspace(0, 10, 7, dtype=kiln.int64).tolist() == [0, 1, 3, 5, 6, 8, 10]
    assert kiln.linspace(0, 1, 5, dtype=kiln.float64).dtype == np.float64
    assert kiln.linspace(0, 1, 3, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        kiln.linspace(0, 1, -1)


@pytest.mark.parametrize("device", DEVICES)
def test_like_factories(device):
    base = kiln.zeros(3, 4, dtype=kiln.float64, device=device)
    for make in (kiln.randn_like, kiln.rand_like):
        t = make(base)
        assert t.shape == (3, 4) and t.dtype == np.float64 and t.device.type == device
        assert make(base, dtype=kiln.float32).dtype == np.float32
        assert make(base, requires_grad=True).requires_grad
    kiln.manual_seed(5)
    a = kiln.randn_like(base).numpy(force=True)
    kiln.manual_seed(5)
    b = kiln.randn(3, 4, dtype=kiln.float64).numpy()
    np.testing.assert_array_equal(a, b)  # one generator: the same numbers on every device
    u = kiln.rand_like(kiln.zeros(1000)).numpy()
    assert 0 <= u.min() and u.max() < 1
    f = kiln.full_like(base, 2.5)
    assert f.dtype == np.float64 and f.device.type == device and (f.numpy(force=True) == 2.5).all()


# ---- elementwise -------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sin_cos_match_torch(device, dtype, rng):
    x = np.concatenate([rng.uniform(-40, 40, 500), [0.0, -0.0, np.pi, -np.pi / 2, 1e-30, 1e4 + 0.1, 3e5]]).astype(dtype)
    tol = 2e-7 if dtype == np.float32 else 1e-13
    out = check_against_torch(kiln.sin, torch.sin if torch else None, [x], device, rtol=tol, atol=tol)
    np.testing.assert_allclose(out, np.sin(x), rtol=tol, atol=tol)
    out = check_against_torch(lambda t: t.cos(), lambda t: t.cos(), [x], device, rtol=tol, atol=tol)
    np.testing.assert_allclose(out, np.cos(x), rtol=tol, atol=tol)
    special = kiln.tensor(np.array([np.nan, np.inf, -np.inf], dtype), device=device)
    assert np.isnan(kiln.sin(special).numpy(force=True)).all() and np.isnan(kiln.cos(special).numpy(force=True)).all()
    assert kiln.sin(kiln.tensor([0, 1, 2], device=device)).dtype == np.float32  # integers, as torch


def test_sin_cos_gradients(rng):
    x = rng.uniform(-7, 7, (3, 5))
    check_gradient(kiln.sin, [x])
    check_gradient(lambda t: kiln.cos(t * 2.0) * t.sin(), [x])


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_add_sub_alpha_and_div_rounding(device, rng):
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4,)).astype(np.float32)
    check_against_torch(lambda x, y: x.add(y, alpha=2.5), lambda x, y: x.add(y, alpha=2.5), [a, b], device)
    check_against_torch(lambda x, y: kiln.sub(x, y, alpha=-0.5), lambda x, y: torch.sub(x, y, alpha=-0.5),
                        [a, b], device)
    check_against_torch(lambda x, y: x.mul(y).div(y + 3), lambda x, y: x.mul(y).div(y + 3), [a, b], device)
    check_against_torch(lambda x: kiln.add(x, 2, alpha=3), lambda x: torch.add(x, 2, alpha=3), [a], device)
    num, den = rng.uniform(-20, 20, 50).astype(np.float32), rng.uniform(-5, 5, 50).astype(np.float32)
    inum, iden = rng.integers(-50, 50, 40), rng.choice([-7, -3, -1, 2, 5], 40)
    for mode in ("floor", "trunc"):
        check_against_torch(lambda x, y: x.div(y, rounding_mode=mode), lambda x, y: x.div(y, rounding_mode=mode),
                            [num, den], device, grad_flags=[False, False])
        check_against_torch(lambda x, y: kiln.div(x, y, rounding_mode=mode),
                            lambda x, y: torch.div(x, y, rounding_mode=mode), [inum, iden], device)
    check_against_torch(lambda x, y: x // y, lambda x, y: x // y, [inum, iden], device)
    with pytest.raises(ValueError, match="rounding_mode"):
        kiln.tensor([1.0]).div(2, rounding_mode="round")


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_dtype_rules_follow_torch(device):
    """Where NumPy would give float64, torch gives its default float32."""
    ints, mask = np.array([1, 2, 3]), np.array([True, False, True])
    floats = np.array([0.5, 1.5, 2.5], np.float32)
    cases = [lambda x, y, z: x / 2, lambda x, y, z: x * 0.5, lambda x, y, z: 1.5 + x, lambda x, y, z: x / x,
             lambda x, y, z: x * z, lambda x, y, z: z - x, lambda x, y, z: y.sum() / 3, lambda x, y, z: 3 / x,
             lambda x, y, z: y * z, lambda x, y, z: x.sqrt(), lambda x, y, z: x.exp(), lambda x, y, z: x.log(),
             lambda x, y, z: x + 1, lambda x, y, z: x * 2]
    for case in cases:
        check_against_torch(case, case, [ints, mask, floats], device, grad_flags=[False, False, False])


@pytest.mark.parametrize("device", DEVICES)
def test_integer_reductions_stay_integer(device):
    pred = kiln.tensor(np.arange(450) % 7, device=device)
    target = kiln.tensor(np.where(np.arange(450) < 446, np.arange(450) % 7, 9), device=device)
    correct = (pred == target).sum()
    assert correct.dtype == np.int64 and correct.item() == 446 and isinstance(correct.item(), int)
    assert f"{correct.item()}/450" == "446/450"
    assert isinstance(pred.eq(target).sum().item(), int)
    assert kiln.tensor(np.array([1, 2], np.int32), device=device).sum().dtype == np.int64
    assert (pred == target).sum(0).dtype == np.int64
    assert (pred == target).float().mean().dtype == np.float32
    assert abs((pred == target).sum().item() / 450 - 446 / 450) < 1e-12


# ---- indexing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_masked_fill(device, rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    mask = rng.random((4, 1)) > 0.5
    tmask = torch.tensor(mask) if torch else None
    check_against_torch(lambda t: t.masked_fill(kiln.tensor(mask, device=device), -1e9),
                        lambda t: t.masked_fill(tmask, -1e9), [x], device)
    check_against_torch(lambda t: kiln.masked_fill(t, kiln.tensor(mask, device=device), 0.25),
                        lambda t: torch.masked_fill(t, tmask, 0.25), [x], device)
    check_gradient(lambda t: t.masked_fill(kiln.from_numpy(mask), 3.0), [x])
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        kiln.tensor(x, device=device).masked_fill(kiln.tensor(mask.astype(np.int64), device=device), 0.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        kiln.tensor(x, device=device).masked_fill(kiln.tensor(np.ones((3, 4, 5, 2), bool), device=device), 0.0)


@pytest.mark.parametrize("device", DEVICES)
def test_gather(device, rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    for dim, shape in ((0, (6, 5, 3)), (1, (4, 7, 2)), (2, (3, 2, 3)), (-1, (4, 5, 1))):
        index = rng.integers(0, x.shape[dim], shape)  # repeated indices: gradients add up
        check_against_torch(lambda t: t.gather(dim, kiln.tensor(index, device=device)),
                            lambda t: t.gather(dim, torch.tensor(index)) if torch else None, [x], device)
        check_gradient(lambda t: kiln.gather(t, dim, kiln.from_numpy(index)), [x])
    xt = kiln.tensor(x, device=device)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 5"):
        xt.gather(1, kiln.tensor(np.full((4, 2, 3), 5), device=device))
    with pytest.raises(IndexError, match="index -1"):
        xt.gather(0, kiln.tensor(np.full((1, 1, 1), -1), device=device))
    with pytest.raises(ValueError, match="does not fit"):
        xt.gather(0, kiln.tensor(np.zeros((2, 6, 3), np.int64), device=device))
    with pytest.raises(TypeError, match="integer"):
        xt.gather(0, kiln.tensor(np.zeros((1, 1, 1), np.float32), device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_index_select(device, rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    for dim in (0, 1, 2, -2):
        index = rng.integers(0, x.shape[dim], 6)
        check_against_torch(lambda t: t.index_select(dim, kiln.tensor(index, device=device)),
                            lambda t: t.index_select(dim, torch.tensor(index)) if torch else None, [x], device)
        check_gradient(lambda t: kiln.index_select(t, dim, kiln.from_numpy(index)), [x])
    with pytest.raises(IndexError, match="out of bounds"):
        kiln.tensor(x, device=device).index_select(0, kiln.tensor([0, 4], device=device))
    with pytest.raises(ValueError, match="1-D"):
        kiln.tensor(x, device=device).index_select(0, kiln.tensor([[0]], device=device))


# ---- products and methods ------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_mm_bmm(device, rng):
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    check_against_torch(kiln.mm, torch.mm if torch else None, [a, b], device, rtol=1e-5, atol=1e-5)
    check_against_torch(lambda x, y: x.mm(y), lambda x, y: x.mm(y), [a, b], device, rtol=1e-5, atol=1e-5)
    p, q = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 4, 6)).astype(np.float32)
    check_against_torch(kiln.bmm, torch.bmm if torch else None, [p, q], device, rtol=1e-5, atol=1e-5)
    check_gradient(kiln.bmm, [p, q])
    with pytest.raises(ValueError, match="mm: expected matrices"):
        kiln.mm(kiln.tensor(p, device=device), kiln.tensor(q, device=device))
    with pytest.raises(ValueError, match="bmm: expected batches"):
        kiln.bmm(kiln.tensor(p, device=device), kiln.tensor(p, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_activation_methods(device, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for name in ("tanh", "sigmoid", "relu"):
        check_against_torch(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x], device,
                            rtol=1e-5, atol=1e-6)
    check_against_torch(lambda t: t.softmax(-1), lambda t: t.softmax(-1), [x], device, rtol=1e-5, atol=1e-6)
    check_against_torch(lambda t: t.log_softmax(dim=0), lambda t: t.log_softmax(dim=0), [x], device,
                        rtol=1e-5, atol=1e-6)
    assert kiln.tanh(kiln.tensor(x, device=device)).shape == (3, 4)


# ---- more math, composed -------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_maximum_minimum_with_ties(device, rng):
    a = rng.integers(-3, 3, (4, 5)).astype(np.float32)  # many ties
    b = rng.integers(-3, 3, (5,)).astype(np.float32)
    for name in ("maximum", "minimum"):
        check_against_torch(getattr(kiln, name), getattr(torch, name) if torch else None, [a, b], device)
        check_against_torch(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], device)
    check_gradient(kiln.maximum, [rng.standard_normal((3, 4)), rng.standard_normal((4,))])


@pytest.mark.parametrize("device", DEVICES)
def test_elementwise_extras(device, rng):
    x = np.concatenate([rng.uniform(-5, 5, 40), [-2.5, -0.5, 0.5, 1.5, 2.0, -3.0]]).astype(np.float32)
    for name in ("floor", "ceil", "sign"):
        check_against_torch(getattr(kiln, name), getattr(torch, name) if torch else None, [x], device,
                            grad_flags=[False])
    pos = rng.uniform(0.1, 4, 20).astype(np.float32)
    check_against_torch(kiln.rsqrt, torch.rsqrt if torch else None, [pos], device, rtol=1e-5)
    check_against_torch(lambda t: t.square(), lambda t: t.square(), [x], device)
    check_gradient(lambda t: kiln.rsqrt(t) + t.square(), [pos])
    special = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    for name in ("isnan", "isinf", "isfinite"):
        check_against_torch(getattr(kiln, name), getattr(torch, name) if torch else None, [special], device,
                            grad_flags=[False])
    assert kiln.isinf(kiln.tensor([1, 2], device=device)).tolist() == [False, False]


@pytest.mark.parametrize("device", DEVICES)
def test_any_all(device, rng):
    m = rng.random((3, 4)) > 0.6
    for name in ("any", "all"):
        for kwargs in ({}, dict(dim=1), dict(dim=0, keepdim=True)):
            check_against_torch(lambda t: getattr(t, name)(**kwargs), lambda t: getattr(t, name)(**kwargs),
                                [m], device, grad_flags=[False])
    assert kiln.tensor([1.0, 0.0], device=device).any().item() is True


@pytest.mark.parametrize("device", DEVICES)
def test_var_std(device, rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for kwargs in ({}, dict(dim=1), dict(dim=0, keepdim=True), dict(dim=(0, 1)), dict(dim=1, unbiased=False),
                   dict(dim=1, correction=0)):
        check_against_torch(lambda t: t.var(**kwargs), lambda t: t.var(**kwargs), [x], device, rtol=1e-5, atol=1e-6)
        check_against_torch(lambda t: kiln.std(t, **kwargs), lambda t: torch.std(t, **kwargs) if torch else None,
                            [x], device, rtol=1e-5, atol=1e-6)
    check_gradient(lambda t: t.std(1), [x])
    with pytest.raises(TypeError, match="floating point"):
        kiln.tensor([1, 2]).var()


@pytest.mark.parametrize("device", DEVICES)
def test_tril_triu(device, rng):
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    for diagonal in (0, 1, -2):
        check_against_torch(lambda t: t.tril(diagonal), lambda t: t.tril(diagonal), [x], device)
        check_against_torch(lambda t: kiln.triu(t, diagonal), lambda t: torch.triu(t, diagonal) if torch else None,
                            [x], device)
    causal = kiln.tril(kiln.ones(4, 4, device=device))  # the causal mask of attention
    assert causal.numpy(force=True).tolist() == np.tril(np.ones((4, 4))).tolist()
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        kiln.tril(kiln.ones(3))


@pytest.mark.parametrize("device", DEVICES)
def test_split_chunk_flip(device, rng):
    x = rng.standard_normal((7, 6)).astype(np.float32)

    def joined(pieces):  # several outputs, each weighted: one tensor the helpers compare
        lib = kiln if isinstance(pieces[0], kiln.Tensor) else torch
        return lib.cat([(p * (i + 1)).reshape(-1) for i, p in enumerate(pieces)], 0)
    for args in ((3, 0), ((2, 5), 0), (4, 1), ((1, 1, 4), 1)):
        check_against_torch(lambda t: joined(t.split(*args)).reshape(-1), lambda t: joined(t.split(*args)).reshape(-1),
                            [x], device)
    for chunks, dim in ((3, 0), (4, 1), (7, 0)):
        check_against_torch(lambda t: joined(kiln.chunk(t, chunks, dim)).reshape(-1),
                            lambda t: joined(torch.chunk(t, chunks, dim)).reshape(-1), [x], device)
        if torch is not None:
            assert len(kiln.tensor(x).chunk(chunks, dim)) == len(torch.tensor(x).chunk(chunks, dim))
    for dims in (0, (1,), (0, 1)):
        check_against_torch(lambda t: t.flip(dims), lambda t: t.flip(dims), [x], device)
    q, k, v = kiln.tensor(rng.standard_normal((2, 3, 12)), device=device).split(4, dim=2)  # as attention does
    assert q.shape == k.shape == v.shape == (2, 3, 4)
    with pytest.raises(ValueError, match="do not add up"):
        kiln.tensor(x).split([2, 2], 0)


@pytest.mark.parametrize("device", DEVICES)
def test_topk(device, rng):
    x = rng.permutation(60).reshape(3, 4, 5).astype(np.float32) / 7  # distinct values: one right answer
    for k, dim, largest in ((3, -1, True), (2, 1, False), (3, 0, True), (0, 2, True), (5, 2, False)):
        check_against_torch(lambda t: t.topk(k, dim, largest).values, lambda t: t.topk(k, dim, largest).values,
                            [x], device)
        check_against_torch(lambda t: kiln.topk(t, k, dim, largest).indices,
                            lambda t: torch.topk(t, k, dim, largest).indices if torch else None, [x], device,
                            grad_flags=[False])
    check_gradient(lambda t: t.topk(2, 1).values, [x.astype(np.float64)])
    with_inf = kiln.tensor([-np.inf, 1.0, -np.inf, 2.0], device=device)
    assert sorted(with_inf.topk(4).indices.tolist()[2:]) == [0, 2]  # every position once
    with pytest.raises(ValueError, match="k"):
        kiln.topk(kiln.ones(3, device=device), 4)


@pytest.mark.parametrize("device", DEVICES)
def test_multinomial(device):
    kiln.manual_seed(0)
    probs = kiln.tensor([0.1, 0.0, 0.6, 0.3], device=device)
    draws = kiln.multinomial(probs, 4000, replacement=True)
    assert draws.dtype == np.int64 and draws.shape == (4000,) and draws.device.type == device
    counts = np.bincount(draws.numpy(force=True), minlength=4) / 4000
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.03)
    rows = kiln.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 5.0, 1.0, 1.0]], device=device).multinomial(3)
    assert rows.shape == (2, 3)
    for row, banned in zip(rows.tolist(), (3, 0)):
        assert len(set(row)) == 3 and banned not in row  # without replacement: distinct, weight-0 never
    with pytest.raises(ValueError, match="without replacement"):
        kiln.multinomial(probs, 4)
    with pytest.raises(ValueError, match="non-negative"):
        kiln.multinomial(kiln.tensor([0.5, -0.1]), 1)


def test_log_of_zero_is_minus_infinity_without_a_warning():
    mask = kiln.log(kiln.tril(kiln.ones(3, 3)))  # filterwarnings = error: a RuntimeWarning would fail
    assert mask.numpy()[0].tolist() == [0.0, -np.inf, -np.inf]


def test_gradients_of_the_shape_ops(rng):
    x = rng.standard_normal((4, 5))
    check_gradient(lambda t: kiln.tril(t, -1) + t.triu(2) * 3.0, [x])
    check_gradient(lambda t: kiln.cat([p * (i + 2.0) for i, p in enumerate(t.split([1, 3], 0))], 0), [x])
    check_gradient(lambda t: t.flip((0, 1)) * kiln.from_numpy(np.arange(20.0).reshape(4, 5)), [x])
    check_gradient(lambda t: kiln.minimum(t, t.flip(1)), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_in_place_masked_fill_and_div(device):
    x = kiln.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert x.masked_fill_(x > 2, 0.0) is x
    assert x.tolist() == [[1.0, 2.0], [0.0, 0.0]]
    x.div_(2)
    assert x.tolist() == [[0.5, 1.0], [0.0, 0.0]]
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill_(kiln.tensor([[1, 0], [0, 1]], device=device), 1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_format_of_a_0d_tensor(device):
    loss = kiln.tensor(0.123456, device=device)
    assert f"{loss:.3f}" == "0.123" and "{:+.2f}".format(kiln.tensor([2.5])[0]) == "+2.50"
    assert f"{kiln.tensor(7)}" == "7"
    with pytest.raises(TypeError):
        f"{kiln.ones(2):.2f}"


@pytest.mark.parametrize("device", DEVICES)
def test_norm(device, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for kwargs in ({}, dict(p=1), dict(p=float("inf")), dict(p=-float("inf"), dim=1), dict(p=3, dim=0, keepdim=True),
                   dict(dim=1, keepdim=True), dict(p=float("inf"), dim=(0, 1)), dict(p="fro", dim=(0, 1))):
        check_against_torch(lambda t: t.norm(**kwargs), lambda t: t.norm(**kwargs), [x], device, rtol=1e-5, atol=1e-6)
    check_gradient(lambda t: kiln.norm(t, dim=1) + t.norm(p=3), [x])
    with pytest.raises(ValueError, match="p must be"):
        kiln.norm(kiln.ones(2), p=-1)


@pytest.mark.parametrize("device", DEVICES)
def test_where_with_a_number(device, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    mask = x > 0
    tmask = torch.tensor(mask) if torch else None
    check_against_torch(lambda t: kiln.where(kiln.tensor(mask, device=device), t, 0.0),
                        lambda t: torch.where(tmask, t, 0.0), [x], device)
    check_against_torch(lambda t: kiln.where(kiln.tensor(mask, device=device), -1.5, t),
                        lambda t: torch.where(tmask, -1.5, t), [x], device)
    out = kiln.where(kiln.tensor(mask, device=device), 1, 0)
    assert out.dtype == np.int64 and out.device.type == device
