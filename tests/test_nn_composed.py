"""The nn functions composed from Tensor ops: one_hot, l1/smooth-l1/huber losses, dropout2d,
interpolate (nearest), adaptive_avg_pool2d and their modules; forward and gradients against
torch on "cpu" and "cuda", gradients against finite differences in float64."""

import numpy as np
import pytest

import kiln
from kiln import nn
from kiln.nn import functional as F
from torch_compare import DEVICES, check_against_torch, check_gradient, torch

TF = torch.nn.functional if torch is not None else None


@pytest.mark.parametrize("device", DEVICES)
def test_one_hot(device, rng):
    labels = rng.integers(0, 6, (4, 3))
    out = check_against_torch(lambda t: F.one_hot(t), lambda t: TF.one_hot(t), [labels], device)
    assert out.dtype == np.int64 and out.shape == (4, 3, int(labels.max()) + 1)
    check_against_torch(lambda t: F.one_hot(t, 9), lambda t: TF.one_hot(t, 9), [labels], device)
    t = kiln.tensor(labels, device=device)
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(t, 3)
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(kiln.tensor([-1, 2], device=device))
    with pytest.raises(TypeError, match="integer tensor"):
        F.one_hot(kiln.tensor([0.0, 1.0], device=device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_match_torch(device, reduction, rng):
    x = rng.standard_normal((5, 7)).astype(np.float32) * 2
    y = rng.standard_normal((5, 7)).astype(np.float32)
    flags = [True, True]
    cases = [
        (lambda a, b: F.l1_loss(a, b, reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction)),
        (lambda a, b: nn.L1Loss(reduction)(a, b), lambda a, b: torch.nn.L1Loss(reduction=reduction)(a, b)),
        (lambda a, b: F.smooth_l1_loss(a, b, reduction), lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction)),
        (lambda a, b: nn.SmoothL1Loss(reduction, beta=0.5)(a, b),
         lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=0.5)(a, b)),
        (lambda a, b: F.smooth_l1_loss(a, b, reduction, beta=0.0),
         lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=0.0)),
        (lambda a, b: nn.HuberLoss(reduction, delta=1.5)(a, b),
         lambda a, b: torch.nn.HuberLoss(reduction=reduction, delta=1.5)(a, b)),
    ]
    for kiln_fn, torch_fn in cases:
        check_against_torch(kiln_fn, torch_fn if torch is not None else None, [x, y], device, flags,
                            rtol=1e-5, atol=1e-6)
        check_gradient(kiln_fn, [x, y])


def test_loss_arguments():
    a, b = kiln.zeros(3, 2), kiln.zeros(2, 3)
    with pytest.raises(ValueError, match="differ in shape"):
        F.l1_loss(a, b)
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.l1_loss(a, a, "avg")
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(a, a, beta=-1.0)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout2d(device):
    kiln.manual_seed(0)
    x = kiln.ones(8, 16, 3, 4, device=device, requires_grad=True)
    layer = nn.Dropout2d(0.25)
    y = layer(x)
    assert y.device.type == device
    values = y.numpy(force=True)
    per_channel = values.reshape(8, 16, -1)
    assert ((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1)).all()  # whole channels
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.1 < dropped < 0.4
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(force=True), values)  # the mask is the gradient
    layer.eval()
    assert layer(x) is x
    three = F.dropout2d(kiln.ones(4, 6, 5, device=device), 0.5)  # (N, C, L): channel-wise, as torch
    assert ((three.numpy(force=True) == 0).all(-1) | (three.numpy(force=True) == 2).all(-1)).all()
    assert (F.dropout2d(kiln.ones(2, 3, 4, 4), 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="4-D"):  # a 2-D input warns and drops elements, as torch's
        F.dropout2d(kiln.ones(3))
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout2d(1.5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_interpolate_nearest_matches_torch(device, mode, rng):
    x4 = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    for kwargs in (dict(scale_factor=2), dict(size=(9, 11)), dict(scale_factor=1.7), dict(size=(3, 4)),
                   dict(scale_factor=(3, 0.5)), dict(size=5)):
        check_against_torch(lambda t: F.interpolate(t, mode=mode, **kwargs),
                            lambda t: TF.interpolate(t, mode=mode, **kwargs) if torch else None, [x4], device)
        check_gradient(lambda t: F.interpolate(t, mode=mode, **kwargs), [x4[:1, :2]])
    x3 = rng.standard_normal((2, 3, 6)).astype(np.float32)
    check_against_torch(lambda t: nn.Upsample(scale_factor=3, mode=mode)(t),
                        lambda t: torch.nn.Upsample(scale_factor=3, mode=mode)(t) if torch else None, [x3], device)
    check_against_torch(lambda t: nn.Upsample(size=4, mode=mode)(t),
                        lambda t: torch.nn.Upsample(size=4, mode=mode)(t) if torch else None, [x3], device)


def test_interpolate_arguments():
    x = kiln.ones(1, 1, 4, 4)
    with pytest.raises(NotImplementedError, match="'bicubic' is not supported"):  # bilinear is (test_conv_more)
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="size needs 2 values"):
        F.interpolate(x, size=(2, 3, 4))
    with pytest.raises(ValueError, match="3-D, 4-D or 5-D"):
        F.interpolate(kiln.ones(4, 4), scale_factor=2)
    assert "scale_factor=2" in repr(nn.Upsample(scale_factor=2))


@pytest.mark.parametrize("device", DEVICES)
def test_adaptive_avg_pool2d_matches_torch(device, rng):
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    for size in ((2, 3), (5, 7), 1, (3, 4), (7, 9), (None, 2), 4):
        check_against_torch(lambda t: nn.AdaptiveAvgPool2d(size)(t),
                            lambda t: torch.nn.AdaptiveAvgPool2d(size)(t) if torch else None, [x], device,
                            rtol=1e-5, atol=1e-6)
        check_gradient(lambda t: F.adaptive_avg_pool2d(t, size), [x[:1, :2]])
    check_against_torch(lambda t: F.adaptive_avg_pool2d(t, (2, 2)),
                        lambda t: TF.adaptive_avg_pool2d(t, (2, 2)) if torch else None, [x[0]], device,
                        rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(kiln.ones(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        F.adaptive_avg_pool2d(kiln.ones(4, 4), 2)


def test_a_small_cnn_trains_with_the_new_layers():
    """Upsample, Dropout2d, AdaptiveAvgPool2d and SmoothL1Loss in one model: the loss falls."""
    kiln.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.1), nn.Upsample(scale_factor=2),
                          nn.AdaptiveAvgPool2d((3, 3)), nn.Flatten(), nn.Linear(36, 2))
    rng = np.random.default_rng(0)
    x = kiln.tensor(rng.standard_normal((16, 1, 6, 6)).astype(np.float32))
    y = kiln.tensor(rng.standard_normal((16, 2)).astype(np.float32))
    opt = kiln.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.SmoothL1Loss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
