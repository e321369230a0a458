"""Keras activations by name, mapped onto kiln's differentiable functions."""

from __future__ import annotations

from ...nn import functional as F


def _leaky_relu(x):  # Keras 3's default slope is 0.2 (torch's 0.01)
    return F.leaky_relu(x, 0.2)


_leaky_relu.__name__ = "leaky_relu"

# The kernels' activations, then Keras 3's other names over nn.functional's composed ones.
_BY_NAME = {**F.ACTIVATIONS, "leaky_relu": _leaky_relu, "elu": F.elu, "selu": F.selu, "celu": F.celu,
            "silu": F.silu, "swish": F.silu, "mish": F.mish, "softplus": F.softplus, "softsign": F.softsign,
            "relu6": F.relu6, "hard_sigmoid": F.hardsigmoid, "hard_silu": F.hardswish, "hard_swish": F.hardswish,
            "log_sigmoid": F.logsigmoid, "exponential": lambda x: x.exp()}


def name_of(activation) -> str | None:
    """The canonical name of an activation argument (None for linear)."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, str):
        if activation not in _BY_NAME:
            raise ValueError(f"unknown activation {activation!r}; known: linear, {', '.join(_BY_NAME)}")
        return activation
    for name, fn in _BY_NAME.items():
        if activation is fn or getattr(activation, "__name__", None) == name:
            return name
    return None


def get(activation):
    """A callable for an activation name or callable (None: identity)."""
    name = name_of(activation)
    if name is not None:
        return _BY_NAME[name]
    if activation is None or activation == "linear":
        return None
    if callable(activation):
        return activation
    raise ValueError(f"unknown activation {activation!r}")
