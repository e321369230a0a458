"""kiln.optim.lr_scheduler against torch.optim.lr_scheduler: the same learning rates (and, for
OneCycleLR, momenta), exactly, step by step; resuming by state_dict and by last_epoch."""

import math

import numpy as np
import pytest

import kiln
from kiln import nn, optim
from kiln.optim import lr_scheduler

torch = pytest.importorskip("torch")

STEPS = 40

CASES = {
    "StepLR": (dict(step_size=7, gamma=0.5), "SGD"),
    "MultiStepLR": (dict(milestones=[3, 10, 10, 25], gamma=0.3), "SGD"),
    "ExponentialLR": (dict(gamma=0.93), "Adam"),
    "CosineAnnealingLR": (dict(T_max=15, eta_min=1e-4), "SGD"),  # past T_max: torch's rise back
    "LambdaLR": (dict(lr_lambda=lambda epoch: 0.97 ** epoch / (1 + epoch % 3)), "Adam"),
    "OneCycleLR": (dict(max_lr=[0.5, 0.2], total_steps=STEPS + 1), "SGD"),
    "MultiplicativeLR": (dict(lr_lambda=lambda epoch: 0.9 if epoch % 2 else 1.02), "SGD"),
    "ConstantLR": (dict(factor=0.25, total_iters=6), "Adam"),
    "LinearLR": (dict(start_factor=0.1, end_factor=0.8, total_iters=12), "SGD"),
    "PolynomialLR": (dict(total_iters=25, power=2.0), "SGD"),
    "CosineAnnealingWarmRestarts": (dict(T_0=4, T_mult=2, eta_min=1e-3), "SGD"),
}


def _groups(lib):
    """Two parameter groups with their own learning rates, for kiln or torch."""
    if lib is torch:
        a, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    else:
        a, b = kiln.zeros(3, requires_grad=True), kiln.zeros(2, requires_grad=True)
    return [{"params": [a]}, {"params": [b], "lr": 0.05}]


def _optimizer(lib, name):
    extra = dict(momentum=0.9) if name == "SGD" else {}
    return getattr(lib.optim, name)(_groups(lib), lr=0.1, **extra)


def _hyper(opt):
    """What a schedule changes: each group's lr, momentum and betas."""
    return [(g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in opt.param_groups]


def _pair(name, **overrides):
    kwargs, opt_name = CASES[name]
    kwargs = {**kwargs, **overrides}
    opt, topt = _optimizer(kiln, opt_name), _optimizer(torch, opt_name)
    ours = (opt, getattr(lr_scheduler, name)(opt, **kwargs))
    return ours, (topt, getattr(torch.optim.lr_scheduler, name)(topt, **kwargs))


def _advance(pair, steps):
    opt, sched = pair
    for _ in range(steps):
        opt.step()
        sched.step()


@pytest.mark.parametrize("name", sorted(CASES))
def test_sequence_matches_torch_exactly(name):
    (opt, sched), (topt, tsched) = _pair(name)
    assert _hyper(opt) == _hyper(topt)
    assert sched.get_last_lr() == tsched.get_last_lr()
    for step in range(STEPS):
        _advance((opt, sched), 1)
        _advance((topt, tsched), 1)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step}"
        assert _hyper(opt) == _hyper(topt), f"step {step}"
        assert sched.last_epoch == tsched.last_epoch


@pytest.mark.parametrize("name", ["OneCycleLR"])
@pytest.mark.parametrize("overrides", [dict(anneal_strategy="linear", three_phase=True, pct_start=0.25),
                                       dict(epochs=4, steps_per_epoch=11, total_steps=None, cycle_momentum=False)])
def test_one_cycle_variants(name, overrides):
    (opt, sched), (topt, tsched) = _pair(name, **overrides)
    for _ in range(sched.total_steps - 1):
        _advance((opt, sched), 1)
        _advance((topt, tsched), 1)
        assert _hyper(opt) == _hyper(topt)
    with pytest.raises(ValueError, match="Tried to step"):
        _advance((opt, sched), 2)


def test_one_cycle_moves_adam_beta1():
    opt = optim.Adam(_groups(kiln), lr=0.1)
    topt = torch.optim.Adam(_groups(torch), lr=0.1)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=20)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=1.0, total_steps=20)
    for _ in range(19):
        _advance((opt, sched), 1)
        _advance((topt, tsched), 1)
        assert _hyper(opt) == _hyper(topt)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR"])
def test_state_dict_resumes(name):
    """Stop after 9 steps, rebuild optimizer and schedule, load both states: the sequence goes on."""
    (opt, sched), _ = _pair(name)
    _advance((opt, sched), 9)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in saved_sched and saved_sched["last_epoch"] == 9
    (opt2, sched2), _ = _pair(name)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for _ in range(15):
        _advance((opt, sched), 1)
        _advance((opt2, sched2), 1)
        assert _hyper(opt) == _hyper(opt2)


