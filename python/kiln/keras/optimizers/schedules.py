"""keras.optimizers.schedules: learning rates as functions of the optimizer's step.

A schedule given as an optimizer's ``learning_rate`` is called with ``optimizer.iterations``
(the number of updates made so far, 0 for the first) before each update, as Keras 3 does;
each formula is Keras 3's, computed in float64 and returned as a Python float.
"""

from __future__ import annotations

import math

from ... import _args


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``; ``get_config``/``from_config``."""

    def __call__(self, step) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _positive(fn: str, name: str, value) -> float:
    value = _args.real(fn, name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{fn}: {name} must be a finite number > 0, got {value}")
    return value


def _finite(fn: str, name: str, value) -> float:
    value = _args.real(fn, name, value)
    if not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite number, got {value}")
    return value


def _step(step) -> float:
    return float(step)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent floored
    with ``staircase=True``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False, name=None):
        fn = "ExponentialDecay"
        self.initial_learning_rate = _finite(fn, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(fn, "decay_steps", decay_steps)
        self.decay_rate = _finite(fn, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name or fn

    def __call__(self, step) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while step <= boundaries[0], ``values[i]`` while boundaries[i-1] < step <=
    boundaries[i], ``values[-1]`` after the last boundary (len(values) = len(boundaries) + 1)."""

    def __init__(self, boundaries, values, name=None):
        fn = "PiecewiseConstantDecay"
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{fn}: the length of boundaries should be 1 less than the length of values, got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        self.boundaries = [_finite(fn, "boundaries", b) for b in boundaries]
        if any(b > a for b, a in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"{fn}: boundaries must be increasing, got {boundaries}")
        self.values = [_finite(fn, "values", v) for v in values]
        self.name = name or fn

    def __call__(self, step) -> float:
        step = _step(step)
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, step capped at
    decay_steps; with ``cycle=True`` decay_steps grows to the first multiple above step."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle: bool = False,
                 name=None):
        fn = "PolynomialDecay"
        self.initial_learning_rate = _finite(fn, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(fn, "decay_steps", decay_steps)
        self.end_learning_rate = _finite(fn, "end_learning_rate", end_learning_rate)
        self.power = _finite(fn, "power", power)
        self.cycle, self.name = bool(cycle), name or fn

    def __call__(self, step) -> float:
        step, decay_steps = _step(step), self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1 - p) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False, name=None):
        fn = "InverseTimeDecay"
        self.initial_learning_rate = _finite(fn, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(fn, "decay_steps", decay_steps)
        self.decay_rate = _finite(fn, "decay_rate", decay_rate)
        self.staircase, self.name = bool(staircase), name or fn

    def __call__(self, step) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay, after an optional linear warm-up (Keras 3):

    - without ``warmup_target``: ``initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``
      with s = min(step, decay_steps);
    - with it: for step < warmup_steps, ``initial + (warmup_target - initial) * step / warmup_steps``;
      then the decay above from ``warmup_target`` over s = min(step, warmup_steps + decay_steps) - warmup_steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None, warmup_steps=0):
        fn = "CosineDecay"
        self.initial_learning_rate = _finite(fn, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive(fn, "decay_steps", decay_steps)
        self.alpha = _finite(fn, "alpha", alpha)
        self.warmup_target = None if warmup_target is None else _finite(fn, "warmup_target", warmup_target)
        self.warmup_steps = _args.real(fn, "warmup_steps", warmup_steps)
        if not (math.isfinite(self.warmup_steps) and self.warmup_steps >= 0):
            raise ValueError(f"{fn}: warmup_steps must be a finite number >= 0, got {warmup_steps}")
        self.name = name or fn

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = _step(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR (Keras 3): cosine cycles, the i-th ``first_decay_steps * t_mul**i`` steps long and
    starting at ``initial * m_mul**i``, each decaying to ``alpha`` times its start."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name=None):
        fn = "CosineDecayRestarts"
        self.initial_learning_rate = _finite(fn, "initial_learning_rate", initial_learning_rate)
        self.first_decay_steps = _positive(fn, "first_decay_steps", first_decay_steps)
        self._t_mul, self._m_mul = _finite(fn, "t_mul", t_mul), _finite(fn, "m_mul", m_mul)
        self.alpha, self.name = _finite(fn, "alpha", alpha), name or fn

    def __call__(self, step) -> float:
        fraction = _step(step) / self.first_decay_steps
        if self._t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:
            i_restart = math.floor(math.log(1.0 - fraction * (1.0 - self._t_mul)) / math.log(self._t_mul))
            sum_r = (1.0 - self._t_mul ** i_restart) / (1.0 - self._t_mul)
            fraction = (fraction - sum_r) / self._t_mul ** i_restart
        m_fac = self._m_mul ** i_restart
        cosine = 0.5 * m_fac * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_BY_NAME = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                           InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    table = {**_BY_NAME, **(custom_objects or {})}
    name = config.get("class_name")
    if name not in table:
        raise ValueError(f"unknown learning rate schedule {name!r}; known: {', '.join(sorted(table))}")
    return table[name].from_config(config.get("config", {}))
