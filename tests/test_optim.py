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


DEVICES = ["cpu"] + (["cuda"] if kiln.cuda.is_available() else [])


def _step_both(kiln_opt, torch_opt, params, tparams, grads, torch):
    """One step of each optimizer with the same gradients (None: that parameter has none)."""
    kiln_opt.zero_grad()
    torch_opt.zero_grad()
    loss = None
    for p, g in zip(params, grads):
        if g is not None:
            term = (p * kiln.tensor(g, device=p.device)).sum()
            loss = term if loss is None else loss + term
    loss.backward()
    for tp, g in zip(tparams, grads):
        tp.grad = None if g is None else torch.tensor(g)
    kiln_opt.step()
    torch_opt.step()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,kwargs", [
    ("Adagrad", {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.02)),
    ("Adadelta", dict(maximize=True)),
])
def test_adagrad_adadelta_match_torch(device, name, kwargs, rng):
    """torch's update rules and defaults, step by step on the same parameters and gradients,
    including steps where one parameter has no gradient (its count stays behind)."""
    torch = pytest.importorskip("torch")
    shapes = [(3, 4), (5,), (2, 3, 2)]
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    params = [kiln.tensor(a, device=device, requires_grad=True) for a in start]
    tparams = [torch.tensor(a, requires_grad=True) for a in start]
    opt = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.3}], **kwargs)
    topt = getattr(torch.optim, name)([{"params": tparams[:2]}, {"params": tparams[2:], "lr": 0.3}], **kwargs)
    assert opt.defaults == {k: v for k, v in topt.defaults.items() if k in opt.defaults}
    for step in range(6):
        grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        if step in (1, 2):
            grads[1] = None
        _step_both(opt, topt, params, tparams, grads, torch)
        for p, tp in zip(params, tparams):
            np.testing.assert_allclose(p.numpy(force=True), tp.detach().numpy(), rtol=2e-5, atol=2e-6)


def test_adagrad_adadelta_defaults_and_checks():
    model, x, y = model_and_data()
    assert optim.Adagrad(model.parameters()).defaults["lr"] == 1e-2
    assert optim.Adadelta(model.parameters()).defaults["lr"] == 1.0
    with pytest.raises(ValueError, match="Adagrad: lr_decay must be a finite number >= 0, got -0.1"):
        optim.Adagrad(model.parameters(), lr_decay=-0.1)
    with pytest.raises(ValueError, match=r"Adadelta: rho must be a finite number in \[0, 1\], got 1.5"):
        optim.Adadelta(model.parameters(), rho=1.5)
    for cls in (optim.Adagrad, optim.Adadelta):  # they train, and their state round-trips
        model, x, y = model_and_data()
        opt = cls(model.parameters())
        before = train(model, opt, x, y, steps=1)
        assert train(model, opt, x, y, steps=20) < before
        saved = opt.state_dict()
        model2, _, _ = model_and_data(seed=1)
        model2.load_state_dict(model.state_dict())
        opt2 = cls(model2.parameters())
        opt2.load_state_dict(saved)
        train(model, opt, x, y, steps=2)
        train(model2, opt2, x, y, steps=2)
        for p, q in zip(model.parameters(), model2.parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optim_is_a_package():
    from kiln.optim import Adam, SGD  # noqa: F401
    from kiln.optim.lr_scheduler import StepLR  # noqa: F401
    import kiln as torch_like
    assert torch_like.optim.lr_scheduler.StepLR is StepLR
