"""Keras optimizers: configurations that become a ``kiln.optim`` optimizer over the model's
flat parameter buffer when training starts (one fused kernel call per step).

Hyperparameters are checked when the optimizer is made (NaN, infinities, negative rates and
decays are refused there, not at the first step). ``weight_decay`` is Keras's: decoupled,
``w -= learning_rate * weight_decay * w`` before each update, so ``Adam(weight_decay=wd)``
is ``AdamW(weight_decay=wd)``. Keras arguments kiln does not implement (gradient clipping,
loss scaling, gradient accumulation) are refused when set, never ignored. Gradient clipping
is Keras's: ``clipvalue`` clamps each gradient, ``clipnorm`` scales each gradient whose norm
exceeds it to that norm, ``global_clipnorm`` scales all together to a joint norm (at most one).

``learning_rate`` may be a ``schedules.LearningRateSchedule`` (called with ``iterations``, the
updates made so far, before each update) or a callable of no arguments; ``optimizer.learning_rate``
reads the rate the next update uses, and a number may be assigned to it (ReduceLROnPlateau does).
"""

from __future__ import annotations

import numpy as np

from ... import optim
from ...optim import _hyperparameter
from . import schedules

# Keras arguments accepted at their defaults only (a saved Keras config carries them all).
_UNSUPPORTED = {"use_ema": False,
                "loss_scale_factor": None, "gradient_accumulation_steps": None}
# Keras arguments with no effect here (EMA settings matter only with use_ema=True).
_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")
_INERT = {"name", "ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer"}


