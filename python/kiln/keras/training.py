"""compile / fit / evaluate / predict: the Keras training loop over kiln's tape and kernels.

Each training step is: forward (the layers' kernels), the loss (a fused loss kernel),
``backward`` (the kernels' backwards), and one fused optimizer kernel over the model's
flat parameter buffer. Batches are sliced from NumPy arrays or SciPy sparse matrices
(TF-IDF features) one at a time; a sparse batch stays sparse into the first Dense layer.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import _args, backends
from ..autograd import Leaf, no_grad
from ..random import generator
from ..sparse import is_sparse as _is_sparse
from ..tensor import Tensor
from ..tensor import device as Device
from . import callbacks as keras_callbacks
from . import compile_utils
from . import distributed as keras_distributed
from . import losses as keras_losses
from . import metrics as keras_metrics
from . import optimizers as keras_optimizers
from .layers.base import input_fits, learning_phase
from .layers.embedding import Embedding
from .progress import ProgressBar, format_duration, format_logs


def _as_array(x):
    """NumPy arrays pass through, SciPy sparse matrices become CSR (float32, as dense batches
    become), lists and Tensors become arrays."""
    if _is_sparse(x):
        x = x.tocsr()
        return x.astype(np.float32) if x.dtype == np.float64 else x
    if x is None or isinstance(x, np.ndarray):
        return x
    if isinstance(x, Tensor):
        return x.numpy(force=True)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (np.ndarray, Tensor)) or _is_sparse(v) for v in x):
        return [_as_array(v) for v in x]
    return np.asarray(x)


def _length(x) -> int:
    return (x[0] if isinstance(x, list) else x).shape[0]


def _take(x, idx, cast=False):
    """Rows ``idx`` of an array, of a CSR matrix (a CSR batch, never densified: the first
    Dense layer multiplies its stored entries only) or of a list of them. Float64 rows become
    float32, and integer and bool rows too where ``cast`` (per input for a list) says so."""
    if isinstance(x, list):
        casts = cast if isinstance(cast, list) else [cast] * len(x)
        return [_take(v, idx, c) for v, c in zip(x, casts)]
    if _is_sparse(x):
        return x[idx]
    rows = x[idx]
    if rows.dtype == np.float64 or (cast and rows.dtype.kind in "iub"):
        return rows.astype(np.float32)
    return rows


def _batch_size(fn: str, value, name: str = "batch_size") -> int:
    """None for Keras's 32, else an int >= 1 (0, negative and fractional sizes are refused)."""
    return 32 if value is None else _args.integer(fn, name, value, minimum=1)


def _check_data(fn: str, x, y, *, what: str = "x") -> int:
    """The number of samples: x (and each of its inputs) and y must agree, and hold some."""
    if x is None:
        raise ValueError(f"{fn}: {what} is required")
    inputs = x if isinstance(x, list) else [x]
    for i, v in enumerate(inputs):
        if not hasattr(v, "shape") or len(v.shape) == 0:
            raise ValueError(f"{fn}: {what}{f'[{i}]' if len(inputs) > 1 else ''} must be an array with a batch axis, "
                             f"got {type(v).__name__} of shape {getattr(v, 'shape', None)}")
    n = _length(x)
    for i, v in enumerate(inputs[1:], 1):
        if v.shape[0] != n:
            raise ValueError(f"{fn}: the inputs of {what} hold different numbers of samples: {what}[0] has {n}, "
                             f"{what}[{i}] has {v.shape[0]}")
    for i, target in enumerate(y if isinstance(y, list) else [y]):
        if target is None:
            continue
        where = f"y[{i}]" if isinstance(y, list) else "y"
        ny = target.shape[0] if getattr(target, "ndim", 0) else None
        if ny is None:
            raise ValueError(f"{fn}: {where} must be an array with one target per sample, got shape "
                             f"{np.shape(target)}")
        if ny != n:
            raise ValueError(f"{fn}: x has {n} samples, {where} has {ny}")
    if n == 0:
        raise ValueError(f"{fn}: {what} holds no samples")
    return n


