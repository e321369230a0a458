"""The rest of torch's everyday surface: composed activations, orders and scans, scatters,
factories, containers, KL divergence and distances, against torch (where installed) and
central differences in float64."""

import numpy as np
import pytest

import kiln
from kiln import nn
from kiln.nn import functional as F
from torch_compare import DEVICES, check_against_torch, check_gradient, needs_torch, torch

# Points on both sides of every kink and threshold, but not on them (finite differences need
# smoothness there); the kinks themselves are checked against torch below.
SMOOTH_POINTS = np.array([-7.3, -2.6, -1.2, -0.4, 0.3, 0.9, 2.2, 4.1, 7.7, 23.0], np.float32)
KINKS = np.array([-200.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 20.0, 200.0], np.float32)

ACTIVATIONS = [("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}), ("elu", {"alpha": 0.5}),
               ("selu", {}), ("celu", {"alpha": 2.0}), ("silu", {}), ("mish", {}), ("softplus", {}),
               ("softplus", {"beta": 2.0, "threshold": 5.0}), ("softsign", {}), ("hardtanh", {}), ("relu6", {}),
               ("hardsigmoid", {}), ("hardswish", {}), ("logsigmoid", {})]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS)
@pytest.mark.parametrize("device", DEVICES)
def test_activation_matches_torch(name, kwargs, device):
    for points in (SMOOTH_POINTS, KINKS):
        check_against_torch(lambda x: getattr(F, name)(x, **kwargs),
                            lambda x: getattr(torch.nn.functional, name)(x, **kwargs), [points], device,
                            rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS)
def test_activation_gradient_is_its_derivative(name, kwargs):
    check_gradient(lambda x: getattr(F, name)(x, **kwargs), [SMOOTH_POINTS])


@needs_torch
def test_activation_modules_take_torchs_arguments():
    x = np.linspace(-4, 4, 9).astype(np.float32)
    for module, ref in [(nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)), (nn.ELU(alpha=0.7), torch.nn.ELU(alpha=0.7)),
                        (nn.Softplus(beta=3, threshold=4), torch.nn.Softplus(beta=3, threshold=4)),
                        (nn.Hardtanh(-2, 2), torch.nn.Hardtanh(-2, 2)), (nn.SiLU(), torch.nn.SiLU())]:
        np.testing.assert_allclose(module(kiln.tensor(x)).numpy(), ref(torch.tensor(x)).numpy(), rtol=1e-6, atol=1e-7)
    assert repr(nn.LeakyReLU(0.3)) == "LeakyReLU(negative_slope=0.3)"
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.ELU(beta=1.0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_torch(device, descending):
    x = np.array([[3.0, 1.0, np.nan, 2.0, 1.0], [0.0, 5.0, 5.0, -np.inf, -1.0]], np.float32)
    t = kiln.tensor(x, device=device)
    values, indices = kiln.sort(t, dim=1, descending=descending)
    if torch is not None:
        ref = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
        np.testing.assert_array_equal(values.numpy(force=True), ref.values.numpy())
        np.testing.assert_array_equal(indices.numpy(force=True), ref.indices.numpy())
    np.testing.assert_array_equal(t.argsort(dim=1, descending=descending).numpy(force=True), indices.numpy(force=True))
    assert indices.dtype == np.int64


@pytest.mark.parametrize("device", DEVICES)
def test_sort_gradient_goes_back_to_the_positions(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    check_against_torch(lambda t: kiln.sort(t, dim=0, descending=True).values,
                        lambda t: torch.sort(t, dim=0, descending=True).values, [x], device)


@pytest.mark.parametrize("device", DEVICES)
def test_cumsum_cumprod_and_roll_match_torch(device):
    rng = np.random.default_rng(1)
    x = (rng.random((3, 5)) + 0.5).astype(np.float32)
    for dim in (0, 1, -1):
        check_against_torch(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), [x], device, rtol=1e-5)
        check_against_torch(lambda t: kiln.cumprod(t, dim), lambda t: torch.cumprod(t, dim), [x], device, rtol=1e-5)
    check_against_torch(lambda t: kiln.roll(t, (2, -1), (1, 0)), lambda t: torch.roll(t, (2, -1), (1, 0)), [x], device)
    check_against_torch(lambda t: t.roll(3), lambda t: t.roll(3), [x], device)
    ints = kiln.tensor(np.array([[True, False, True]]), device=device).cumsum(1)
    assert ints.dtype == np.int64 and ints.tolist() == [[1, 1, 2]]


def test_cumsum_and_cumprod_gradients():
    x = (np.random.default_rng(2).random((3, 4)) + 0.5).astype(np.float32)
    check_gradient(lambda t: t.cumsum(1), [x])
    check_gradient(lambda t: kiln.cumprod(t, 0), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_unique_and_nonzero(device):
    t = kiln.tensor(np.array([[3, 1, 3], [0, 2, 1]]), device=device)
    values, inverse, counts = kiln.unique(t, return_inverse=True, return_counts=True)
    assert values.tolist() == [0, 1, 2, 3] and counts.tolist() == [1, 2, 1, 2]
    np.testing.assert_array_equal(values.numpy(force=True)[inverse.numpy(force=True)], t.numpy(force=True))
    assert t.nonzero().tolist() == [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2]]
    rows, cols = t.nonzero(as_tuple=True)
    assert rows.tolist() == [0, 0, 0, 1, 1] and cols.tolist() == [0, 1, 2, 1, 2]
    assert kiln.zeros(2, 3).nonzero().shape == (0, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_scatter_and_scatter_add_match_torch(device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    src = rng.standard_normal((2, 4)).astype(np.float32)
    index = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])
    add_index = np.array([[0, 0, 4, 4], [1, 3, 3, 3]])
    check_against_torch(lambda a, s: a.scatter_add(1, kiln.tensor(add_index, device=device), s),
                        lambda a, s: a.scatter_add(1, torch.tensor(add_index), s), [x, src], device)
    check_against_torch(lambda a, s: a.scatter(0, kiln.tensor(index, device=device), s),
                        lambda a, s: a.scatter(0, torch.tensor(index), s), [x, src], device)
    check_against_torch(lambda a: a.scatter(1, kiln.tensor(index[:, :1], device=device), 9.0),
                        lambda a: a.scatter(1, torch.tensor(index[:, :1]), 9.0), [x], device)
    with pytest.raises(IndexError, match="out of bounds"):
        kiln.zeros(2, 3).scatter_add(1, kiln.tensor([[3]]), kiln.ones(1, 1))


@pytest.mark.parametrize("device", DEVICES)
def test_factories_and_small_methods(device):
    t = kiln.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device=device)
    z = t.new_zeros(4, 2)
    assert z.shape == (4, 2) and z.dtype == np.float32 and z.device == t.device
    assert t.new_full((2,), 7).tolist() == [7.0, 7.0] and t.new_ones((1, 2)).tolist() == [[1.0, 1.0]]
    assert t.new_tensor([1, 2]).dtype == np.float32
    assert kiln.eye(2, 3, device=device).tolist() == [[1, 0, 0], [0, 1, 0]]
    np.testing.assert_allclose(kiln.logspace(0, 2, 3).numpy(), [1.0, 10.0, 100.0])
    assert kiln.randint_like(t, 5).shape == (2, 3)
    assert kiln.diag(kiln.tensor([1.0, 2.0]), -1).tolist() == [[0, 0, 0], [1, 0, 0], [0, 2, 0]]
    assert kiln.diag(t, 1).tolist() == [1.0, 5.0]
    assert kiln.outer(kiln.tensor([1.0, 2.0]), kiln.tensor([3.0, 4.0, 5.0])).tolist() == [[3, 4, 5], [6, 8, 10]]
    assert kiln.allclose(t, t * (1 + 1e-6)) and not kiln.allclose(t, t + 1e-3)
    assert [u.tolist() for u in t.unbind(1)] == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert t.mT.shape == (3, 2) and t.expand_as(kiln.zeros(4, 2, 3)).shape == (4, 2, 3)
    assert t.type_as(kiln.tensor([1])).dtype == np.int64 and (-t).tolist() == t.neg().tolist()
    assert kiln.numel(t) == 6 and kiln.bool == kiln.bool_
    with kiln.inference_mode():
        assert not (kiln.ones(2, requires_grad=True) * 2).requires_grad


