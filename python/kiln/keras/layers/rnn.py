"""GRU, SimpleRNN and Bidirectional in the Keras idiom (Keras 3's arguments, defaults and weights).

GRU runs kiln's fused GRU kernel: Keras's weights (kernel (features, 3 units) with the gates
z, r, h; recurrent_kernel (units, 3 units); bias (2, 3 units): the input and the recurrent
bias, reset_after=True) are reordered onto torch's r, z, n layout inside the graph, so their
gradients come back in Keras's layout. Keras's reset_after GRU is torch's GRU:
h = z * h_prev + (1 - z) * tanh(x_h + r * (h_prev @ U_h + b_rh)).
Options the fused kernel does not compute (other activations, reset_after=False, and
recurrent_dropout while training) run a composed path: Keras's cell equations step by step
over dense products. SimpleRNN always composes from dense products and the activation.
"""

from __future__ import annotations

import numpy as np

from ...factories import ones, zeros
from ...nn import functional as F
from ...tensor_ops import cat, flip, stack
from . import activations
from .base import Layer, check_config


def _refuse(layer: str, option: str, why: str):
    raise NotImplementedError(f"{layer}: {option} is not supported ({why})")


def _keep_masks(like, shape, rate: float, training, count: int):
    """``count`` dropout keep masks (scaled by 1 / (1 - rate)) of ``shape``, one per sequence as
    Keras draws them, or None outside training or without dropout."""
    if not (training and rate):
        return None
    return [F.dropout(ones(shape, dtype=like.dtype, device=like.device), rate, True).detach() for _ in range(count)]


def _identity(v):
    return v


def _float_input(name: str, inputs):
    if inputs.ndim != 3:
        raise ValueError(f"{name}: expected (batch, timesteps, features), got shape {inputs.shape}")
    return inputs.float() if inputs.dtype != np.float32 and inputs.dtype != np.float64 else inputs


def _single_state(initial_state):
    if initial_state is None:
        return None
    if isinstance(initial_state, (list, tuple)):
        if len(initial_state) != 1:
            raise ValueError(f"initial_state must hold one tensor (h), got {len(initial_state)}")
        return initial_state[0]
    return initial_state


class _Recurrent(Layer):
    """What GRU and SimpleRNN share: the sequence options and their checks."""

    _kind = ""

    def __init__(self, units: int, activation, use_bias, kernel_initializer, recurrent_initializer,
                 bias_initializer, dropout, recurrent_dropout, return_sequences, return_state, go_backwards,
                 stateful, unroll, **kwargs):
        super().__init__(**kwargs)
        if stateful:
            _refuse(self._kind, "stateful=True", "kiln keeps no state between batches")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{self._kind}: {what} must be in [0, 1), got {rate}")
        self.units, self.use_bias = int(units), bool(use_bias)
        self.activation_name = activations.name_of(activation)
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)

    def _sequence(self, inputs):
        x = _float_input(self.name, inputs)
        return flip(x, 1) if self.go_backwards else x

    def _initial(self, x, initial_state):
        h0 = _single_state(initial_state)
        return zeros((x.shape[0], self.units), dtype=x.dtype, device=x.device) if h0 is None else h0

    def _outputs(self, y, h):
        """y (B, T, units), h (B, units) -> Keras's output (and state)."""
        out = y if self.return_sequences else h
        return [out, h] if self.return_state else out

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [out, (batch, self.units)] if self.return_state else out

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name or "linear",
                "use_bias": self.use_bias, "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll}