class Optimizer:
    _decays_weights = True  # whether kiln implements weight_decay for this optimizer

    def __init__(self, learning_rate: float = 0.001, weight_decay=None, **kwargs):
        fn = type(self).__name__
        unknown = sorted(set(kwargs) - set(_UNSUPPORTED) - set(_CLIPPING) - _INERT)
        if unknown:
            raise TypeError(f"{fn}: unexpected keyword arguments {unknown}")
        for name, default in _UNSUPPORTED.items():
            if kwargs.get(name, default) != default:
                raise NotImplementedError(f"{fn}: {name}={kwargs[name]!r} is not supported by kiln")
        if isinstance(learning_rate, dict):  # a serialized schedule, from a saved config
            learning_rate = schedules.deserialize(learning_rate)
        if isinstance(learning_rate, schedules.LearningRateSchedule) or (
                callable(learning_rate) and not isinstance(learning_rate, (int, float))):
            self._schedule, self._learning_rate = learning_rate, None
            self._check_rate(fn, self._scheduled(0))
        else:
            self._schedule, self._learning_rate = None, _hyperparameter(fn, "learning_rate", learning_rate)
        self.iterations = 0  # updates made so far: what a schedule is called with
        self.weight_decay = None if weight_decay is None else _hyperparameter(fn, "weight_decay", weight_decay)
        if self.weight_decay and not self._decays_weights:
            raise NotImplementedError(f"{fn}: weight_decay is not supported by kiln (Adam and AdamW have it)")
        clipping = {name: kwargs[name] for name in _CLIPPING if kwargs.get(name) is not None}
        if len(clipping) > 1:
            raise ValueError(f"{fn}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {clipping}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if kwargs.get(name) is None else _hyperparameter(fn, name, kwargs[name]) for name in _CLIPPING)
        self._kiln = None
        self._pending_state: dict | None = None

    @staticmethod
    def _check_rate(fn: str, value) -> float:
        return _hyperparameter(fn, "learning_rate (from its schedule)", float(value))

    def _scheduled(self, step: int):
        """A LearningRateSchedule takes the step; any other callable takes nothing (as Keras)."""
        if isinstance(self._schedule, schedules.LearningRateSchedule):
            return self._schedule(step)
        return self._schedule()

    @property
    def learning_rate(self) -> float:
        """The rate the next update uses: a schedule's value at ``iterations``, or the number set."""
        if self._schedule is not None:
            return self._check_rate(type(self).__name__, self._scheduled(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        fn = type(self).__name__
        if self._schedule is not None:
            raise TypeError(f"{fn}: this optimizer was created with a LearningRateSchedule as its learning_rate, "
                            "hence its learning rate is not settable")
        self._learning_rate = _hyperparameter(fn, "learning_rate", value)

    @property
    def lr(self) -> float:  # the Keras 2 name
        return self.learning_rate

    @lr.setter
    def lr(self, value) -> None:
        self.learning_rate = value

    def build(self, params) -> None:
        """Create the kiln optimizer over ``params`` (the model's trainable weights)."""
        self._kiln = self._make(list(params))
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    def _make(self, params):
        raise NotImplementedError

    def _clip_gradients(self) -> None:
        grads = [p.grad for group in self._kiln.param_groups for p in group["params"] if p.grad is not None]
        if self.clipvalue is not None:
            for g in grads:
                g.clamp_(-self.clipvalue, self.clipvalue)
        elif self.clipnorm is not None:
            for g in grads:
                norm = float(g.norm().item())
                if norm > self.clipnorm:
                    g.mul_(self.clipnorm / norm)
        elif self.global_clipnorm is not None and grads:
            from ...tensor_ops.shapes import stack
            norm = float(stack([(g * g).sum() for g in grads]).sum().sqrt().item())
            if norm > self.global_clipnorm:
                for g in grads:
                    g.mul_(self.global_clipnorm / norm)

    def apply(self) -> None:
        self._clip_gradients()
        rate = self.learning_rate
        for group in self._kiln.param_groups:
            group["lr"] = rate
        self._kiln.step()
        self.iterations += 1

    def zero_grad(self) -> None:
        self._kiln.zero_grad()

    def get_config(self) -> dict:
        rate = self._learning_rate if self._schedule is None else (
            schedules.serialize(self._schedule) if isinstance(self._schedule, schedules.LearningRateSchedule)
            else self.learning_rate)  # a plain function is saved as its current value
        return {"learning_rate": rate, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    # ---- state, for checkpoints -----------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray]:
        """The optimizer's variables (per weight: step count, moments) as named arrays, for a
        checkpoint that resumes training exactly; empty before training has built it."""
        if self._kiln is None:
            return dict(self._pending_state or {})
        state = {f"{index}/{name}": np.array(value) for index, entry in self._kiln.state_dict()["state"].items()
                 for name, value in entry.items()}
        if self._schedule is not None:  # the step a schedule is at, so a resumed fit continues it
            state["iterations"] = np.array(self.iterations, np.int64)
        return state

    def set_state(self, arrays: dict) -> None:
        """Restore what ``get_state`` returned (kept until training builds the optimizer)."""
        if self._kiln is None:
            self._pending_state = dict(arrays)
            return
        arrays = dict(arrays)
        if "iterations" in arrays:
            self.iterations = int(np.asarray(arrays.pop("iterations")).reshape(-1)[0])
        want = self.get_state()
        want.pop("iterations", None)
        problems = [f"{k} is missing" for k in want if k not in arrays]
        problems += [f"{k} is not a variable of this optimizer" for k in arrays if k not in want]
        # a count is a 0-d array, which kiln.io gives back as shape (1,)
        problems += [f"{k} has shape {np.shape(arrays[k])}, this optimizer's has {v.shape}"
                     for k, v in want.items() if k in arrays and np.shape(arrays[k]) != v.shape
                     and not (v.ndim == 0 and np.shape(arrays[k]) == (1,))]
        if problems:
            raise ValueError(f"{type(self).__name__}.set_state: " + "; ".join(problems))
        state: dict = {}
        for key, value in arrays.items():
            index, name = key.split("/", 1)
            state.setdefault(int(index), {})[name] = np.asarray(value, dtype=want[key].dtype).reshape(want[key].shape)
        current = self._kiln.state_dict()
        self._kiln.load_state_dict({"state": state, "param_groups": current["param_groups"]})


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        fn = type(self).__name__
        self.beta_1 = _hyperparameter(fn, "beta_1", beta_1, below=1.0)
        self.beta_2 = _hyperparameter(fn, "beta_2", beta_2, below=1.0)
        self.epsilon = _hyperparameter(fn, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _make(self, params):
        return optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad, weight_decay=self.weight_decay or 0.0, decoupled_weight_decay=True)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, **kwargs)


class SGD(Optimizer):
    _decays_weights = False

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.momentum = _hyperparameter("SGD", "momentum", momentum, maximum=1.0)
        self.nesterov = bool(nesterov)

    def _make(self, params):
        # Nesterov without momentum is plain SGD in Keras (torch refuses the pair)
        return optim.SGD(params, lr=self.learning_rate, momentum=self.momentum,
                         nesterov=self.nesterov and self.momentum > 0)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    _decays_weights = False

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.rho = _hyperparameter("RMSprop", "rho", rho, maximum=1.0)
        self.momentum = _hyperparameter("RMSprop", "momentum", momentum)
        self.epsilon = _hyperparameter("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)

    def _make(self, params):
        return optim.RMSprop(params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {identifier!r}; known: {', '.join(_BY_NAME)}") from None
    raise TypeError(f"an optimizer must be a name or a keras.optimizers.Optimizer, got {type(identifier).__name__}")


def serialize(opt: Optimizer) -> dict:
    for name, cls in _BY_NAME.items():
        if type(opt) is cls:
            return {"class_name": name, "config": opt.get_config()}
    return {"class_name": "adam", "config": {"learning_rate": opt.get_config()["learning_rate"]}}


def deserialize(config: dict) -> Optimizer:
    return _BY_NAME[config["class_name"]](**config.get("config", {}))
