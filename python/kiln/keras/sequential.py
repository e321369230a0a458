"""Sequential: a linear stack of single-input layers, built from ``input_shape`` or from the
first batch it sees."""

from __future__ import annotations

import numpy as np

from ..sparse import is_sparse
from ..tensor import Tensor
from ..factories import default_device_scope
from .layers.base import KerasTensor, Layer, Node, _flatten, _to_tensor, unique_name
from .layers.core import Input, InputLayer
from .model import Model, layer_class_name, layer_config


# the input dtypes a config records (what load_model's checks accept; float32 is the default)
_SAVED_DTYPES = frozenset({"string", "int8", "int16", "int32", "int64", "uint8", "bool", "float16", "float64"})


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(64, activation="relu"), Dense(10)])``."""

    def __init__(self, layers=None, name: str | None = None, **kwargs):
        super().__init__(name=name or unique_name("sequential"))
        self._layers: list[Layer] = []
        self._input: KerasTensor | None = None
        self._output: KerasTensor | None = None  # the last layer's symbolic output, once built
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, layer) -> None:
        """Append a layer (or an ``Input`` tensor, which fixes the input shape)."""
        if isinstance(layer, KerasTensor):
            if self._layers:
                raise ValueError("Sequential: an Input must come first")
            self._input = layer
            return
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(f"Sequential.add takes a keras layer (or a model), got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            self._input = Input(shape=layer.input_shape_hint)
            return
        if not self._layers and self._input is None and layer.input_shape_hint is not None:
            self._input = Input(shape=layer.input_shape_hint)
        self._layers.append(layer)
        if self._input is None:
            return
        if self._output is None or len(self._layers) == 1:
            self._build_symbolic()
        else:  # only the new layer: a stack of n layers builds in n steps, not n^2 / 2
            self._output = _first(layer(self._output))

    def pop(self) -> Layer:
        self._output = None
        return self._layers.pop()

    def _build_symbolic(self) -> None:
        """Propagate the known input shape through every layer: builds weights, records shapes."""
        t = self._input
        with default_device_scope(self._device):  # weights built now go to the model's device
            for layer in self._layers:
                t = _first(layer(t))
        self._output = t

    def _build_from_batch(self, x_batch) -> None:
        if self._input is None:
            arr = x_batch[0] if isinstance(x_batch, list) else x_batch
            if not is_sparse(arr):
                arr = arr._array if isinstance(arr, Tensor) else np.asarray(arr)
            self._input = Input(shape=arr.shape[1:], dtype="string" if getattr(arr.dtype, "kind", "f") in "USO"
                                else str(arr.dtype))
        self._build_symbolic()

    def build(self, input_shape=None) -> None:
        if input_shape is not None:
            self._input = Input(shape=tuple(input_shape)[1:])
        if self._input is None:
            raise ValueError("Sequential.build needs an input_shape (batch axis included)")
        self._build_symbolic()

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def __call__(self, inputs, training=None, **kwargs):
        if any(isinstance(t, KerasTensor) for t in _flatten(inputs)):
            return self._call_symbolic(inputs)
        with default_device_scope(self._device):  # weights built now go to the model's device
            if not self.built:
                self._build_from_batch(inputs)
            return self.call(_to_tensor(inputs, self._device), training=bool(training))

    def _call_symbolic(self, inputs) -> KerasTensor:
        """The stack as one layer of a functional graph (as Keras): a Node of this model; the stack
        is built from the input's shape first if it has no input yet."""
        if not isinstance(inputs, KerasTensor):
            raise ValueError(f"{self.name}: a Sequential takes one input, got {len(_flatten(inputs))}")
        if self._input is None:
            self._input = Input(shape=inputs.shape[1:], dtype=inputs.dtype)
        if self._output is None:
            self._build_symbolic()
        want, got = self._input.shape[1:], inputs.shape[1:]
        if len(want) != len(got) or any(w is not None and g is not None and w != g for w, g in zip(want, got)):
            raise ValueError(f"{self.name}: expects inputs of shape {self._input.shape}, got {inputs.shape}")
        node = Node(self, [inputs], [], {})
        out = KerasTensor((inputs.shape[0],) + tuple(self._output.shape[1:]), dtype=self._output.dtype, node=node,
                          name=self.name)
        node.outputs = [out]
        return out

    def get_config(self) -> dict:
        return {"layers": [{"class_name": layer_class_name(layer), "config": layer_config(layer)}
                           for layer in self._layers],
                "input_shape": None if self._input is None else list(self._input.shape[1:]),
                **({"input_dtype": str(self._input.dtype)} if self._input is not None
                   and str(self._input.dtype) in _SAVED_DTYPES else {})}


def _first(outputs):
    """A layer's (first) symbolic output: the one the next layer of a stack takes."""
    return outputs[0] if isinstance(outputs, list) else outputs