def _sample_weights(fn: str, y, n: int, sample_weight, class_weight, what: str = "sample_weight"):
    """Per-sample weights (n,) or (n, ...) as float32, or None: ``sample_weight`` as given, or
    ``class_weight[label]`` per sample (labels from y: class indices, or the argmax of one-hot
    rows; a class the dict lacks weighs 1), as Keras's ``class_weight_to_sample_weights``."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{fn}: you cannot pass class_weight and sample_weight at the same time")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(f"{fn}: class_weight must be a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}")
        if isinstance(y, list):
            raise ValueError(f"{fn}: class_weight is not supported for a model with several outputs")
        bad = [k for k in class_weight if isinstance(k, bool) or not isinstance(k, (int, np.integer))]
        if bad:
            raise TypeError(f"{fn}: class_weight's keys must be integer class indices, got {bad[0]!r}")
        labels = np.asarray(y)
        if labels.ndim > 1:
            labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
        if labels.ndim != 1:
            raise ValueError(f"{fn}: class_weight needs one class per sample, got targets of shape {np.shape(y)} "
                             "(pass sample_weight instead)")
        labels = np.round(labels).astype(np.int64)
        table = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([table.get(int(c), 1.0) for c in labels], np.float32)
    if sample_weight is None:
        return None
    w = sample_weight.numpy(force=True) if isinstance(sample_weight, Tensor) else np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {what} must hold numbers, got dtype {w.dtype}")
    if w.ndim == 0 or w.shape[0] != n:
        raise ValueError(f"{fn}: {what} must hold one weight per sample ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{fn}: {what} must hold finite numbers")
    return w.astype(np.float32)


def _split(x, start: int, stop: int):
    if x is None:
        return None
    if isinstance(x, list):
        return [_split(v, start, stop) for v in x]
    return x[start:stop]


class _ArrayBatches:
    """An epoch's batches of arrays: (x rows, y rows, weight rows or None), in a fresh random
    order per epoch when ``shuffle`` (the order is drawn when the epoch starts)."""

    def __init__(self, x, y, weights, batch_size: int, shuffle: bool, casts):
        self.x, self.y, self.weights, self.casts = x, y, weights, casts
        self.batch_size, self.shuffle = batch_size, shuffle
        self.n = _length(x)
        self.steps = -(-self.n // batch_size)

    def epoch(self):
        order = generator().permutation(self.n) if self.shuffle else np.arange(self.n)
        return (self._batch(order[step * self.batch_size:(step + 1) * self.batch_size]) for step in range(self.steps))

    def _batch(self, idx):
        return _take(self.x, idx, self.casts), _rows(self.y, idx), _rows(self.weights, idx)

    def end_epoch(self) -> None:
        pass


def _rows(y, idx):
    """Rows ``idx`` of targets or weights: an array, None, or a list of them (one per output)."""
    if y is None:
        return None
    if isinstance(y, list):
        return [None if v is None else v[idx] for v in y]
    return y[idx]


def _integer(dtype) -> bool:
    """Whether an Input's dtype is integer or bool (a "string" Input is neither)."""
    try:
        return np.dtype(dtype).kind in "iub"
    except TypeError:
        return False


def _reads_indices(layer) -> bool:
    """An Embedding, or a nested model whose inputs keep their integer dtype."""
    if isinstance(layer, Embedding):
        return True
    if isinstance(layer, Trainer):
        casts = layer._casts()
        return not any(casts) if isinstance(casts, list) else not casts
    return False


def _is_dataset(x) -> bool:
    from .utils import PyDataset

    return isinstance(x, PyDataset)


class _DatasetBatches:
    """An epoch's batches from a ``keras.utils.PyDataset``: ``dataset[i]`` is (x, y), (x, y,
    sample_weight) or x alone (for predict), each converted as fit converts arrays; the batch
    order is shuffled per epoch when ``shuffle`` (as Keras), and ``on_epoch_end`` is called."""

    def __init__(self, fn: str, dataset, casts, shuffle: bool = False, steps=None, class_weight=None,
                 targets: bool = True, model=None):
        self.fn, self.dataset, self.casts, self.shuffle = fn, dataset, casts, shuffle
        self.model = model  # its _flat_x / _flat_y / _output_weights read dict and list batches
        self.class_weight, self.targets = class_weight, targets
        total = dataset.num_batches
        if total is None:
            raise ValueError(f"{fn}: the PyDataset has no length (define __len__, or num_batches)")
        self.steps = total if steps is None else min(_args.integer(fn, "steps", steps, minimum=1), total)
        if self.steps == 0:
            raise ValueError(f"{fn}: the PyDataset holds no batches")

    def first(self):
        return self._batch(0)

    def epoch(self):
        if hasattr(self.dataset, "on_epoch_begin"):
            self.dataset.on_epoch_begin()
        order = generator().permutation(self.steps) if self.shuffle else np.arange(self.steps)
        return (self._batch(int(i)) for i in order)

    def _batch(self, index: int):
        item = self.dataset[index]
        if isinstance(item, tuple) and not 1 <= len(item) <= 3:
            raise ValueError(f"{self.fn}: batch {index} of the PyDataset is a tuple of {len(item)}; expected (x,), "
                             "(x, y) or (x, y, sample_weight)")
        x, y, w = (item + (None, None))[:3] if isinstance(item, tuple) else (item, None, None)
        if self.targets and y is None:
            raise ValueError(f"{self.fn}: batch {index} of the PyDataset has no targets (return (x, y))")
        model = self.model
        if model is not None:
            x = _as_array(model._flat_x(x))
            y = None if y is None else model._flat_y(self.fn, y, f"batch {index}'s y")
        else:
            x, y = _as_array(x), _as_array(y)
        n = _check_data(self.fn, x, y, what=f"batch {index}'s x")
        weigh = model._output_weights if model is not None else _sample_weights
        w = weigh(self.fn, y, n, w, self.class_weight, f"batch {index}'s sample weights") if self.targets else None
        return _take(x, slice(None), self.casts), y, w

    def end_epoch(self) -> None:
        self.dataset.on_epoch_end()


