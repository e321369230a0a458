"""Keras activations by name, mapped onto kiln's differentiable functions."""

from __future__ import annotations

from ...nn import functional as F

_BY_NAME = F.ACTIVATIONS


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
