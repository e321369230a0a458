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
from .layers.base import KerasTensor, Layer, _flatten, _to_tensor, input_fits, snake_case, unique_name
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
        self.trainable = True
        self.input_shape_hint = None  # the input shape a Sequential holding this model starts from
        if inputs is not None:
            if outputs is None:
                raise ValueError("Model(inputs, outputs): outputs are missing")
            self._graph = _Graph(inputs, outputs)
            if len(self._graph.inputs) == 1:
                self.input_shape_hint = tuple(self._graph.inputs[0].shape[1:])

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

    @property
    def output_names(self) -> list[str]:
        """The names of the layers making a functional model's outputs, as Keras's ``output_names``
        (the logs name the outputs of a dict by its keys instead)."""
        if self._graph is None:
            raise AttributeError(f"{self.name}: only a functional model names its outputs")
        return [t.node.layer.name if t.node is not None else t.name for t in self._graph.outputs]

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
        if not self.trainable:
            return []
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
        if any(isinstance(t, KerasTensor) for t in _flatten(_values(inputs))):
            if self._graph is None:
                raise NotImplementedError("calling a subclassed model on Input tensors is not supported")
            return self._graph.call_symbolic(self, inputs)
        with default_device_scope(self._device):  # weights built now go to the model's device
            inputs = {k: _to_tensor(v, self._device) for k, v in inputs.items()} if isinstance(inputs, dict) \
                else _to_tensor(inputs, self._device)
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

        for line in summary_lines(self, line_length, layer_class_name, output_shape_of):
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


def _values(x):
    """A dict's values in sorted key order (as Keras flattens a dict), anything else as it is."""
    return [x[k] for k in sorted(x)] if isinstance(x, dict) else x


def layer_class_name(layer) -> str:
    """The class_name a config gives a layer: "Functional" for a Model(inputs, outputs), as Keras."""
    if isinstance(layer, Model) and type(layer) is Model:
        return "Functional"
    return type(layer).__name__


def layer_config(layer) -> dict:
    """A layer's config; a nested model's carries its name too."""
    config = layer.get_config()
    return {"name": layer.name, **config} if isinstance(layer, Model) else config


def output_shape_of(layer):
    """The (batch-None) output shape a layer or nested model last produced, a list for several."""
    if isinstance(layer, Model):
        graph = layer._graph
        if graph is not None:
            shapes = [tuple(t.shape) for t in graph.outputs]
            return shapes[0] if len(shapes) == 1 else shapes
        out = getattr(layer, "_output", None)
        return None if out is None else tuple(out.shape)
    return getattr(layer, "_output_shape", None)