class GRU(_Recurrent):
    """Gated recurrent unit over (batch, T, features) -> (batch, units), or (batch, T, units)
    with ``return_sequences``; ``return_state`` adds the final h. One fused kernel call forward
    and one backward for the defaults (tanh, sigmoid, reset_after=True; recurrent_dropout only
    outside training), Keras's equations composed step by step otherwise. Weights: kernel
    (features, 3 units), recurrent_kernel (units, 3 units), bias (2, 3 units) (reset_after=False:
    (3 units,)), gates z, r, h.
    """

    _kind = "GRU"

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, reset_after: bool = True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful,
                         unroll, **kwargs)
        self.recurrent_activation_name = activations.name_of(recurrent_activation)
        self._activation = activations.get(activation) or _identity
        self._recurrent_activation = activations.get(recurrent_activation) or _identity
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        features, units = input_shape[-1], self.units
        self.kernel = self.add_weight("kernel", (features, 3 * units), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (units, 3 * units), self.recurrent_initializer)
        bias_shape = (2, 3 * units) if self.reset_after else (3 * units,)
        self.bias = self.add_weight("bias", bias_shape, self.bias_initializer) if self.use_bias else None

    def _torch_order(self, m, axis: int):
        """Keras's gate chunks z, r, h along ``axis`` -> torch's r, z, n."""
        u = self.units
        chunk = (lambda a, b: m[:, a:b]) if axis == 1 else (lambda a, b: m[a:b])  # noqa: E731
        return cat([chunk(u, 2 * u), chunk(0, u), chunk(2 * u, 3 * u)], dim=axis)

    def _fused(self, training) -> bool:
        """Whether the fused kernel computes this layer's equations (with recurrent dropout, only
        outside training, where it is off)."""
        return (self.activation_name == "tanh" and self.recurrent_activation_name == "sigmoid" and self.reset_after
                and not (training and self.recurrent_dropout))

    def call(self, inputs, training=None, initial_state=None):
        x = self._sequence(inputs)
        if not self._fused(training):
            return self._outputs(*self._composed(x, training, self._initial(x, initial_state)))
        masks = _keep_masks(x, (x.shape[0], 1, x.shape[2]), self.dropout, training, 1)
        if masks:
            x = x * masks[0]
        w_ih = self._torch_order(self.kernel, 1).T
        w_hh = self._torch_order(self.recurrent_kernel, 1).T
        b_ih = b_hh = None
        if self.bias is not None:
            b_ih, b_hh = self._torch_order(self.bias[0], 0), self._torch_order(self.bias[1], 0)
        y, h = F.gru_layer(x.transpose(0, 1), w_ih, w_hh, b_ih, b_hh, _single_state(initial_state))
        return self._outputs(y.transpose(0, 1), h)

    def _composed(self, x, training, h):
        """Keras's GRU cell step by step (its implementation 1 when recurrent_dropout is on: one
        input mask and one recurrent mask per gate). x (B, T, F), h (B, units) ->
        (y (B, T, units), h_n)."""
        u, (batch, steps, features) = self.units, x.shape
        gate = lambda m, g: m[..., g * u:(g + 1) * u]  # noqa: E731
        b_in = b_rec = None
        if self.bias is not None:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        per_gate = 3 if self.recurrent_dropout else 1
        in_masks = _keep_masks(x, (batch, 1, features), self.dropout, training, per_gate)
        rec_masks = _keep_masks(x, (batch, u), self.recurrent_dropout, training, 3)
        projected = [F.dense(x if in_masks is None else x * in_masks[g % per_gate], gate(self.kernel, g),
                             None if b_in is None else gate(b_in, g)) for g in range(3)]
        outputs = []
        for t in range(steps):
            h_g = [h if rec_masks is None else h * rec_masks[g] for g in range(3)]
            rec = [F.dense(h_g[g], gate(self.recurrent_kernel, g), None if b_rec is None else gate(b_rec, g))
                   for g in range(2)]
            z = self._recurrent_activation(projected[0][:, t] + rec[0])
            r = self._recurrent_activation(projected[1][:, t] + rec[1])
            if self.reset_after:
                rec_h = r * F.dense(h_g[2], gate(self.recurrent_kernel, 2), None if b_rec is None else gate(b_rec, 2))
            else:
                rec_h = F.dense(r * h_g[2], gate(self.recurrent_kernel, 2))
            candidate = self._activation(projected[2][:, t] + rec_h)
            h = z * h + (1 - z) * candidate
            outputs.append(h)
        y = stack(outputs, 1) if outputs else zeros((batch, 0, u), dtype=x.dtype, device=x.device)
        return y, h

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation_name or "linear",
                "kernel_initializer": _initializer_name(self.kernel_initializer),
                "recurrent_initializer": _initializer_name(self.recurrent_initializer),
                "bias_initializer": _initializer_name(self.bias_initializer), "reset_after": self.reset_after}


class SimpleRNN(_Recurrent):
    """A fully connected RNN: h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel).
    kernel (features, units), recurrent_kernel (units, units), bias (units,)."""

    _kind = "SimpleRNN"

    def __init__(self, units: int, activation="tanh", use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
                         dropout, recurrent_dropout, return_sequences, return_state, go_backwards, stateful,
                         unroll, **kwargs)
        self._activation = activations.get(activation) or _identity

    def build(self, input_shape):
        features, units = input_shape[-1], self.units
        self.kernel = self.add_weight("kernel", (features, units), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (units, units), self.recurrent_initializer)
        self.bias = self.add_weight("bias", (units,), self.bias_initializer) if self.use_bias else None

    def call(self, inputs, training=None, initial_state=None):
        x = self._sequence(inputs)
        masks = _keep_masks(x, (x.shape[0], 1, x.shape[2]), self.dropout, training, 1)
        if masks:
            x = x * masks[0]
        rec_masks = _keep_masks(x, (x.shape[0], self.units), self.recurrent_dropout, training, 1)
        if rec_masks is None:
            y, h = F.rnn_layer(x.transpose(0, 1), self.kernel.T, self.recurrent_kernel.T, self.bias, None,
                               _single_state(initial_state), nonlinearity=self._activation)
            return self._outputs(y.transpose(0, 1), h)
        # Keras's recurrent dropout: the previous output masked before the recurrent product.
        projected, h, outputs = F.dense(x, self.kernel, self.bias), self._initial(x, initial_state), []
        for t in range(x.shape[1]):
            h = self._activation(projected[:, t] + F.dense(h * rec_masks[0], self.recurrent_kernel))
            outputs.append(h)
        y = stack(outputs, 1) if outputs else projected
        return self._outputs(y, h)

    def get_config(self):
        return {**super().get_config(), "kernel_initializer": _initializer_name(self.kernel_initializer),
                "recurrent_initializer": _initializer_name(self.recurrent_initializer),
                "bias_initializer": _initializer_name(self.bias_initializer)}


