"""Free functions over tensors, as in the torch namespace (``kiln.sum(x)``, ``kiln.max(x, 1)``).

Kept apart from tensor.py because their names shadow Python builtins.
"""

from .tensor import _as_tensor


def sum(t, dim=None, keepdim=False):  # noqa: A001
    return _as_tensor(t).sum(dim, keepdim)


def mean(t, dim=None, keepdim=False):
    return _as_tensor(t).mean(dim, keepdim)


def exp(t):
    return _as_tensor(t).exp()


def log(t):
    return _as_tensor(t).log()


def sqrt(t):
    return _as_tensor(t).sqrt()


def abs(t):  # noqa: A001
    return _as_tensor(t).abs()


def max(t, dim=None, keepdim=False):  # noqa: A001
    return _as_tensor(t).max(dim, keepdim)


def flatten(t, start_dim=0, end_dim=-1):
    return _as_tensor(t).flatten(start_dim, end_dim)


def clamp(t, min=None, max=None):  # noqa: A002
    return _as_tensor(t).clamp(min, max)
