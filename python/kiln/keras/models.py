"""``keras.models``: Model (functional API and subclassing), Sequential, and saving them."""

from .loading import load_model
from .model import Model
from .saving import save_model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model", "save_model"]
