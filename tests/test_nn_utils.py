"""kiln.nn.utils: gradient clipping and parameter vectors, against torch.nn.utils's rules."""

import math

import numpy as np
import pytest

import kiln
from kiln import nn
from torch_compare import DEVICES


def _params_with_grads(device, rng):
    """Two parameters whose gradients are known: d/dw sum(w**2) = 2w and d/db sum(3b) = 3."""
    w = kiln.tensor(rng.standard_normal((4, 5)).astype(np.float32), device=device, requires_grad=True)
    b = kiln.tensor(rng.standard_normal(5).astype(np.float32), device=device, requires_grad=True)
    ((w * w).sum() + (b * 3.0).sum()).backward()
    return [w, b], [2 * w.numpy(force=True), np.full(5, 3.0, np.float32)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm_type, max_norm", [(2.0, 1.0), (1.0, 2.0), (math.inf, 0.5), (2.0, 1e6)])
def test_clip_grad_norm_scales_as_torch(device, norm_type, max_norm):
    params, grads = _params_with_grads(device, np.random.default_rng(0))
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    total = np.abs(flat).max() if math.isinf(norm_type) else np.linalg.norm(flat, norm_type)
    returned = nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert float(returned) == pytest.approx(total, rel=1e-5)
    coefficient = min(max_norm / (total + 1e-6), 1.0)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(force=True), g * coefficient, rtol=1e-5)


def test_clip_grad_norm_skips_missing_grads_and_refuses_nonfinite():
    a = kiln.tensor(np.ones(3, np.float32), requires_grad=True)
    b = kiln.tensor(np.ones(3, np.float32), requires_grad=True)  # never used: no gradient
    (a * float("inf")).sum().backward()
    with pytest.raises(RuntimeError, match="not finite"):
        nn.utils.clip_grad_norm_([a, b], 1.0, error_if_nonfinite=True)
    assert b.grad is None
    assert float(nn.utils.clip_grad_norm_([b], 1.0)) == 0.0


def test_clip_grad_value_and_parameter_vectors():
    params, grads = _params_with_grads("cpu", np.random.default_rng(1))
    nn.utils.clip_grad_value_(params, 0.7)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), np.clip(g, -0.7, 0.7), rtol=1e-6)
    vec = nn.utils.parameters_to_vector(params)
    np.testing.assert_array_equal(vec.numpy(), np.concatenate([p.detach().numpy().ravel() for p in params]))
    nn.utils.vector_to_parameters(vec * 2.0, params)
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(params).numpy(), 2 * vec.numpy())
    with pytest.raises(ValueError, match="elements"):
        nn.utils.vector_to_parameters(kiln.zeros(3), params)


def test_clip_inside_a_training_step_uses_the_optimizers_buffer():
    """The optimizer's flat gradient buffer is what clipping scales (the gradients are its views)."""
    kiln.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = kiln.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    loss = (model(kiln.ones(4, 3) * 100.0) ** 2).sum()
    optimizer.zero_grad()
    loss.backward()
    norm = float(nn.utils.clip_grad_norm_(model.parameters(), 1.0))
    assert norm > 1.0
    optimizer.step()
    moved = np.sqrt(sum(((p.detach().numpy() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert moved == pytest.approx(1.0, rel=1e-4)
