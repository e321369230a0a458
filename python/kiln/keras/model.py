"""Model: the functional API and subclassing (Sequential is in sequential.py).

- Functional: ``Model(inputs, outputs)`` over layers called on ``Input`` tensors; the
  graph's nodes run in topological order.
- Subclassing: define layers in ``__init__`` and the computation in ``call``; layers
  assigned as attributes (or in lists) are tracked, so their weights are the model's.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..factories import default_device_scope
from .layers.base import KerasTensor, Layer, _flatten, _to_tensor, snake_case, unique_name
from .saving import load_weights, save_model, save_weights
from .training import Trainer


class Model(Trainer):
    """A trainable graph of layers: ``Model(inputs, outputs)``, or subclass it and define ``call``."""

    def __init__(self, inputs=None, outputs=None, name: str | None = None, **kwargs):
        object.__setattr__(self, "_tracked", [])
        default = "functional" if inputs is not None else snake_case(type(self).__name__)
        self.name = name or unique_name(default if type(self) not in (Model,) or inputs is None else "functional")
        self.compiled = False
        self.stop_training = False
        self._optimizer_built = False
        self._graph = None
        if inputs is not None:
            if outputs is None:
                raise ValueError("Model(inputs, outputs): outputs are missing")
            self._graph = _Graph(inputs, outputs)

    # ---- tracking (subclassing) ---------------------------------------------------------------

    def __setattr__(self, name, value):
        if isinstance(value, Layer) or isinstance(value, Model) or (
                isinstance(value, (list, tuple)) and value and all(isinstance(v, (Layer, Model)) for v in value)):
            tracked = self.__dict__.setdefault("_tracked", [])
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if all(v is not t for t in tracked):
                    tracked.append(v)
        object.__setattr__(self, name, value)

    @property
    def layers(self) -> list[Layer]:
        if self._graph is not None:
            return self._graph.layers
        return [t for t in self._tracked if isinstance(t, Layer)] + \
            [layer for t in self._tracked if isinstance(t, Model) for layer in t.layers]

    # ---- weights ------------------------------------------------------------------------------

    @property
    def weights(self) -> list:
        seen, out = set(), []
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    def _named_weights(self) -> list[tuple[str, object]]:
        seen, out = set(), []
        for layer in self.layers:
            for name, w in layer._named_weights():
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append((name, w))
        return out

    @property
    def trainable_weights(self) -> list:
        ids = {id(w) for layer in self.layers for w in layer.trainable_weights}
        return [w for w in self.weights if id(w) in ids]

    @property
    def non_trainable_weights(self) -> list:
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    def count_params(self) -> int:
        return int(sum(w.numel() for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy(force=True).copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(f"set_weights: got {len(weights)} arrays, the model has {len(current)} weights")
        for i, (w, new) in enumerate(zip(current, weights)):
            if np.shape(new) != w.shape:
                raise ValueError(f"set_weights: weight {i} has shape {w.shape}, got {np.shape(new)}")
        with no_grad():
            for w, new in zip(current, weights):
                w.copy_(new)

    # ---- building and calling -----------------------------------------------------------------

    @property
    def built(self) -> bool:
        layers = self.layers
        return bool(layers) and all(layer.built for layer in layers)

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis included, may be None)."""
        shape = tuple(1 if d is None else d for d in input_shape)
        self._build_from_batch(np.zeros(shape, np.float32))

    def _build_from_batch(self, x_batch) -> None:
        with no_grad():
            self(x_batch, training=False)

    def call(self, inputs, training=None):
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} must define call(self, inputs) "
                                      "(or be built with Model(inputs, outputs))")
        return self._graph.run(inputs, training)

    def __call__(self, inputs, training=None, **kwargs):
        if any(isinstance(t, KerasTensor) for t in _flatten(inputs)):
            if self._graph is None:
                raise NotImplementedError("calling a subclassed model on Input tensors is not supported")
            return self._graph.call_symbolic(inputs)
        with default_device_scope(self._device):  # weights built now go to the model's device
            inputs = _to_tensor(inputs, self._device)
            return self.call(inputs, training=bool(training), **kwargs) if self._call_takes_training() \
                else self.call(inputs, **kwargs)

    def _call_takes_training(self) -> bool:
        import inspect

        try:
            return "training" in inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            return False

    # ---- reporting and saving -----------------------------------------------------------------

    def summary(self, print_fn=print, line_length: int = 65) -> None:
        """Print the Keras table: each layer, its output shape and parameter count."""
        from .summary import summary_lines

        for line in summary_lines(self, line_length):
            print_fn(line)

    def save(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Write the model to ``filepath`` (.keras); under mpiexec, rank 0 alone writes."""
        if not _writes_files():
            return
        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write the weights to ``filepath`` (.weights.h5); under mpiexec, rank 0 alone writes."""
        if not _writes_files():
            return
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        load_weights(self, filepath)

    def get_config(self) -> dict:
        if self._graph is None:
            raise NotImplementedError(f"{type(self).__name__} is a subclassed model: its architecture is code, "
                                      "not config; save its weights with save_weights()")
        return self._graph.get_config()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class _Graph:
    """The functional graph between Input tensors and output tensors."""

    def __init__(self, inputs, outputs):
        self.multi_input = isinstance(inputs, (list, tuple))
        self.multi_output = isinstance(outputs, (list, tuple))
        self.inputs = list(inputs) if self.multi_input else [inputs]
        self.outputs = list(outputs) if self.multi_output else [outputs]
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model(inputs, outputs) takes tensors from keras.Input and layer calls, got {t!r}")
        self.nodes = self._topological_nodes()
        input_ids = {id(t) for t in self.inputs}
        for node in self.nodes:
            for t in node.inputs:
                if t.node is None and id(t) not in input_ids:
                    raise ValueError(f"Model: the graph needs input {t.name!r}, which is not among the inputs")

    def _topological_nodes(self) -> list:
        order, seen = [], set()

        def visit(t):
            node = t.node
            if node is None or id(node) in seen:
                return
            seen.add(id(node))
            for parent in node.inputs:
                visit(parent)
            order.append(node)

        for t in self.outputs:
            visit(t)
        return order

    @property
    def layers(self) -> list[Layer]:
        out = []
        for node in self.nodes:
            if all(node.layer is not layer for layer in out):
                out.append(node.layer)
        return out

    def run(self, inputs, training):
        given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(given) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(given)}")
        values = {id(k): v for k, v in zip(self.inputs, given)}
        for k, v in zip(self.inputs, given):
            expected = k.shape[1:]
            if len(expected) != v.ndim - 1 or any(e is not None and e != s for e, s in zip(expected, v.shape[1:])):
                raise ValueError(f"input {k.name!r} expects shape {k.shape}, got {tuple(v.shape)}")
        for node in self.nodes:
            args = [values[id(t)] for t in node.inputs]
            out = node.layer(args[0] if len(args) == 1 else args, training=training, **node.kwargs)
            for t, v in zip(node.outputs, out if isinstance(out, (list, tuple)) else [out]):
                values[id(t)] = v
        outs = [values[id(t)] for t in self.outputs]
        return outs if self.multi_output else outs[0]

    def call_symbolic(self, inputs):
        raise NotImplementedError("nesting a functional model inside another graph is not supported")

    def get_config(self) -> dict:
        names = {id(t): (t.node.layer.name if t.node else t.name, t.index) for n in self.nodes
                 for t in n.inputs + n.outputs}
        for t in self.inputs + self.outputs:
            names.setdefault(id(t), (t.node.layer.name if t.node else t.name, t.index))
        layers = [{"class_name": "InputLayer", "config": {"name": t.name, "shape": list(t.shape[1:]),
                                                          "dtype": str(t.dtype)}, "inbound": []}
                  for t in self.inputs]
        for node in self.nodes:
            layers.append({"class_name": type(node.layer).__name__, "config": node.layer.get_config(),
                           "inbound": [list(names[id(t)]) for t in node.inputs]})
        return {"layers": layers, "input_layers": [list(names[id(t)]) for t in self.inputs],
                "output_layers": [list(names[id(t)]) for t in self.outputs],
                "multi_input": self.multi_input, "multi_output": self.multi_output}


def _writes_files() -> bool:
    """False on the ranks other than 0 of an MPI world (they share rank 0's weights and files)."""
    from .. import distributed

    return distributed.world_size() == 1 or distributed.rank() == 0
