"""The Keras Layer: lazy weights, symbolic calls for the functional API, eager calls on Tensors.

A layer builds its weights on its first call, from the input's shape (Keras's lazy
input size). Called on a ``KerasTensor`` (from ``Input``) it only propagates shapes
and records a node of the functional graph; called on data it computes, recording
the autograd tape through kiln's kernels.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import re
import threading
from collections import defaultdict

import numpy as np

from ...autograd import no_grad
from ...factories import default_device_type
from ...nn.module import Parameter
from ...sparse import is_sparse
from ...tensor import Tensor
from .. import initializers

class _Phase(threading.local):
    training = False  # a class default: cheaper than getattr with a default on every layer call


class _WeightCheck(threading.local):
    check = None


_phase = _Phase()
_weight_check = _WeightCheck()
_name_counts: dict[str, int] = defaultdict(int)


@contextlib.contextmanager
def learning_phase(training: bool):
    """Inside the block, layers called without ``training=`` run in this mode (fit: True)."""
    previous = _phase.training
    _phase.training = training
    try:
        yield
    finally:
        _phase.training = previous


def in_training() -> bool:
    return _phase.training


@contextlib.contextmanager
def checking_new_weights(check):
    """Inside the block (this thread), ``add_weight`` calls ``check(layer, name, shape)`` before it
    allocates anything: load_model refuses a config that asks for weights its file does not hold."""
    previous = _weight_check.check
    _weight_check.check = check
    try:
        yield
    finally:
        _weight_check.check = previous


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().replace("2_d", "2d")


def unique_name(base: str) -> str:
    """dense, dense_1, dense_2, ... as Keras names layers."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    _name_counts.clear()


@functools.lru_cache(maxsize=None)
def _takes_training(cls) -> bool:
    """Whether cls.call has a ``training`` argument (Keras passes it only then)."""
    parameters = inspect.signature(cls.call).parameters
    return "training" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _is_layerlike(value) -> bool:
    """A Layer, or a Model (which is not a Layer here but holds layers)."""
    return isinstance(value, Layer) or (hasattr(value, "_named_weights") and hasattr(value, "layers"))


class KerasTensor:
    """A symbolic tensor of the functional API: a shape with None for the batch axis."""

    def __init__(self, shape: tuple, dtype="float32", node=None, index: int = 0, name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node  # the Node that produced it (None for an Input)
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


def input_fits(t: KerasTensor, shape) -> bool:
    """Whether data of ``shape`` (batch axis first) fits the Input ``t``; a string Input of shape
    (1,) also takes a plain vector of strings (batch,), as Keras's text models are fed."""
    want, got = tuple(t.shape[1:]), tuple(shape[1:])
    if t.dtype == "string" and want[-1:] == (1,) and len(got) == len(want) - 1:
        want = want[:-1]
    return len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))


class Node:
    """One call of a layer in a functional graph: input KerasTensors -> output KerasTensors."""

    def __init__(self, layer: "Layer", inputs: list, outputs: list, kwargs: dict):
        self.layer, self.inputs, self.outputs, self.kwargs = layer, inputs, outputs, kwargs


def _flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [item for sub in x for item in _flatten(sub)]
    return [x]


def _to_tensor(x, device: str | None = None):
    """A batch as Tensors on ``device`` (the model's; None: kiln's default device)."""
    target = device or default_device_type()
    if isinstance(x, Tensor):
        return x if target == "cpu" or x.device.type == target else x.to(target)
    if is_sparse(x):  # a sparse batch goes to the first Dense as it is (its kernel moves it)
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_tensor(v, device) for v in x)
    arr = np.asarray(x)
    if arr.dtype.kind in "USO":  # strings stay NumPy arrays: only a text layer (TextVectorization) reads them
        return arr
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    t = Tensor._wrap(arr)
    return t if target == "cpu" else t.to(target)


