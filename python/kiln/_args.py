"""Scalar arguments shared by kiln.ops, the layers and the reference: ints, (h, w) pairs, reals.

Bools are refused where a number is meant (TypeError); out-of-range values are ValueErrors
naming the function and the argument. Array arguments are checked in ``kiln.ops._arrays``.
"""

from __future__ import annotations

import numbers

MAX_ELEMENTS = 2**31 - 1  # kiln's limit per operand and per size (kiln::kMaxElements): 32-bit indices


def integer(fn: str, name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python int (bools refused), optionally at least ``minimum`` and at most ``maximum``."""
    if type(value) is int and (maximum is None or value <= maximum):  # the common case, without the ABC check
        if minimum is not None and value < minimum:
            raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{fn}: {name} must be <= {maximum}, got {value}")
    return value


def pair(fn: str, name: str, value, minimum: int | None = None, maximum: int | None = None) -> tuple[int, int]:
    """An int or a pair of ints (height, width), as torch's conv/pool arguments."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        return integer(fn, name, value[0], minimum, maximum), integer(fn, name, value[1], minimum, maximum)
    v = integer(fn, name, value, minimum, maximum)
    return v, v


def real(fn: str, name: str, value) -> float:
    """A Python float from a real number (bools refused)."""
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    return float(value)
