"""Lambda: a layer around a function of Tensors (kiln's Tensor ops, so the tape records it)."""

from __future__ import annotations

import numpy as np

from ...autograd import no_grad
from ...factories import default_device_type
from ...tensor import Tensor
from .base import Layer


class Lambda(Layer):
    """``Lambda(function, output_shape=None, arguments=None)``: ``function(inputs, **arguments)``.

    Its output shape is ``output_shape`` (without the batch axis, or a function of the input
    shape) or else found by running ``function`` once on zeros of the input's shape (a batch of
    one). A model holding a Lambda saves with its function's name only: ``load_model`` takes the
    function back from ``custom_objects={name: function}`` (kiln's files hold no code), so a
    ``lambda`` expression is refused at save; define a named function.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {type(function).__name__}")
        if mask is not None:
            raise NotImplementedError("Lambda: masks are not supported")
        self.function, self.output_shape_arg = function, output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs, training=None):
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape):
        if callable(self.output_shape_arg):
            return tuple(self.output_shape_arg(input_shape))
        if self.output_shape_arg is not None:
            return (input_shape[0] if isinstance(input_shape, tuple) else None,) + tuple(self.output_shape_arg)

        def zeros(shape):
            array = np.zeros(tuple(1 if d is None else d for d in shape), np.float32)
            t = Tensor._wrap(array)
            return t if default_device_type() == "cpu" else t.to(default_device_type())

        with no_grad():
            probe = [zeros(s) for s in input_shape] if isinstance(input_shape, list) else zeros(input_shape)
            out = self.function(probe, **self.arguments)
        if isinstance(out, (list, tuple)):
            return [(None,) + tuple(o.shape[1:]) for o in out]
        return (None,) + tuple(out.shape[1:])

    def get_config(self):
        name = getattr(self.function, "__name__", None)
        if not name or name == "<lambda>":
            raise NotImplementedError(f"{self.name}: a Lambda saves its function by name, and a lambda expression "
                                      "has none: define the function with def and pass it to load_model's "
                                      "custom_objects")
        if callable(self.output_shape_arg):
            raise NotImplementedError(f"{self.name}: a callable output_shape cannot be saved (give a tuple)")
        config = {**super().get_config(), "function": name, "arguments": self.arguments}
        if self.output_shape_arg is not None:
            config["output_shape"] = list(self.output_shape_arg)
        return config