def test_containers_register_what_they_hold():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(2, 1)})
            self.scales = nn.ParameterList([kiln.ones(3), kiln.zeros(1)])
            self.extra = nn.ParameterDict({"bias": kiln.zeros(2)})

    net = Net()
    assert list(net.state_dict()) == ["heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
                                      "scales.0", "scales.1", "extra.bias"]
    assert len(list(net.parameters())) == 7
    assert list(net.heads.keys()) == ["a", "b"] and "a" in net.heads and len(net.scales) == 2
    net.heads["c"] = nn.Identity()
    assert list(net.heads) == ["a", "b", "c"]


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's note on its own "mean"
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    rng = np.random.default_rng(4)
    logp = np.log(rng.dirichlet(np.ones(5), size=4)).astype(np.float32)
    q = rng.dirichlet(np.ones(5), size=4).astype(np.float32)
    q[0, 0] = 0.0  # a zero target contributes 0
    target = np.log(q + 1e-3) if log_target else q
    with np.errstate(divide="ignore"):
        check_against_torch(lambda a: F.kl_div(a, kiln.tensor(target), reduction, log_target),
                            lambda a: torch.nn.functional.kl_div(a, torch.tensor(target), reduction=reduction,
                                                                 log_target=log_target), [logp], "cpu", rtol=1e-5)
    assert np.isfinite(nn.KLDivLoss(reduction="batchmean")(kiln.tensor(logp), kiln.tensor(q)).item())


@pytest.mark.parametrize("device", DEVICES)
def test_normalize_and_distances_match_torch(device):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 4, 6)).astype(np.float32)
    check_against_torch(lambda x: F.normalize(x, dim=1), lambda x: torch.nn.functional.normalize(x, dim=1), [a],
                        device, rtol=1e-5)
    check_against_torch(lambda x, y: nn.CosineSimilarity(dim=1)(x, y),
                        lambda x, y: torch.nn.CosineSimilarity(dim=1)(x, y), [a, b], device, rtol=1e-5)
    check_against_torch(lambda x, y: nn.PairwiseDistance()(x, y), lambda x, y: torch.nn.PairwiseDistance()(x, y),
                        [a, b], device, rtol=1e-5)
    assert nn.Unflatten(1, (2, 3))(kiln.zeros(4, 6)).shape == (4, 2, 3)
