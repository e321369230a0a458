"""Checks and output helpers shared by several kernel families of ``kiln.ops``."""

from __future__ import annotations

import math

import numpy as np

from .._args import MAX_ELEMENTS as _MAX_ELEMENTS
from . import _arrays


def _check_count(fn: str, what: str, count: int) -> None:
    """Refuse an operand of more than kiln's limit of elements, before anything is allocated."""
    if count > _MAX_ELEMENTS:
        raise ValueError(f"{fn}: {what} would have {count} elements, more than kiln's limit "
                         f"of {_MAX_ELEMENTS} per operand")


def _check_elements(fn: str, name: str, shape) -> None:
    _check_count(fn, f"{name} of shape {tuple(shape)}", math.prod(shape))


def _batch_of_images(fn: str, name: str, x) -> np.ndarray:
    x = _arrays.float_array(fn, name, x)
    if x.ndim != 4:
        raise ValueError(f"{fn}: {name} must be 4-D (N, C, H, W), got shape {x.shape}")
    return x


def _same_shape(fn: str, name: str, x: np.ndarray, like_name: str, like: np.ndarray) -> None:
    if x.shape != like.shape:
        raise ValueError(f"{fn}: {name} must have {like_name}'s shape {like.shape}, got {x.shape}")


def _float_arrays_alike(fn: str, name: str, x, other_name: str, other) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``other`` as float arrays, ``other`` of x's shape (grad_y and y, pred and target)."""
    x = _arrays.float_array(fn, name, x)
    other = _arrays.float_array(fn, other_name, other)
    _same_shape(fn, other_name, other, name, x)
    return x, other