def _initializer_name(initializer):
    return initializer if isinstance(initializer, str) else type(initializer).__name__


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _wrappable():
    from .recurrent import LSTM  # the classes Bidirectional may wrap, by name (from_config)
    return {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


def _layer_config(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def _layer_from(entry, what: str):
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ValueError(f"Bidirectional.from_config: {what} must be a layer's class_name and config")
    cls = _wrappable().get(entry.get("class_name"))
    if cls is None:
        raise ValueError(f"Bidirectional.from_config: {what} must be one of {sorted(_wrappable())}, "
                         f"got {entry.get('class_name')!r}")
    return cls.from_config(dict(entry["config"]))


def _renamed(layer, name: str, **changes):
    return type(layer).from_config({**layer.get_config(), "name": name, **changes})


class Bidirectional(Layer):
    """Runs a recurrent layer (LSTM, GRU, SimpleRNN) forward and a copy of it backward over the
    sequence and merges the two outputs (Keras 3's keras.layers.Bidirectional).

    merge_mode "concat" (the last axis), "sum", "mul", "ave", or None (a list of both);
    with return_sequences the backward outputs are flipped back into time order first; with
    return_state the forward layer's states then the backward layer's follow the output(s).
    ``weights`` (a list: the forward layer's, then the backward one's) is set once built.
    The wrapped layer itself is not used: its forward and backward copies are named
    forward_<name> and backward_<name>, whose weights are this layer's, under their own names
    (forward_gru/kernel, ...).
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        allowed = tuple(_wrappable().values())
        if not isinstance(layer, allowed):
            raise ValueError(f"Bidirectional: layer must be an LSTM, GRU or SimpleRNN, got {type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {_MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = _renamed(layer, "forward_" + layer.name.removeprefix("forward_"))
        if backward_layer is None:
            self.backward_layer = _renamed(layer, "backward_" + layer.name.removeprefix("backward_"),
                                           go_backwards=not layer.go_backwards)
            self._backward_given = False
        else:
            if not isinstance(backward_layer, allowed):
                raise ValueError(f"Bidirectional: backward_layer must be an LSTM, GRU or SimpleRNN, got "
                                 f"{type(backward_layer).__name__}")
            for flag in ("return_sequences", "return_state"):
                if getattr(backward_layer, flag) != getattr(layer, flag):
                    raise ValueError(f"Bidirectional: layer and backward_layer must agree on {flag}")
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError("Bidirectional: backward_layer must have the opposite go_backwards of layer")
            self.backward_layer = backward_layer
            self._backward_given = True
        self._layer_config = _layer_config(layer)
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self._initial_weights = weights

    def _named_weights(self):
        # The copies' own layer/weight names (forward_gru/kernel), not nested under this layer's:
        # load_model claims each weight by the name of the layer that adds it.
        return self.forward_layer._named_weights() + self.backward_layer._named_weights()

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        if self._initial_weights is not None:
            self.built = True
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _merge(self, y, y_back):
        if self.return_sequences:
            y_back = flip(y_back, 1)
        if self.merge_mode == "concat":
            return cat([y, y_back], dim=-1)
        if self.merge_mode == "sum":
            return y + y_back
        if self.merge_mode == "mul":
            return y * y_back
        if self.merge_mode == "ave":
            return (y + y_back) * 0.5
        return [y, y_back]

    def call(self, inputs, training=None, initial_state=None):
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
        forward = self.forward_layer(inputs, training=training, initial_state=forward_state)
        backward = self.backward_layer(inputs, training=training, initial_state=backward_state)
        if not self.return_state:
            return self._merge(forward, backward)
        merged = self._merge(forward[0], backward[0])
        merged = merged if isinstance(merged, list) else [merged]
        return merged + list(forward[1:]) + list(backward[1:])

    def compute_output_shape(self, input_shape):
        forward = self.forward_layer.compute_output_shape(input_shape)
        backward = self.backward_layer.compute_output_shape(input_shape)
        out, states = (forward[0], forward[1:] + backward[1:]) if self.return_state else (forward, [])
        out, back_out = tuple(out), tuple(backward[0] if self.return_state else backward)
        if self.merge_mode == "concat":
            outs = [out[:-1] + (out[-1] + back_out[-1],)]
        elif self.merge_mode is None:
            outs = [out, back_out]
        else:
            outs = [out]
        outs += [tuple(s) for s in states]
        return outs[0] if len(outs) == 1 else outs

    def get_config(self):
        config = {**super().get_config(), "layer": self._layer_config, "merge_mode": self.merge_mode}
        if self._backward_given:
            config["backward_layer"] = _layer_config(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = check_config("Bidirectional", config)
        layer = _layer_from(config.pop("layer", None), "layer")
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = _layer_from(backward, "backward_layer")
        return cls(layer, backward_layer=backward, **config)