class _Graph:
    """The functional graph between Input tensors and output tensors."""

    def __init__(self, inputs, outputs):
        # dict inputs/outputs: their keys, sorted (the order Keras flattens them in)
        self.input_keys = sorted(inputs) if isinstance(inputs, dict) else None
        self.output_keys = sorted(outputs) if isinstance(outputs, dict) else None
        self.multi_input = isinstance(inputs, (list, tuple, dict))
        self.multi_output = isinstance(outputs, (list, tuple, dict))
        inputs, outputs = _values(inputs), _values(outputs)
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

    @property
    def input_names(self) -> list[str]:
        """The keys a dict of inputs is matched by: the model's dict keys, else the Inputs' names."""
        return list(self.input_keys) if self.input_keys is not None else [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The outputs' names, as Keras logs them: the dict keys, else the names of the layers making them."""
        if self.output_keys is not None:
            return list(self.output_keys)
        return [t.node.layer.name if t.node is not None else t.name for t in self.outputs]

    def flat_inputs(self, inputs) -> list:
        """The inputs as a list in the model's order: a dict is matched by input_names."""
        if isinstance(inputs, dict):
            names = self.input_names
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f"the model takes the inputs {names}; the dict given lacks {missing} "
                                 f"(it holds {sorted(inputs)})")
            return [inputs[n] for n in names]
        return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]

    def structure_outputs(self, outs: list):
        if self.output_keys is not None:
            return dict(zip(self.output_keys, outs))
        return outs if self.multi_output else outs[0]

    def run(self, inputs, training):
        given = self.flat_inputs(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f"the model takes {len(self.inputs)} inputs, got {len(given)}")
        values = {id(k): v for k, v in zip(self.inputs, given)}
        for k, v in zip(self.inputs, given):
            if not input_fits(k, v.shape):
                raise ValueError(f"input {k.name!r} expects shape {k.shape}, got {tuple(v.shape)}")
        for node in self.nodes:
            args = [values[id(t)] for t in node.inputs]
            out = node.layer(args[0] if len(args) == 1 else args, training=training, **node.kwargs)
            for t, v in zip(node.outputs, out if isinstance(out, (list, tuple)) else [out]):
                values[id(t)] = v
        return self.structure_outputs([values[id(t)] for t in self.outputs])

    def call_symbolic(self, model, inputs):
        """The model as one layer of another graph: a Node of ``model`` from ``inputs`` to new
        KerasTensors of its outputs' shapes (nothing is rebuilt: its weights are shared)."""
        from .layers.base import Node

        given = self.flat_inputs(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f"model {model.name!r} takes {len(self.inputs)} inputs, got {len(given)}")
        for k, v in zip(self.inputs, given):
            want, got = k.shape[1:], v.shape[1:]
            if len(want) != len(got) or any(w is not None and g is not None and w != g for w, g in zip(want, got)):
                raise ValueError(f"model {model.name!r}: input {k.name!r} expects shape {k.shape}, got {v.shape}")
        node = Node(model, given, [], {})
        node.outputs = [KerasTensor((given[0].shape[0],) + tuple(t.shape[1:]), dtype=t.dtype, node=node, index=i,
                                    name=model.name) for i, t in enumerate(self.outputs)]
        return self.structure_outputs(node.outputs)

    def get_config(self) -> dict:
        """Entries in topological order: the inputs, then one per call of a layer. A layer called
        again (shared) is an entry {"class_name", "config": {"name"}, "shared": true}; a reference
        is [layer name, output index, call index] (the call index left out for a first call)."""
        calls: dict[int, int] = {}
        refs: dict[int, list] = {}
        for t in self.inputs:
            refs[id(t)] = [t.name, 0]
        layers = [{"class_name": "InputLayer", "config": {"name": t.name, "shape": list(t.shape[1:]),
                                                          "dtype": str(t.dtype)}, "inbound": []}
                  for t in self.inputs]
        for node in self.nodes:
            layer = node.layer
            call = calls.get(id(layer), 0)
            calls[id(layer)] = call + 1
            inbound = [refs[id(t)] for t in node.inputs]
            if call == 0:
                layers.append({"class_name": layer_class_name(layer), "config": layer_config(layer),
                               "inbound": inbound, **_call_kwargs(node)})
            else:
                layers.append({"class_name": layer_class_name(layer), "config": {"name": layer.name},
                               "inbound": inbound, "shared": True, **_call_kwargs(node)})
            for t in node.outputs:
                refs[id(t)] = [layer.name, t.index] + ([call] if call else [])
        config = {"layers": layers, "input_layers": [refs[id(t)] for t in self.inputs],
                  "output_layers": [refs[id(t)] for t in self.outputs],
                  "multi_input": self.multi_input, "multi_output": self.multi_output}
        if self.input_keys is not None:
            config["input_keys"] = self.input_keys
        if self.output_keys is not None:
            config["output_keys"] = self.output_keys
        return config


# attention
_CALL_ARGUMENT_TYPES = (bool, int, float, str, type(None))


def _call_kwargs(node) -> dict:
    """{"call_kwargs": ...} for a node called with keyword arguments (none: {}); only plain
    values can be saved, anything else is refused rather than dropped."""
    if not node.kwargs:
        return {}
    for key, value in node.kwargs.items():
        if not isinstance(value, _CALL_ARGUMENT_TYPES):
            raise NotImplementedError(f"{node.layer.name}: the call argument {key}= of type {type(value).__name__} "
                                      f"cannot be saved (only bools, numbers, strings and None)")
    return {"call_kwargs": dict(node.kwargs)}
def _writes_files() -> bool:
    """False on the ranks other than 0 of an MPI world (they share rank 0's weights and files)."""
    from .. import distributed

    return distributed.world_size() == 1 or distributed.rank() == 0
