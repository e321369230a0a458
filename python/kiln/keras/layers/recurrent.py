"""LSTM in the Keras idiom, on kiln's sequence kernels (one call forward, one backward)."""

from __future__ import annotations

import numpy as np

from ...autograd import no_grad
from ...nn import functional as F
from ...factories import ones
from .. import initializers
from .base import Layer


class LSTM(Layer):
    """Long short-term memory over (batch, T, features) -> (batch, units), or (batch, T, units)
    with ``return_sequences``; ``return_state`` adds the final h and c.

    Weights in Keras's layout: kernel (features, 4 units), recurrent_kernel (units, 4 units),
    bias (4 units,), gates in the order i, f, c, o (the forget-gate bias starts at 1).
    """

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias: bool = True, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False, **kwargs):
        super().__init__(**kwargs)
        if activation != "tanh" or recurrent_activation != "sigmoid":
            raise NotImplementedError("LSTM: kiln's fused kernel uses activation='tanh' and "
                                      "recurrent_activation='sigmoid'")
        if recurrent_dropout:
            raise NotImplementedError("LSTM: recurrent_dropout is not supported by the fused kernel")
        if stateful:
            raise NotImplementedError("LSTM: stateful=True is not supported")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LSTM: dropout must be in [0, 1), got {dropout}")
        self.units, self.use_bias, self.unit_forget_bias = int(units), use_bias, unit_forget_bias
        self.dropout, self.return_sequences, self.return_state = dropout, return_sequences, return_state
        self.go_backwards = go_backwards
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        features, units = input_shape[-1], self.units
        self.kernel = self.add_weight("kernel", (features, 4 * units), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (units, 4 * units), self.recurrent_initializer)
        if self.use_bias:
            bias = initializers.get(self.bias_initializer)((4 * units,), np.float32)
            if self.unit_forget_bias:
                bias[units:2 * units] = 1.0
            self.bias = self.add_weight("bias", (4 * units,), initializers.Constant(0.0))
            with no_grad():
                self.bias.copy_(bias)
        else:
            self.bias = None

    def call(self, inputs, training=None, initial_state=None):
        if inputs.ndim != 3:
            raise ValueError(f"{self.name}: expected (batch, timesteps, features), got shape {inputs.shape}")
        x = inputs.float() if inputs.dtype != np.float32 and inputs.dtype != np.float64 else inputs
        if self.go_backwards:
            x = x[:, ::-1]
        if training and self.dropout:  # one mask per sequence, shared by every step (as Keras)
            b, _, f = x.shape
            keep = F.dropout(ones((b, 1, f), dtype=x.dtype, device=x.device), self.dropout, True)
            x = x * keep.detach()
        h0 = c0 = None
        if initial_state is not None:
            h0, c0 = initial_state
        y, h, c = F.lstm_layer(x.transpose(0, 1), self.kernel.T, self.recurrent_kernel.T, self.bias, None, h0, c0)
        out = y.transpose(0, 1) if self.return_sequences else h
        return [out, h, c] if self.return_state else out

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [out, (batch, self.units), (batch, self.units)] if self.return_state else out

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "dropout": self.dropout, "go_backwards": self.go_backwards}