class Trainer:
    """The Keras training API, mixed into Model."""

    # ---- compile --------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, **kwargs):
        """Choose the optimizer, the loss and the metrics ("accuracy", "mae", ...), and with
        ``device=`` ("cpu", "cuda") where the model trains: its weights move there now or when
        built, and each batch goes there. Without it, the model runs on kiln's default device
        (``kiln.set_default_device``) as it is when weights and batches are made."""
        device = kwargs.pop("device", None)  # the rest (auto_scale_loss, ...) changes nothing here
        if device is not None:
            self._device = Device(device).type
            backends.for_device(self._device)
            self._place_weights()
        if loss is None:
            raise ValueError("compile: a loss is required (e.g. loss='sparse_categorical_crossentropy')")
        self.optimizer = keras_optimizers.get(optimizer)
        names = self._output_names()
        if names is not None:  # several outputs: a loss, weight and metrics per output (compile_utils)
            self._compiled_outputs = compile_utils.CompiledOutputs(names, loss, loss_weights, metrics,
                                                                   weighted_metrics)
            self.loss = loss
            self._metric_specs, self._weighted_metric_specs = [], []
            self._compiled_metrics, self._compiled_weighted_metrics = [], []
            self._loss_tracker = self._compiled_outputs.total_tracker
            self.compiled = True
            self._optimizer_built = False
            return
        self._compiled_outputs = None
        if isinstance(loss, dict) and len(loss) == 1:  # one output: {name: loss} and [loss] are that loss
            loss = next(iter(loss.values()))
        elif isinstance(loss, (list, tuple)) and len(loss) == 1:
            loss = loss[0]
        if isinstance(metrics, dict) and len(metrics) == 1:
            metrics = next(iter(metrics.values()))
            metrics = metrics if isinstance(metrics, (list, tuple)) else [metrics]
        self.loss = keras_losses.get(loss)
        if isinstance(loss_weights, dict) and len(loss_weights) == 1:
            loss_weights = next(iter(loss_weights.values()))
        elif isinstance(loss_weights, (list, tuple)) and len(loss_weights) == 1:
            loss_weights = loss_weights[0]
        self._loss_weight = 1.0 if loss_weights is None else float(loss_weights)
        self._metric_specs = list(metrics or [])
        self._weighted_metric_specs = list(weighted_metrics or [])
        # One object per metric for the model's life, as Keras: reset, never remade, so a metric
        # object given here is the one that holds the state (reset_metrics starts it again).
        self._compiled_metrics = [keras_metrics.get(m, self.loss) for m in self._metric_specs]
        self._compiled_weighted_metrics = [keras_metrics.get(m, self.loss) for m in self._weighted_metric_specs]
        self._loss_tracker = keras_metrics.Mean(name="loss")
        self.compiled = True
        self._optimizer_built = False

    _device: "str | None" = None  # compile(device=...): where weights and batches go
    _compiled_outputs = None  # compile_utils.CompiledOutputs for a model with several outputs

    def _output_names(self) -> "list[str] | None":
        """The output names of a functional model with several outputs, else None (one output)."""
        graph = getattr(self, "_graph", None)
        if graph is None or len(graph.outputs) < 2:
            return None
        return graph.output_names

    def _flat_x(self, x):
        """x as the model takes it: a dict of inputs becomes the list in the model's input order."""
        graph = getattr(self, "_graph", None)
        if isinstance(x, dict):
            if graph is None:
                raise ValueError("x is a dict: only a functional model (Model(inputs, outputs)) names its inputs")
            flat = graph.flat_inputs(x)
            return flat if len(flat) > 1 else flat[0]
        return x

    def _flat_y(self, fn: str, y, what: str = "y"):
        """Targets: for several outputs one array (or None) per output, from a list in output order
        or a dict keyed by output name (an output without a loss may be left out); else as given."""
        names = self._output_names()
        if names is None:
            if isinstance(y, dict):
                if len(y) != 1:
                    raise ValueError(f"{fn}: the model has one output, {what} is a dict of {len(y)}")
                y = next(iter(y.values()))
            elif isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
                y = y[0]  # [targets] for Model(inputs, [output])
            return _as_array(y)
        outputs = self._compiled_outputs
        if isinstance(y, dict):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(f"{fn}: {what} names {unknown}, which are not outputs of the model ({names})")
            flat = [y.get(n) for n in names]
        elif isinstance(y, (list, tuple)) and len(y) == len(names):
            flat = list(y)
        else:
            raise ValueError(f"{fn}: the model has {len(names)} outputs ({names}); {what} must be a list of "
                             f"{len(names)} arrays or a dict keyed by output name, got {type(y).__name__}")
        for name, target, loss in zip(names, flat, outputs.losses if outputs is not None else [None] * len(names)):
            if target is None and loss is not None:
                raise ValueError(f"{fn}: {what} has no target for the output {name!r}, which has a loss")
        return [None if t is None else _as_array(t) for t in flat]

    def _output_weights(self, fn: str, y, n: int, sample_weight, class_weight, what: str = "sample_weight"):
        """Sample weights: one array per output (or None) for several outputs, as Keras takes them:
        a list or dict per output, or one array for every output; class_weight needs one output."""
        if self._output_names() is None:
            return _sample_weights(fn, y, n, sample_weight, class_weight, what)
        if class_weight is not None:
            raise ValueError(f"{fn}: class_weight is only supported for models with a single output "
                             "(pass sample_weight, one array per output)")
        if sample_weight is None:
            return None
        names = self._output_names()
        if isinstance(sample_weight, dict):
            unknown = sorted(set(sample_weight) - set(names))
            if unknown:
                raise ValueError(f"{fn}: {what} names {unknown}, which are not outputs of the model ({names})")
            per = [sample_weight.get(name) for name in names]
        elif isinstance(sample_weight, (list, tuple)):
            if len(sample_weight) != len(names):
                raise ValueError(f"{fn}: {what} must hold one entry per output ({len(names)}), got "
                                 f"{len(sample_weight)}")
            per = list(sample_weight)
        else:
            per = [sample_weight] * len(names)
        return [None if w is None else _sample_weights(fn, None, n, w, None, f"{what}[{name!r}]")
                for name, w in zip(names, per)]

    def _place_weights(self) -> None:
        """Move the weights built so far to the model's device, in place (fresh gradient slots)."""
        target = backends.for_device(self._device)
        for p in self.weights:
            if backends.device_of(p._array) != self._device:
                source = backends.select(None, p._array)
                p._array = target.from_numpy(np.ascontiguousarray(source.to_numpy(p._array)))
                if p.requires_grad:
                    p._node = Leaf()

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"{what}: compile the model first (model.compile(optimizer=..., loss=...))")

    @property
    def metrics(self) -> list:
        """The loss tracker (a Mean named "loss") and the compiled metrics, as Keras lists them."""
        if not getattr(self, "compiled", False):
            return []
        if self._compiled_outputs is not None:
            return self._compiled_outputs.all_metrics()
        return [self._loss_tracker, *self._compiled_metrics, *self._compiled_weighted_metrics]

    @property
    def metrics_names(self) -> list[str]:
        return list(self._metric_logs())

    def reset_metrics(self) -> None:
        """Start every compiled metric (and the loss's running mean) again, as Keras does at the start
        of each epoch, of each validation pass and of evaluate."""
        for m in self.metrics:
            m.reset_state()

    def _update_metrics(self, y_true, y_pred, loss: float, batch: int, sample_weight=None) -> None:
        """One batch: the loss's mean weighted by the batch size (as Keras's loss tracker), the
        metrics unweighted, the weighted_metrics with ``sample_weight``."""
        if self._compiled_outputs is not None:
            self._compiled_outputs.update(y_true, y_pred, loss, batch, sample_weight)
            return
        self._loss_tracker.update_state(loss, sample_weight=batch)
        for m in self._compiled_metrics:
            m.update_state(y_true, y_pred)
        for m in self._compiled_weighted_metrics:
            m.update_state(y_true, y_pred, sample_weight=sample_weight)

    def _metric_logs(self) -> dict:
        """{"loss": ..., name: result, ...}; a name met twice gets _1, _2, ... as Keras gives it."""
        if self._compiled_outputs is not None:
            return self._compiled_outputs.logs()
        logs = {"loss": self._loss_tracker.result()}
        seen: dict[str, int] = {}
        for m in [*self._compiled_metrics, *self._compiled_weighted_metrics]:
            name = m.name
            if name in logs:
                seen[name] = seen.get(name, 0) + 1
                name = f"{name}_{seen[name]}"
            logs[name] = m.result()
        return logs

    # ---- what the data must look like -------------------------------------------------------------

    def _declared_inputs(self) -> list | None:
        """The model's input KerasTensors where it has them (functional, or Sequential with an input shape)."""
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return graph.inputs
        declared = getattr(self, "_input", None)
        return None if declared is None else [declared]

    def _casts(self):
        """Per input, whether integer and bool data become float32: Keras casts a model's inputs to
        its Input's dtype (float32 unless declared), so uint8 images train. An input declared
        integer, or read by an Embedding, keeps its indices."""
        declared = self._declared_inputs()
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return [not _integer(t.dtype) and not any(
                _reads_indices(node.layer) and any(u is t for u in node.inputs) for node in graph.nodes)
                for t in declared]
        layers = self.layers
        if hasattr(self, "_input"):  # Sequential: its first layer reads the input
            integer = declared is not None and _integer(declared[0].dtype)
            return not (integer or (layers and _reads_indices(layers[0])))
        return not any(isinstance(layer, Embedding) for layer in layers)

    def _check_input_shapes(self, fn: str, x) -> None:
        """Data of another shape than the built model takes: a ValueError naming x, before any kernel."""
        declared = self._declared_inputs()
        if declared is None or not self.built:
            return
        given = x if isinstance(x, list) else [x]
        if len(given) != len(declared):
            raise ValueError(f"{fn}: the model takes {len(declared)} inputs, x holds {len(given)}")
        for i, (t, v) in enumerate(zip(declared, given)):
            want, got = tuple(t.shape[1:]), tuple(v.shape[1:])
            if not input_fits(t, v.shape):
                name = f"x[{i}]" if len(given) > 1 else "x"
                raise ValueError(f"{fn}: {name} has samples of shape {got}, the model takes inputs of shape "
                                 f"{want} (data of shape {tuple(v.shape)}, model input {tuple(t.shape)})")

    def _output_shape(self):
        """The model's output shape (batch axis None) where it is known, else None."""
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return None if graph.multi_output else tuple(graph.outputs[0].shape)
        layers = self.layers
        shape = getattr(layers[-1], "_output_shape", None) if layers and hasattr(self, "_input") else None
        return tuple(shape) if isinstance(shape, tuple) else None

    def _check_targets(self, fn: str, y, what: str = "y") -> None:
        outputs = self._compiled_outputs
        if outputs is not None and isinstance(y, list):
            for name, target, loss, t in zip(outputs.names, y, outputs.losses, self._graph.outputs):
                if target is not None and loss is not None:
                    loss.check_targets(fn, target, tuple(t.shape), f"{what}[{name!r}]")
            return
        if y is not None and not isinstance(y, list):
            self.loss.check_targets(fn, y, self._output_shape(), what)

    # ---- steps ------------------------------------------------------------------------------------

    def _prepare(self, x_batch) -> None:
        """Build the model's weights and the optimizer on the first batch."""
        if not self.built:
            self._build_from_batch(x_batch)
        if not self._optimizer_built:
            params = [p for p in self.trainable_weights]
            if not params:
                raise ValueError("the model has no trainable weights")
            self.optimizer.build(params)
            self._optimizer_built = True

    def _compute_loss(self, y_batch, y_pred, sample_weight):
        """(the loss Tensor, the predictions on the host): one per output, in order, for several outputs."""
        if self._compiled_outputs is not None:
            flat = [y_pred[k] for k in sorted(y_pred)] if isinstance(y_pred, dict) else list(y_pred)
            loss = self._compiled_outputs.total(y_batch, flat, sample_weight)
            return loss, [p.numpy(force=True) for p in flat]
        if isinstance(y_pred, dict) and len(y_pred) == 1:  # Model(inputs, {name: output}) or [output]
            y_pred = next(iter(y_pred.values()))
        elif isinstance(y_pred, (list, tuple)) and len(y_pred) == 1:
            y_pred = y_pred[0]
        loss = self.loss(y_batch, y_pred) if sample_weight is None else self.loss(y_batch, y_pred, sample_weight)
        weight = getattr(self, "_loss_weight", 1.0)
        return (loss if weight == 1.0 else loss * weight), y_pred.numpy(force=True)

    def train_step(self, x_batch, y_batch, sample_weight=None) -> tuple[float, np.ndarray]:
        with learning_phase(True):
            y_pred = self(x_batch, training=True)
        loss, y_pred = self._compute_loss(y_batch, y_pred, sample_weight)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.apply()
        return float(loss.item()), y_pred

    def test_step(self, x_batch, y_batch, sample_weight=None) -> tuple[float, np.ndarray]:
        with no_grad():
            y_pred = self(x_batch, training=False)
            loss, y_pred = self._compute_loss(y_batch, y_pred, sample_weight)
        return float(loss.item()), y_pred

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        fn = "train_on_batch"
        self._require_compiled(fn)
        x, y = _as_array(self._flat_x(x)), self._flat_y(fn, y)
        n = _check_data(fn, x, y)
        weights = self._output_weights(fn, y, n, sample_weight, class_weight)
        self._check_input_shapes(fn, x)
        batch = _take(x, slice(None), self._casts())
        self._prepare(batch)
        self._check_targets(fn, y)
        loss, _ = self.train_step(batch, y, weights)
        return loss

    def test_on_batch(self, x, y, sample_weight=None):
        fn = "test_on_batch"
        self._require_compiled(fn)
        x, y = _as_array(self._flat_x(x)), self._flat_y(fn, y)
        n = _check_data(fn, x, y)
        weights = self._output_weights(fn, y, n, sample_weight, None)
        self._check_input_shapes(fn, x)
        self._check_targets(fn, y)
        return self.test_step(_take(x, slice(None), self._casts()), y, weights)[0]

    def predict_on_batch(self, x):
        x = _as_array(self._flat_x(x))
        return self.predict(x, batch_size=_check_data("predict_on_batch", x, None))

    # ---- fit ----------------------------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq: int = 1):
        """Train for ``epochs`` passes over (x, y); returns a History.

        x: ndarray (batch, ...), a SciPy sparse matrix, or a list of arrays for several inputs;
            integer and bool data become float32 as Keras casts them (not for an Embedding). Or a
            ``keras.utils.PyDataset`` whose items are (x, y) or (x, y, sample_weight) batches
            (y and sample_weight None then; ``steps_per_epoch`` caps the batches per epoch).
        y: labels/targets (batch, ...), checked against the loss before training: class indices
            in [0, classes) for sparse_categorical_crossentropy (Keras has no ignore_index),
            values in [0, 1] for binary_crossentropy. verbose: 0 silent, 1 progress bar ("auto"),
            2 one line per epoch.
        sample_weight: (batch,) (or (batch, T) for sequence outputs) weights of each sample's loss,
            reduced as Keras's "sum_over_batch_size": sum(w * loss) / number of losses; they also
            weigh the ``weighted_metrics`` (``metrics`` stay unweighted, as in Keras). With
            validation_split they are split with the samples. class_weight: {class: weight},
            turned into sample weights from the labels (one-hot rows by their argmax); not with
            sample_weight. validation_data: (x_val, y_val) or (x_val, y_val, val_sample_weight).
        Training stops at the first batch whose loss is NaN or infinite, with a message: fit adds
        a ``callbacks.TerminateOnNaN`` unless ``callbacks`` holds one.
        """
        fn = "fit"
        self._require_compiled(fn)
        verbose = 1 if verbose == "auto" else int(verbose)
        # Under mpiexec: each rank trains on its rows of every batch; rank 0 alone prints and writes files.
        self._sharding = sharding = keras_distributed.sharding_for(self)
        if sharding is not None and sharding.rank != 0:
            verbose = 0
        batch_size = _batch_size(fn, batch_size)
        validation_batch_size = _batch_size(fn, validation_batch_size or batch_size, "validation_batch_size")
        epochs = _args.integer(fn, "epochs", epochs, minimum=0)
        initial_epoch = _args.integer(fn, "initial_epoch", initial_epoch, minimum=0)
        validation_freq = _args.integer(fn, "validation_freq", validation_freq, minimum=1)
        if class_weight is not None and sample_weight is not None:
            raise ValueError("fit: you cannot pass class_weight and sample_weight at the same time")
        casts = self._casts()
        if _is_dataset(x):
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(f"fit: {name} must be None when x is a PyDataset (its batches hold them)")
            if validation_split:
                raise ValueError("fit: validation_split is not supported with a PyDataset (pass validation_data)")
            source = _DatasetBatches(fn, x, casts, shuffle, steps_per_epoch, class_weight, model=self)
            first = source.first()
            self._check_input_shapes(fn, first[0])
        else:
            if steps_per_epoch is not None:
                raise NotImplementedError("fit: steps_per_epoch is not supported with arrays (pass a PyDataset)")
            if y is None:
                raise ValueError("fit: y is required")
            x, y = _as_array(self._flat_x(x)), self._flat_y(fn, y)
            n = _check_data(fn, x, y)
            weights = self._output_weights(fn, y, n, sample_weight, None)
            if validation_data is None and validation_split:
                if not 0.0 < validation_split < 1.0:
                    raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
                cut = math.ceil(n * (1.0 - validation_split))  # as Keras: the last samples, before shuffling
                if cut == 0 or cut == n:
                    raise ValueError(f"fit: validation_split={validation_split} of {n} samples leaves "
                                     f"{cut} to train on and {n - cut} to validate")
                # as Keras: the sample weights are split with the samples (class weights are not: they
                # weigh the training batches only)
                validation_data = (_split(x, cut, n), _split(y, cut, n), _split(weights, cut, n))
                x, y, n = _split(x, 0, cut), _split(y, 0, cut), cut
                weights = _split(weights, 0, cut)
            if class_weight is not None:
                weights = self._output_weights(fn, y, n, None, class_weight)
            self._check_input_shapes(fn, x)
            source = _ArrayBatches(x, y, weights, batch_size, shuffle, casts)
            first = (_take(x, np.arange(min(batch_size, n)), casts), y, None)
        validation = None
        if validation_data is not None:
            if _is_dataset(validation_data):
                validation = _DatasetBatches(fn, validation_data, casts, steps=validation_steps, model=self)
            else:
                if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                    raise ValueError("fit: validation_data must be a pair (x_val, y_val), a triple "
                                     "(x_val, y_val, val_sample_weight) or a PyDataset")
                if validation_data[1] is None:
                    raise ValueError("fit: validation_data needs targets (x_val, y_val)")
                val_x = _as_array(self._flat_x(validation_data[0]))
                val_y = self._flat_y(fn, validation_data[1], "validation_data's y")
                n_val = _check_data(fn, val_x, val_y, what="validation_data's x")
                val_w = self._output_weights(fn, val_y, n_val,
                                             validation_data[2] if len(validation_data) == 3 else None,
                                             None, "validation_data's sample weights")
                self._check_input_shapes(fn, val_x)
                validation = _ArrayBatches(val_x, val_y, val_w, validation_batch_size, False, casts)

        # As Keras: the callbacks in the order given, History last (it records what the others
        # added to the logs, ``learning_rate``), and the epoch's progress line after them all.
        cbs = list(callbacks or [])
        if sharding is not None and sharding.rank != 0:
            cbs = [cb for cb in cbs if not isinstance(cb, (keras_callbacks.ModelCheckpoint, keras_callbacks.CSVLogger))]
        if not any(isinstance(cb, keras_callbacks.TerminateOnNaN) for cb in cbs):
            cbs.append(keras_callbacks.TerminateOnNaN())
        history = next((cb for cb in cbs if isinstance(cb, keras_callbacks.History)), None)
        if history is None:
            history = keras_callbacks.History()
            cbs.append(history)
        for cb in cbs:
            cb.set_model(self)
            cb.params = {"epochs": epochs, "steps": source.steps, "verbose": verbose}
        self.stop_training = False
        self._prepare(first[0])
        self._check_targets(fn, first[1])
        if isinstance(validation, _ArrayBatches):
            self._check_targets(fn, validation.y, "validation_data's y")
        if sharding is not None:
            sharding.start_training(self)
        try:
            return self._fit_epochs(source, validation, cbs, history, epochs, initial_epoch, validation_freq, verbose)
        finally:
            if sharding is not None:
                sharding.end_training()
            self._sharding = None

    def _fit_epochs(self, source, validation, cbs, history, epochs, initial_epoch, validation_freq, verbose):
        for cb in cbs:
            cb.on_train_begin({})
        logs: dict = {}
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            logs = self._train_epoch(source, verbose, cbs)
            if validation is not None and (epoch + 1) % validation_freq == 0:
                val = self._evaluate_batches(validation)
                logs.update({f"val_{k}": v for k, v in val.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self._sharding is not None:  # the others wait while rank 0 writes its checkpoint
                keras_distributed.distributed.barrier()
            if verbose:
                self._print_epoch_end(logs, verbose)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        self.history = history
        return history

    _sharding = None  # a keras.distributed.Sharding while fit runs under mpiexec

    def _train_epoch(self, source, verbose, cbs) -> dict:
        sharding = self._sharding
        batches = source.epoch() if sharding is None else sharding.epoch(source)
        self.reset_metrics()
        bar = ProgressBar(source.steps, verbose if verbose == 1 else 0)
        self._epoch_start = time.perf_counter()
        logs: dict = {}
        for step in range(source.steps):
            for cb in cbs:
                cb.on_train_batch_begin(step, {})
            x_batch, y_batch, w_batch = next(batches)
            # an override of train_step(x, y) written before sample weights keeps working unweighted
            if sharding is not None:
                loss, y_pred = sharding.train_step(self, x_batch, y_batch, w_batch)
            elif w_batch is None:
                loss, y_pred = self.train_step(x_batch, y_batch)
            else:
                loss, y_pred = self.train_step(x_batch, y_batch, w_batch)
            self._update_metrics(y_batch, y_pred, loss, _length(x_batch), w_batch)
            logs = self._metric_logs()
            for cb in cbs:
                cb.on_train_batch_end(step, logs)
            bar.update(step + 1, logs, finalize=False)
            if self.stop_training:  # as Keras: a callback may stop training after any batch
                break
        source.end_epoch()
        self._last_bar = bar
        return logs

    def _print_epoch_end(self, logs: dict, verbose: int) -> None:
        if verbose == 1:
            self._last_bar.update(self._last_bar.target, logs, finalize=True)
        else:
            elapsed = time.perf_counter() - self._epoch_start
            print(f"{format_duration(elapsed)} - {format_logs(logs)}", flush=True)

    # ---- evaluate and predict -------------------------------------------------------------------

    def _evaluate_batches(self, source, verbose: int = 0) -> dict:
        """Loss and metrics over one pass of ``source``, the metrics reset first (as Keras)."""
        self.reset_metrics()
        bar = ProgressBar(source.steps, verbose if verbose == 1 else 0)
        batches = source.epoch()
        sharding = self._sharding
        for step in range(source.steps):
            x_batch, y_batch, w_batch = next(batches)
            if not self.built:
                self._build_from_batch(x_batch)
            if sharding is not None:
                loss, y_pred = sharding.test_step(self, x_batch, y_batch, w_batch)
            elif w_batch is None:
                loss, y_pred = self.test_step(x_batch, y_batch)
            else:
                loss, y_pred = self.test_step(x_batch, y_batch, w_batch)
            self._update_metrics(y_batch, y_pred, loss, _length(x_batch), w_batch)
            bar.update(step + 1, {"loss": self._loss_tracker.result()})
        logs = self._metric_logs()
        if verbose:
            bar.update(source.steps, logs, finalize=True)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 return_dict: bool = False, **kwargs):
        """Loss (and metrics) over (x, y): a float, a list [loss, *metrics], or a dict. With
        ``sample_weight`` (n,), the loss and the weighted_metrics weigh each sample. x may be a
        ``keras.utils.PyDataset`` of (x, y) or (x, y, sample_weight) batches (``steps`` of them)."""
        fn = "evaluate"
        self._require_compiled(fn)
        verbose = 1 if verbose == "auto" else int(verbose)
        sharding = keras_distributed.sharding_for(self)  # under mpiexec: each rank its rows, results gathered
        if sharding is not None and sharding.rank != 0:
            verbose = 0
        batch_size = _batch_size(fn, batch_size)
        if _is_dataset(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: y and sample_weight must be None when x is a PyDataset")
            source = _DatasetBatches(fn, x, self._casts(), steps=steps, model=self)
            x_first, y_first, _ = source.first()
            self._check_input_shapes(fn, x_first)
            if not self.built:
                self._build_from_batch(x_first)
            self._check_targets(fn, y_first)
        else:
            if y is None:
                raise ValueError("evaluate: y is required")
            x, y = _as_array(self._flat_x(x)), self._flat_y(fn, y)
            weights = self._output_weights(fn, y, _check_data(fn, x, y), sample_weight, None)
            self._check_input_shapes(fn, x)
            if not self.built:
                self._build_from_batch(_take(x, np.arange(min(batch_size, _length(x))), self._casts()))
            self._check_targets(fn, y)
            source = _ArrayBatches(x, y, weights, batch_size, False, self._casts())
        outer, self._sharding = self._sharding, sharding  # evaluate may run inside fit (a callback)
        try:
            logs = self._evaluate_batches(source, verbose)
        finally:
            self._sharding = outer
        if return_dict:
            return logs
        if self._compiled_outputs is not None:
            return self._compiled_outputs.ordered(logs)
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """The model's outputs for x, in batches, as a NumPy array (float32). x may be a
        ``keras.utils.PyDataset`` whose batches are x or (x, ...) (``steps`` of them)."""
        fn = "predict"
        verbose = 0 if verbose == "auto" else int(verbose)
        sharding = keras_distributed.sharding_for(self)  # under mpiexec: each rank its rows, outputs gathered
        if sharding is not None and sharding.rank != 0:
            verbose = 0
        batch_size = _batch_size(fn, batch_size)
        casts = self._casts()
        if _is_dataset(x):
            source = _DatasetBatches(fn, x, casts, steps=steps, targets=False, model=self)
            self._check_input_shapes(fn, source.first()[0])
        else:
            x = _as_array(self._flat_x(x))
            _check_data(fn, x, None)
            self._check_input_shapes(fn, x)
            source = _ArrayBatches(x, np.empty(_length(x)), None, batch_size, False, casts)
        outputs = []
        bar = ProgressBar(source.steps, verbose if verbose == 1 else 0)
        batches = source.epoch()
        with no_grad():
            for step in range(source.steps):
                x_batch = next(batches)[0]
                if not self.built:
                    self._build_from_batch(x_batch)
                if sharding is not None:
                    outputs.append(sharding.predict(self, x_batch))
                else:
                    out = self(x_batch, training=False)
                    if isinstance(out, dict):
                        out = [out[k] for k in sorted(out)]
                    outputs.append([o.numpy(force=True) for o in out] if isinstance(out, (list, tuple))
                                   else out.numpy(force=True))
                bar.update(step + 1, {})
        if verbose:
            bar.update(source.steps, {}, finalize=True)
        if isinstance(outputs[0], list):
            parts = [np.concatenate(parts) for parts in zip(*outputs)]
            keys = getattr(getattr(self, "_graph", None), "output_keys", None)
            if keys is not None:
                return dict(zip(keys, parts))
            return parts[0] if len(parts) == 1 else parts  # Model(inputs, [output]): one array, as Keras
        return np.concatenate(outputs)
