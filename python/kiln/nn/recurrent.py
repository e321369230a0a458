"""The recurrent layers in PyTorch's idiom: nn.LSTM, nn.GRU, nn.RNN and their cells.

Weight layouts and names are torch's (LSTM gates i, f, g, o; GRU r, z, n; weight_ih_l{k},
weight_hh_l{k}_reverse, ...), and so is the init: uniform(-1/sqrt(H), 1/sqrt(H)) for every
parameter. The three sequence layers share one driver (``_RecurrentBase``) for stacking,
bidirectionality, dropout between layers, batch_first and unbatched input; each layer of
each direction is one call of its functional layer (one fused kernel for LSTM and GRU).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backends
from . import functional as F
from ..tensor import Tensor
from ..tensor_ops import as_tensor, cat, flip, stack
from . import init
from .module import Module, Parameter


class _RecurrentBase(Module):
    """The stacked, optionally bidirectional driver of LSTM, GRU and RNN.

    input (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I). The initial state is
    (num_layers * num_directions, B, H) per state tensor (LSTM: h and c), zeros when omitted.
    Returns output (T, B, num_directions * H) (batch_first: (B, T, ...)) and the final state
    of every layer and direction, each (num_layers * num_directions, B, H), ordered as torch's
    (layer-major, the reverse direction after the forward one).
    """

    _kind = ""      # the class name, for messages
    _gates = 1      # the weights' leading size is _gates * H
    _states = 1     # the state tensors (LSTM: 2)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, bidirectional: bool, dtype):
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"{self._kind}: num_layers must be an integer >= 1, got {num_layers!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{self._kind}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bool(bidirectional)
        H, directions = hidden_size, 2 if bidirectional else 1
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else H * directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(np.empty((self._gates * H, in_size), dtype)))
                setattr(self, f"weight_hh{suffix}", Parameter(np.empty((self._gates * H, H), dtype)))
                if bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(np.empty(self._gates * H, dtype)))
                    setattr(self, f"bias_hh{suffix}", Parameter(np.empty(self._gates * H, dtype)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self, layer: int):
        return (f"_l{layer}", f"_l{layer}_reverse") if self.bidirectional else (f"_l{layer}",)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _params(self, suffix: str):
        get = lambda name: getattr(self, f"{name}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _run(self, x, params, state):
        """One layer of one direction over time-major x: (y (T, B, H), tuple of final states)."""
        raise NotImplementedError

    def _initial_state(self, hx, unbatched: bool, batch: int):
        """The initial state as a tuple of (L * D, B, H) tensors, or None for zeros."""
        if hx is None:
            return None
        states = (hx,) if self._states == 1 else tuple(hx)
        if self._states > 1 and len(states) != self._states:
            raise ValueError(f"{self._kind}: hx must be a tuple of {self._states} tensors, got {len(states)}")
        states = tuple(as_tensor(s) for s in states)
        if unbatched:
            states = tuple(s.unsqueeze(1) for s in states)
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        for s in states:
            if tuple(s.shape) != expected:
                names = "h_0" if self._states == 1 else "h_0 and c_0"
                raise ValueError(f"{self._kind}: {names} must have shape {expected}, got {tuple(s.shape)}")
        return states

    def forward(self, input, hx=None):
        x = as_tensor(input)
        if x.ndim not in (2, 3):
            raise ValueError(f"{self._kind}: input must be 2-D (unbatched) or 3-D, got shape {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self._kind}: input has {x.shape[-1]} features, the layer expects {self.input_size}")
        initial = self._initial_state(hx, unbatched, x.shape[1])
        finals = [[] for _ in range(self._states)]
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.num_directions + direction
                state = None if initial is None else tuple(s[index] for s in initial)
                seq = flip(x, 0) if direction else x
                y, last = self._run(seq, self._params(suffix), state)
                outputs.append(flip(y, 0) if direction else y)
                for k, s in enumerate(last):
                    finals[k].append(s)
            x = outputs[0] if len(outputs) == 1 else cat(outputs, dim=-1)
        finals = [stack(f) for f in finals]
        if unbatched:
            x, finals = x.squeeze(1), [f.squeeze(1) for f in finals]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (finals[0] if self._states == 1 else tuple(finals))

    def extra_repr(self) -> str:
        extra = f", num_layers={self.num_layers}" if self.num_layers != 1 else ""
        extra += ", bias=False" if not self.bias else ""
        extra += ", batch_first=True" if self.batch_first else ""
        extra += f", dropout={self.dropout}" if self.dropout else ""
        extra += ", bidirectional=True" if self.bidirectional else ""
        return f"{self.input_size}, {self.hidden_size}{extra}"


class LSTM(_RecurrentBase):
    """A stack of LSTM layers over a sequence (torch.nn.LSTM), each layer and direction one
    kernel call forward and one backward.

    hx = (h_0, c_0), each (num_layers * num_directions, B, H). Returns output and (h_n, c_n).
    Parameters: weight_ih_l{k} (4H, I_k), weight_hh_l{k} (4H, H), bias_ih_l{k}, bias_hh_l{k}
    (4H,), and the same with the suffix _reverse for the backward direction.
    """

    _kind, _gates, _states = "LSTM", 4, 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, dtype=np.float32):
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)

    def _run(self, x, params, state):
        h0, c0 = (None, None) if state is None else state
        y, h, c = F.lstm_layer(x, *params, h0, c0)
        return y, (h, c)


class GRU(_RecurrentBase):
    """A stack of GRU layers over a sequence (torch.nn.GRU; gates r, z, n), each layer and
    direction one fused kernel call forward and one backward.

    hx = h_0 (num_layers * num_directions, B, H). Returns output and h_n.
    Parameters: weight_ih_l{k} (3H, I_k), weight_hh_l{k} (3H, H), bias_ih_l{k}, bias_hh_l{k}
    (3H,), and the same with the suffix _reverse.
    """

    _kind, _gates = "GRU", 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, dtype=np.float32):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)

    def _run(self, x, params, state):
        y, h = F.gru_layer(x, *params, None if state is None else state[0])
        return y, (h,)


class RNN(_RecurrentBase):
    """A stack of Elman RNN layers (torch.nn.RNN): h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T
    + b_hh), act 'tanh' or 'relu', composed from linear and the activation.

    hx = h_0 (num_layers * num_directions, B, H). Returns output and h_n.
    Parameters: weight_ih_l{k} (H, I_k), weight_hh_l{k} (H, H), bias_ih_l{k}, bias_hh_l{k} (H,).
    """

    _kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, dtype)
        self.nonlinearity = nonlinearity

    def _run(self, x, params, state):
        y, h = F.rnn_layer(x, *params, None if state is None else state[0], nonlinearity=self.nonlinearity)
        return y, (h,)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        return extra + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class _CellBase(Module):
    """A cell's parameters (torch's names weight_ih, weight_hh, bias_ih, bias_hh) and init."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool, dtype):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G, H = self._gates * hidden_size, hidden_size
        self.weight_ih = Parameter(np.empty((G, input_size), dtype))
        self.weight_hh = Parameter(np.empty((G, H), dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(G, dtype))
            self.bias_hh = Parameter(np.empty(G, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(H) if H else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _zeros(self, x):
        return Tensor._wrap(backends.select(None, x._array).full((x.shape[0], self.hidden_size), 0,
                                                                 self.weight_ih.dtype))

    def _params(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (", bias=False" if not self.bias else "")


class LSTMCell(_CellBase):
    """One step: input (B, I), hx = (h, c) each (B, H) (zeros when omitted) -> (h', c')."""

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        x = as_tensor(input)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        if hx is None:
            h = c = self._zeros(x)
        else:
            h, c = hx
            if unbatched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)
        h, c = F.lstm_cell(x, h, c, *self._params())
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class _SingleStateCell(_CellBase):
    """A cell whose state is one tensor h: input (B, I) or (I,), hx (B, H) or None -> h'."""

    def _step(self, x, h):
        raise NotImplementedError

    def forward(self, input, hx=None):
        x = as_tensor(input)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.unsqueeze(0)
        h = self._zeros(x) if hx is None else as_tensor(hx)
        if unbatched and hx is not None:
            h = h.unsqueeze(0)
        h = self._step(x, h)
        return h.squeeze(0) if unbatched else h


class GRUCell(_SingleStateCell):
    """One GRU step (torch.nn.GRUCell, gates r, z, n) as one fused kernel: input (B, I),
    hx (B, H) (zeros when omitted) -> h' (B, H). weight_ih (3H, I), weight_hh (3H, H)."""

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=np.float32):
        super().__init__(input_size, hidden_size, bias, dtype)

    def _step(self, x, h):
        return F.gru_cell(x, h, *self._params())


class RNNCell(_SingleStateCell):
    """One Elman RNN step (torch.nn.RNNCell): h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype=np.float32):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, h):
        return F.rnn_cell(x, h, *self._params(), nonlinearity=self.nonlinearity)
