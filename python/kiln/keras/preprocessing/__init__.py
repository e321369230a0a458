"""keras.preprocessing: text tokenisation and sequence padding."""

from . import sequence, text

__all__ = ["sequence", "text"]
