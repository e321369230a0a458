"""Embedding: integer indices (batch, T) -> (batch, T, output_dim)."""

from __future__ import annotations

import numpy as np

from ...nn import functional as F
from ...tensor import Tensor
from .base import Layer


class Embedding(Layer):
    """A lookup table of ``input_dim`` rows of ``output_dim`` floats (uniform in +-0.05, as Keras)."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform", mask_zero: bool = False,
                 input_length=None, **kwargs):
        super().__init__(**kwargs)
        if mask_zero:
            raise NotImplementedError("Embedding: mask_zero=True is not supported (kiln's LSTM does not "
                                      "consume masks); pad and let the model learn the padding token")
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer)

    def call(self, inputs, training=None):
        idx = inputs if isinstance(inputs, Tensor) else Tensor._wrap(np.asarray(inputs))
        if idx.dtype.kind == "f":  # pad_sequences and friends hand out floats of whole numbers
            idx = idx.long()
        return F.embedding(idx, self.embeddings)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim}
