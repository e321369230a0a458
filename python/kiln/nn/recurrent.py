"""nn.LSTM and nn.LSTMCell (gate order i, f, g, o; PyTorch's weight layout and names)."""

from __future__ import annotations

import math

import numpy as np

from .. import backends
from . import functional as F
from ..tensor import Tensor
from ..tensor_ops import as_tensor, stack
from . import init
from .module import Module, Parameter


class LSTM(Module):
    """A stack of LSTM layers over a sequence, each layer one kernel call forward and one backward.

    input (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I);
    hx = (h_0, c_0), each (num_layers, B, H), zeros when omitted.
    Returns output (T, B, H) (batch_first: (B, T, H)) and (h_n, c_n), each (num_layers, B, H).
    Parameters: weight_ih_l{k} (4H, I_k), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k} (4H,).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, dtype=np.float32):
        super().__init__()
        if bidirectional:
            raise NotImplementedError("LSTM: bidirectional=True is not supported yet")
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"LSTM: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        H = hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else H
            setattr(self, f"weight_ih_l{layer}", Parameter(np.empty((4 * H, in_size), dtype)))
            setattr(self, f"weight_hh_l{layer}", Parameter(np.empty((4 * H, H), dtype)))
            if bias:
                setattr(self, f"bias_ih_l{layer}", Parameter(np.empty(4 * H, dtype)))
                setattr(self, f"bias_hh_l{layer}", Parameter(np.empty(4 * H, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_params(self, layer: int):
        get = lambda name: getattr(self, f"{name}_l{layer}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, input, hx=None):
        x = as_tensor(input)
        unbatched = x.ndim == 2
        if x.ndim not in (2, 3):
            raise ValueError(f"LSTM: input must be 2-D (unbatched) or 3-D, got shape {x.shape}")
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"LSTM: input has {x.shape[-1]} features, the layer expects {self.input_size}")
        h0 = c0 = None
        if hx is not None:
            h0, c0 = hx
            if unbatched:
                h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
            expected = (self.num_layers, x.shape[1], self.hidden_size)
            if tuple(h0.shape) != expected or tuple(c0.shape) != expected:
                raise ValueError(f"LSTM: h_0 and c_0 must have shape {expected}, got {h0.shape} and {c0.shape}")
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            w_ih, w_hh, b_ih, b_hh = self._layer_params(layer)
            x, h, c = F.lstm_layer(x, w_ih, w_hh, b_ih, b_hh,
                                   None if h0 is None else h0[layer], None if c0 is None else c0[layer])
            h_n.append(h)
            c_n.append(c)
        h_n, c_n = stack(h_n), stack(c_n)
        if unbatched:
            return x.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n, c_n)

    def extra_repr(self) -> str:
        extra = f", num_layers={self.num_layers}" if self.num_layers != 1 else ""
        extra += ", batch_first=True" if self.batch_first else ""
        return f"{self.input_size}, {self.hidden_size}{extra}"


class LSTMCell(Module):
    """One step: input (B, I), hx = (h, c) each (B, H) (zeros when omitted) -> (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        H = hidden_size
        self.weight_ih = Parameter(np.empty((4 * H, input_size), dtype))
        self.weight_hh = Parameter(np.empty((4 * H, H), dtype))
        self.bias_ih = Parameter(np.empty(4 * H, dtype)) if bias else None
        self.bias_hh = Parameter(np.empty(4 * H, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(H) if H else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, input, hx=None):
        x = as_tensor(input)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        if hx is None:
            zeros = Tensor._wrap(backends.select(None, x._array).full((x.shape[0], self.hidden_size), 0,
                                                                       self.weight_ih.dtype))
            h, c = zeros, zeros
        else:
            h, c = hx
            if unbatched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        h, c = F.lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"