class Layer:
    """Base of every Keras layer. Subclasses define ``build(input_shape)``, ``call(inputs)`` and
    ``compute_output_shape(input_shape)``; weights come from ``add_weight``."""

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None, input_shape=None,
                 input_dim=None, batch_input_shape=None, **kwargs):
        unknown = set(kwargs) - {"input_length", "autocast"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(unknown)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.built = False
        self._weights: list[tuple[str, Parameter]] = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.input_shape_hint = self._input_shape_arg

    # ---- weights ------------------------------------------------------------------------------

    def add_weight(self, name: str, shape, initializer="glorot_uniform", trainable: bool = True,
                   dtype=np.float32) -> Parameter:
        shape = tuple(int(s) for s in shape)
        if _weight_check.check is not None:
            _weight_check.check(self, name, shape)
        values = initializers.get(initializer)(shape, dtype)
        param = Parameter(np.asarray(values, dtype=dtype), requires_grad=trainable)
        self._weights.append((name, param))
        return param

    # A layer made of layers (a subclass that assigns them in __init__, as the Keras guides write
    # TransformerBlock) owns their weights: Keras 3 tracks attributes the same way.
    def __setattr__(self, name, value):
        if _is_layerlike(value) or (isinstance(value, (list, tuple)) and value and all(map(_is_layerlike, value))):
            tracked = self.__dict__.setdefault("_sublayers", [])
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if v is not self and all(v is not t for t in tracked):
                    tracked.append(v)
        object.__setattr__(self, name, value)

    @property
    def sublayers(self) -> list:
        return list(self.__dict__.get("_sublayers", ()))

    @property
    def weights(self) -> list[Parameter]:
        return [p for _, p in self._named_weights()]

    def _named_weights(self) -> list[tuple[str, Parameter]]:
        own = [(f"{self.name}/{n}", p) for n, p in self._weights]
        seen = {id(p) for _, p in own}
        for sub in self.sublayers:
            for n, p in sub._named_weights():
                if id(p) not in seen:
                    seen.add(id(p))
                    own.append((f"{self.name}/{n}", p))
        return own

    @property
    def trainable_weights(self) -> list[Parameter]:
        if not self.trainable:
            return []
        ids = {id(p) for _, p in self._weights if p.requires_grad}
        ids.update(id(p) for sub in self.sublayers for p in sub.trainable_weights)
        return [p for p in self.weights if id(p) in ids]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        ids = {id(p) for p in self.trainable_weights}
        return [p for p in self.weights if id(p) not in ids]

    def count_params(self) -> int:
        return int(sum(p.numel() for p in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in Keras's layout and order."""
        return [p.numpy(force=True).copy() for p in self.weights]

    def set_weights(self, weights) -> None:
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(f"{self.name}: set_weights got {len(weights)} arrays, the layer has {len(current)}")
        for p, w in zip(current, weights):
            w = np.asarray(w)
            if w.shape != p.shape:
                raise ValueError(f"{self.name}: weight of shape {p.shape} cannot take an array of shape {w.shape}")
        with no_grad():
            for p, w in zip(current, weights):
                p.copy_(w)

    # ---- building and calling -------------------------------------------------------------------

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, training=None):
        raise NotImplementedError(f"{type(self).__name__} must define call()")

    def compute_output_shape(self, input_shape):
        return input_shape

    def _maybe_build(self, input_shape) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        flat = _flatten(inputs)
        if flat and all(isinstance(t, KerasTensor) for t in flat):
            return self._call_symbolic(inputs, kwargs)
        inputs = _to_tensor(inputs)
        shapes = [tuple(t.shape) for t in _flatten(inputs)]
        self._maybe_build((None,) + shapes[0][1:] if len(shapes) == 1 else [(None,) + s[1:] for s in shapes])
        if training is None:
            training = in_training()
        if _takes_training(type(self)):
            kwargs["training"] = training
        out = self.call(inputs, **kwargs)
        if getattr(self, "_output_shape", None) is None:
            shapes = [(None,) + tuple(o.shape[1:]) for o in _flatten(out)]
            self._output_shape = shapes[0] if len(shapes) == 1 else shapes
        return out

    def _call_symbolic(self, inputs, kwargs):
        shapes = [t.shape for t in _flatten(inputs)]
        input_shape = shapes[0] if len(shapes) == 1 else shapes
        self._maybe_build(input_shape)
        if self._builds_by_calling():
            out_shape = self._run_on_placeholder(inputs, kwargs)
        else:
            out_shape = self.compute_output_shape(input_shape)
        node = Node(self, _flatten(inputs), [], kwargs)
        if isinstance(out_shape, list):
            outputs = [KerasTensor(s, node=node, index=i, name=self.name) for i, s in enumerate(out_shape)]
            node.outputs = outputs
            self._output_shape = out_shape
            return outputs
        out = KerasTensor(out_shape, node=node, name=self.name)
        node.outputs = [out]
        self._output_shape = out_shape
        return out

    def _builds_by_calling(self) -> bool:
        """A subclass that defines neither build nor compute_output_shape (Keras 3 infers both by
        tracing call): its inner layers make their weights, and its output shape shows, only when
        call runs."""
        cls = type(self)
        return cls.build is Layer.build and cls.compute_output_shape is Layer.compute_output_shape \
            and cls.call is not Layer.call and not self.__dict__.get("_placeholder_run", False)

    def _run_on_placeholder(self, inputs, kwargs):
        """Output shape(s) of call on zeros of the inputs' shapes (batch 1, unknown sizes 1),
        without a graph; the batch axis of each output becomes None."""
        def placeholder(t):
            shape = tuple(1 if n is None else n for n in t.shape)
            return Tensor._wrap(np.zeros(shape, dtype=np.dtype(t.dtype or "float32")))
        concrete = type(inputs)(placeholder(t) for t in inputs) if isinstance(inputs, (list, tuple)) \
            else placeholder(inputs)
        object.__setattr__(self, "_placeholder_run", True)
        try:
            with no_grad(), learning_phase(False):
                out = self(concrete, **kwargs)
        finally:
            object.__setattr__(self, "_placeholder_run", False)
        shapes = [(None,) + tuple(o.shape[1:]) for o in _flatten(out)]
        return shapes[0] if len(shapes) == 1 else shapes

    # ---- configuration (for model.save) -------------------------------------------------------

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**check_config(cls.__name__, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# ---- checking configs (from_config: a config may come from a hostile file) ------------------------

_MAX_SIZE = 2**31 - 1  # kMaxElements: no axis, count or window of a kernel may exceed it
_SIZES = frozenset({"units", "filters", "groups", "input_dim", "output_dim"})
_PAIRS = frozenset({"kernel_size", "strides", "dilation_rate", "pool_size"})
_FLAGS = frozenset({"trainable", "use_bias", "return_sequences", "return_state", "go_backwards",
                    "unit_forget_bias", "mask_zero", "stateful", "unroll"})
_RATES = frozenset({"rate", "dropout", "recurrent_dropout"})
_NAMES = frozenset({"name", "padding", "data_format"})
_SHAPES = frozenset({"input_shape", "batch_input_shape", "shape"})


def _is_size(value, minimum: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and minimum <= value <= _MAX_SIZE


def check_config(layer: str, config) -> dict:
    """A layer config's fields checked by type and range (before any weight exists); a copy.

    Sizes are ints in [1, 2**31 - 1], pairs one such int or two, flags bools, rates reals in
    [0, 1), names strings, shapes lists of ints in [0, 2**31 - 1] or None. ValueError or
    TypeError naming the layer and the field; fields not listed go to the constructor as they are.
    """
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise TypeError(f"{layer}.from_config takes a dict of named fields, got {type(config).__name__}")
    for key, value in config.items():
        where = f"{layer}.from_config: {key}"
        if key in _SIZES and not _is_size(value, 1):
            raise ValueError(f"{where} must be an int in [1, {_MAX_SIZE}], got {value!r}")
        if key in _PAIRS and not (_is_size(value, 1) or isinstance(value, (list, tuple)) and len(value) == 2
                                  and all(_is_size(v, 1) for v in value)):
            raise ValueError(f"{where} must be an int in [1, {_MAX_SIZE}] or two, got {value!r}")
        if key in _FLAGS and not isinstance(value, bool):
            raise TypeError(f"{where} must be true or false, got {value!r}")
        if key in _RATES and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                  and math.isfinite(value) and 0 <= value < 1):
            raise ValueError(f"{where} must be a number in [0, 1), got {value!r}")
        if key in _NAMES and not (value is None or isinstance(value, str)):
            raise TypeError(f"{where} must be a string, got {value!r}")
        if key in _SHAPES and value is not None and not (
                isinstance(value, (list, tuple)) and len(value) <= 32
                and all(v is None or _is_size(v, 0) for v in value)):
            raise ValueError(f"{where} must be a list of sizes in [0, {_MAX_SIZE}] (or null), got {value!r}")
        if key == "activation" and value is not None and not isinstance(value, str):
            raise TypeError(f"{where} must be an activation's name, got {value!r}")
    return dict(config)