def test_lambda_state_dict_keeps_callable_objects_state():
    class Warmup:
        def __init__(self):
            self.length = 5

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.length)

    opt = _optimizer(kiln, "SGD")
    fn = Warmup()
    sched = lr_scheduler.LambdaLR(opt, [fn, lambda e: 1.0])
    saved = sched.state_dict()
    assert saved["lr_lambdas"] == [{"length": 5}, None]
    fn.length = 99
    sched.load_state_dict(saved)
    assert fn.length == 5


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
                                  "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingWarmRestarts"])
def test_last_epoch_resume_matches_torch(name):
    """A schedule made with last_epoch=k (groups carrying initial_lr, as after loading an
    optimizer's state) continues as torch's does."""
    kwargs, opt_name = CASES[name]
    opt, topt = _optimizer(kiln, opt_name), _optimizer(torch, opt_name)
    for o in (opt, topt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] * 2
    sched = getattr(lr_scheduler, name)(opt, last_epoch=6, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=6, **kwargs)
    assert _hyper(opt) == _hyper(topt)
    for _ in range(12):
        _advance((opt, sched), 1)
        _advance((topt, tsched), 1)
        assert sched.get_last_lr() == tsched.get_last_lr()


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ConstantLR",
                                  "LinearLR", "PolynomialLR"])
def test_step_with_epoch_takes_the_closed_form(name):
    (opt, sched), (topt, tsched) = _pair(name)
    for epoch in (3, 11, 7, 30):
        with pytest.warns(UserWarning):  # torch deprecates step(epoch); kiln follows it silently
            tsched.step(epoch)
        sched.step(epoch)
        assert sched.get_last_lr() == tsched.get_last_lr()


def test_warm_restarts_fractional_epochs():
    (opt, sched), (topt, tsched) = _pair("CosineAnnealingWarmRestarts")
    for epoch in np.arange(0, 30, 0.37):
        sched.step(float(epoch))
        tsched.step(float(epoch))
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.T_cur, sched.T_i, sched.last_epoch) == (tsched.T_cur, tsched.T_i, tsched.last_epoch)


def _warmup_then_cosine(lib):
    opt = _optimizer(lib, "SGD")
    s = lib.optim.lr_scheduler
    return opt, s.SequentialLR(opt, [s.LinearLR(opt, start_factor=0.05, total_iters=5),
                                     s.CosineAnnealingLR(opt, T_max=20), s.ExponentialLR(opt, gamma=0.9)],
                               milestones=[5, 25])


def test_sequential_warmup_then_cosine_matches_torch():
    (opt, sched), (topt, tsched) = _warmup_then_cosine(kiln), _warmup_then_cosine(torch)
    assert sched.get_last_lr() == tsched.get_last_lr()
    for step in range(STEPS):
        _advance((opt, sched), 1)
        _advance((topt, tsched), 1)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step}"
        if step == 12:
            saved = sched.state_dict()
    opt2, sched2 = _warmup_then_cosine(kiln)
    sched2.load_state_dict(saved)
    opt2.load_state_dict(opt.state_dict())
    assert sched2.last_epoch == 13 and [s.last_epoch for s in sched2._schedulers] == \
        [s["last_epoch"] for s in saved["_schedulers"]]
    with pytest.raises(ValueError, match="one milestone fewer"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2)], milestones=[3])
    with pytest.raises(ValueError, match="same optimizer"):
        other = _optimizer(kiln, "SGD")
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(other, 2)], milestones=[])


def test_last_epoch_without_initial_lr_is_refused():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_optimizer(kiln, "SGD"), step_size=3, last_epoch=4)


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", factor=0.5, patience=2, threshold=0.1, cooldown=2),
                                    dict(threshold_mode="abs", patience=1, min_lr=[0.02, 0.01], eps=1e-3)])
def test_reduce_on_plateau_matches_torch(kwargs):
    opt, topt = _optimizer(kiln, "SGD"), _optimizer(torch, "SGD")
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    rng = np.random.default_rng(3)
    metrics = np.concatenate([np.linspace(1, 0.5, 6), np.full(30, 0.5) + rng.uniform(-0.02, 0.02, 30)])
    for m in metrics:
        opt.step()
        topt.step()
        sched.step(float(m))
        tsched.step(float(m))
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter) == \
            (tsched.best, tsched.num_bad_epochs, tsched.cooldown_counter)
    saved = sched.state_dict()
    again = lr_scheduler.ReduceLROnPlateau(_optimizer(kiln, "SGD"), **kwargs)
    again.load_state_dict(saved)
    assert again.best == sched.best and again.num_bad_epochs == sched.num_bad_epochs


def test_bad_arguments():
    opt = _optimizer(kiln, "SGD")
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode 'up' is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="up")
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad(_groups(kiln)), max_lr=1.0, total_steps=5)


def test_schedule_drives_training():
    """The optimizer reads the scheduled lr at every step: a zero lr freezes the weights."""
    kiln.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = lr_scheduler.LambdaLR(opt, lambda epoch: 0.0 if epoch >= 1 else 1.0)
    x = kiln.ones(4, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x).sum().backward()
        before = model.weight.numpy().copy()
        opt.step()
        sched.step()
    np.testing.assert_array_equal(model.weight.numpy(), before)
    assert math.isclose(opt.param_groups[0]["lr"], 0.0)
