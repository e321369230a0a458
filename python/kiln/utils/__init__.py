"""``kiln.utils``: data loading helpers in the PyTorch idiom."""

from . import data

__all__ = ["data"]
