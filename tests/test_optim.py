"""Optimizers: torch's update rules, one fused kernel call per step over a flat buffer."""

import numpy as np
import pytest

import kiln
from kiln import nn, optim


def model_and_data(seed=0):
    kiln.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    rng = np.random.default_rng(seed)
    x = kiln.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    y = kiln.tensor(rng.integers(0, 3, 16))
    return model, x, y


def train(model, opt, x, y, steps=5):
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return loss.item()


def test_parameters_live_in_one_flat_buffer():
    model, x, y = model_and_data()
    opt = optim.Adam(model.parameters())
    flat = opt._flat[0]
    for p in model.parameters():
        assert np.shares_memory(p.numpy(), flat.data)
    train(model, opt, x, y, steps=1)
    for p in model.parameters():
        assert np.shares_memory(p.grad.numpy(), flat.grad)


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=1e-2), lambda ps: optim.AdamW(ps, lr=1e-2)])
def test_one_kernel_call_per_step(make):
    model, x, y = model_and_data()
    opt = make(model.parameters())
    with kiln.profiler.kernel_time() as kt:
        train(model, opt, x, y, steps=3)
    assert kt.calls["adam_step"] == 3


@pytest.mark.parametrize("kwargs", [dict(), dict(weight_decay=0.1), dict(amsgrad=True), dict(maximize=True)])
@pytest.mark.parametrize("decoupled", [False, True])
def test_flat_step_equals_per_parameter_reference(kwargs, decoupled):
    model, x, y = model_and_data()
    params = list(model.parameters())
    cls = optim.AdamW if decoupled else optim.Adam
    opt = cls(params, lr=3e-3, **kwargs)
    state = [(p.numpy().astype(np.float64), np.zeros(p.shape), np.zeros(p.shape), np.zeros(p.shape))
             for p in params]
    for step in range(1, 4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        grads = [p.grad.numpy().astype(np.float64) for p in params]
        opt.step()
        for (param, m, v, vmax), g in zip(state, grads):
            kiln.reference.adam_step(param, g, m, v, step=step, lr=3e-3,
                                     weight_decay=kwargs.get("weight_decay", 0.01 if decoupled else 0.0),
                                     decoupled=decoupled, amsgrad=kwargs.get("amsgrad", False),
                                     max_exp_avg_sq=vmax if kwargs.get("amsgrad") else None,
                                     maximize=kwargs.get("maximize", False))
    for p, (param, *_) in zip(params, state):
        np.testing.assert_allclose(p.numpy(), param, rtol=1e-5, atol=1e-6)


def test_matches_torch_adam_sgd_rmsprop():
    torch = pytest.importorskip("torch")
    makers = [
        (lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=1e-3)),
        (lambda ps: optim.AdamW(ps, lr=1e-2), lambda ps: torch.optim.AdamW(ps, lr=1e-2)),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
         lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        (lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
         lambda ps: torch.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True)),
    ]
    for make_kiln, make_torch in makers:
        model, x, y = model_and_data()
        tmodel = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
        tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
        opt, topt = make_kiln(model.parameters()), make_torch(tmodel.parameters())
        train(model, opt, x, y, steps=5)
        tx, ty = torch.tensor(x.numpy()), torch.tensor(y.numpy())
        for _ in range(5):
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()
            topt.step()
        for (name, p), tp in zip(model.named_parameters(), tmodel.parameters()):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_parameters_without_gradient_are_skipped():
    kiln.manual_seed(0)
    used, unused = nn.Linear(3, 2), nn.Linear(3, 2)
    opt = optim.Adam(list(used.parameters()) + list(unused.parameters()), lr=0.1)
    before = unused.weight.numpy().copy()
    w_before = used.weight.numpy().copy()
    opt.zero_grad()
    used(kiln.ones(4, 3)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(unused.weight.numpy(), before)
    assert not np.array_equal(used.weight.numpy(), w_before)


def test_param_groups_and_state_dict_round_trip():
    model, x, y = model_and_data()
    layers = list(model.children())
    opt = optim.Adam([{"params": layers[0].parameters()}, {"params": layers[2].parameters(), "lr": 1e-1}], lr=1e-3)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-1]
    train(model, opt, x, y, steps=2)
    saved = opt.state_dict()
    assert set(saved["state"][0]) >= {"exp_avg", "exp_avg_sq", "step"}
    model2, _, _ = model_and_data(seed=1)
    model2.load_state_dict(model.state_dict())
    layers2 = list(model2.children())
    opt2 = optim.Adam([{"params": layers2[0].parameters()}, {"params": layers2[2].parameters()}], lr=1e-3)
    opt2.load_state_dict(saved)
    train(model, opt, x, y, steps=2)
    train(model2, opt2, x, y, steps=2)
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_bad_arguments():
    model, _, _ = model_and_data()
    with pytest.raises(ValueError, match="Adam: lr must be a finite number >= 0, got -1"):
        optim.Adam(model.parameters(), lr=-1)
    with pytest.raises(ValueError, match=r"Adam: betas\[0\] must be a finite number in \[0, 1\), got 1.0"):
        optim.Adam(model.parameters(), betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(model.parameters(), lr=0.1, nesterov=True)
