"""Keras metrics: stateful objects with ``reset_state``, ``update_state`` and ``result``.

Every metric accumulates on the host (float64), from predictions on any device: a Tensor
is read with ``numpy(force=True)``, so a model on "cuda" hands its outputs over as they are.
``fit`` resets the compiled metrics at the start of each epoch and of each validation pass,
and ``evaluate`` at its start, as Keras 3 does; each is logged under its ``name``.

Names follow Keras: a class's default (``SparseCategoricalAccuracy`` ->
"sparse_categorical_accuracy", ``AUC`` -> "auc", then "auc_1", ...), and a string given to
``compile`` keeps that string ("accuracy", "acc", "mae"). "accuracy" is resolved against
the loss, as Keras resolves it against the targets: sparse labels compare with argmax,
one-hot labels argmax with argmax, binary labels threshold at 0.5.

Shapes: y_true (batch, ...) and y_pred (batch, ...); a sample_weight (batch,) (or any shape
that broadcasts against the per-sample values) weighs each sample's contribution.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import losses as keras_losses
from .layers.base import snake_case, unique_name

EPSILON = 1e-7  # Keras's backend epsilon


def _host(y) -> np.ndarray:
    """y on the host as an ndarray (a Tensor on any device is copied back)."""
    if isinstance(y, Tensor):
        return y.numpy(force=True)
    return np.asarray(y)


def _same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As Keras's squeeze_or_expand_to_same_rank: drop or add one trailing axis of size 1."""
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true, y_pred


def _weights(sample_weight, shape: tuple, fn: str) -> np.ndarray | None:
    """sample_weight broadcast to ``shape`` (trailing axes added as Keras expands them), float64."""
    if sample_weight is None:
        return None
    w = _host(sample_weight).astype(np.float64)
    while w.ndim > len(shape) and w.shape[-1] == 1:
        w = w[..., 0]
    w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(f"{fn}: sample_weight of shape {_host(sample_weight).shape} does not broadcast to the "
                         f"values of shape {shape}") from None


def _divide_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class Metric:
    """The base class: ``update_state(y_true, y_pred, sample_weight=None)`` accumulates,
    ``result()`` reads (a float), ``reset_state()`` starts again; ``metric(y_true, y_pred)``
    updates and returns the result."""

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = dtype or "float32"
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def reset_states(self) -> None:  # the Keras 2 spelling
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The weighted mean of the values given: ``update_state(values, sample_weight=None)``.

    values (batch, ...) are first averaged per sample (over the axes the weight lacks), as
    Keras's ``reduce_to_samplewise_values``; ``count`` adds the weights (or the batch size)."""

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None) -> None:
        self._accumulate(_host(values).astype(np.float64), sample_weight)

    def _accumulate(self, values: np.ndarray, sample_weight) -> None:
        if sample_weight is not None:
            w = _host(sample_weight).astype(np.float64)
            while w.ndim > values.ndim and w.shape[-1] == 1:
                w = w[..., 0]
            if values.ndim > w.ndim:  # reduce the values to the weight's rank
                values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
            w = _weights(w, values.shape, self.name)
            values = values * w
            self.total += float(values.sum())
            self.count += float(w.sum())
            return
        self.total += float(values.sum() / max(int(np.prod(values.shape[1:])), 1) if values.ndim > 1
                            else values.sum())
        self.count += float(values.shape[0] if values.ndim >= 1 else 1)

    def result(self) -> float:
        return float(_divide_no_nan(self.total, self.count))


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def reset_state(self) -> None:
        self.total = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        values = _host(values).astype(np.float64)
        w = _weights(sample_weight, values.shape, self.name)
        self.total += float((values if w is None else values * w).sum())

    def result(self) -> float:
        return self.total


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred)`` (per-element or per-sample values) over samples."""

    def __init__(self, fn=None, name: str | None = None, dtype=None, **kwargs):
        if fn is not None:
            self._fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name=name, dtype=dtype)

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return _host(self._fn(y_true, y_pred, **self._fn_kwargs))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _same_rank(_host(y_true), _host(y_pred))
        self._accumulate(np.asarray(self.values(y_true, y_pred), np.float64), sample_weight)


# ---- the metric functions (per-sample or per-element values) -----------------------------------------


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """y_true (batch,) or (batch, 1) class indices, y_pred (batch, classes) -> (batch,) 0/1."""
    y_pred = _host(y_pred)
    y_true = _host(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (np.argmax(y_pred, axis=-1) == y_true.reshape(y_pred.shape[:-1])).astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """One-hot y_true and y_pred (batch, classes) -> (batch,) 0/1."""
    return (np.argmax(_host(y_pred), axis=-1) == np.argmax(_host(y_true), axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """y_true in {0, 1} and y_pred probabilities of one shape -> 0/1 per element (as Keras:
    ``y_true == (y_pred > threshold)``)."""
    y_true, y_pred = _same_rank(_host(y_true), _host(y_pred))
    return (y_true.reshape(y_pred.shape) == (y_pred > threshold)).astype(np.float32)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    y_true, y_pred = _same_rank(_host(y_true), _host(y_pred))
    return np.mean((y_pred.astype(np.float64) - y_true.reshape(y_pred.shape)) ** 2, axis=-1)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    y_true, y_pred = _same_rank(_host(y_true), _host(y_pred))
    return np.mean(np.abs(y_pred.astype(np.float64) - y_true.reshape(y_pred.shape)), axis=-1)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of y_pred (batch, classes) equals the label y_true (batch,)."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._accumulate(np.asarray(sparse_categorical_accuracy(y_true, y_pred), np.float64), sample_weight)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of y_pred equals the argmax of one-hot y_true (batch, classes)."""

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` equals the 0/1 label."""

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true exactly."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(lambda t, p: (t.reshape(p.shape) == p).astype(np.float32), name=name, dtype=dtype)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1 where the label's score is among the k largest of its row (fewer than k scores above
    it), y_true (batch,) class indices, y_pred (batch, classes) -> (batch,)."""
    y_pred = _host(y_pred)
    labels = _host(y_true).reshape(y_pred.shape[:-1]).astype(np.int64)
    target = np.take_along_axis(y_pred, labels[..., None], -1)
    return (np.sum(y_pred > target, axis=-1) < k).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """As sparse_top_k_categorical_accuracy with one-hot y_true (batch, classes)."""
    return sparse_top_k_categorical_accuracy(np.argmax(_host(y_true), axis=-1), y_pred, k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the label is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = sparse_top_k_categorical_accuracy(y_true, y_pred, self.k)
        self._accumulate(np.asarray(values, np.float64), sample_weight)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


# ---- confusion-matrix metrics -------------------------------------------------------------------------


def _thresholds(fn: str, thresholds, default: float) -> np.ndarray:
    values = np.atleast_1d(np.asarray(default if thresholds is None else thresholds, np.float64))
    if values.ndim != 1 or values.size == 0 or not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{fn}: thresholds must be a float or a list of floats in [0, 1], got {thresholds!r}")
    return values


class _ConfusionMetric(Metric):
    """Weighted true/false positive/negative counts at each of ``thresholds`` (prediction >
    threshold is positive; a label is positive when it is non-zero), with Keras's ``top_k``
    (only each row's k largest predictions may be positive) and ``class_id`` (one column)."""

    def __init__(self, thresholds, top_k=None, class_id=None, name=None, dtype=None):
        fn = type(self).__name__
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"{fn}: top_k must be a positive integer or None, got {top_k!r}")
        if class_id is not None and (not isinstance(class_id, (int, np.integer)) or class_id < 0):
            raise ValueError(f"{fn}: class_id must be a non-negative integer or None, got {class_id!r}")
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        # as Keras: with top_k and no thresholds, every top-k prediction counts as positive
        self.thresholds = np.array([-np.inf]) if thresholds is None and top_k is not None \
            else _thresholds(fn, thresholds, 0.5)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        k = self.thresholds.size
        self.true_positives, self.false_positives = np.zeros(k), np.zeros(k)
        self.true_negatives, self.false_negatives = np.zeros(k), np.zeros(k)

    def _prepare(self, y_true, y_pred, sample_weight):
        y_true, y_pred = _same_rank(_host(y_true), _host(y_pred).astype(np.float64))
        y_true = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} differ")
        w = _weights(sample_weight, y_pred.shape, self.name)
        if self.top_k is not None:
            if y_pred.ndim == 0 or y_pred.shape[-1] < 1:
                raise ValueError(f"{self.name}: top_k needs y_pred with a class axis, got shape {y_pred.shape}")
            k = min(self.top_k, y_pred.shape[-1])
            keep = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
            masked = np.full_like(y_pred, -np.inf)
            np.put_along_axis(masked, keep, np.take_along_axis(y_pred, keep, -1), -1)
            y_pred = masked
        if self.class_id is not None:
            if y_pred.ndim == 0 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{self.name}: class_id={self.class_id} is outside y_pred of shape {y_pred.shape}")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
            w = None if w is None else w[..., self.class_id]
        return y_true.reshape(-1) != 0, y_pred.reshape(-1), None if w is None else w.reshape(-1)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        label, pred, w = self._prepare(y_true, y_pred, sample_weight)
        positive = pred[None, :] > self.thresholds[:, None]  # (thresholds, elements)
        w = np.ones(pred.shape) if w is None else w
        self.true_positives += (positive & label) @ w
        self.false_positives += (positive & ~label) @ w
        self.true_negatives += (~positive & ~label) @ w
        self.false_negatives += (~positive & label) @ w

    def _per_threshold(self, values: np.ndarray):
        return float(values[0]) if values.size == 1 else [float(v) for v in values]

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMetric):
    """tp / (tp + fp) at ``thresholds`` (default 0.5; a list gives one value per threshold),
    0 when nothing is predicted positive. y_true (batch, ...) 0/1, y_pred probabilities."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._per_threshold(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ConfusionMetric):
    """tp / (tp + fn) at ``thresholds`` (default 0.5), 0 when no label is positive."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._per_threshold(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


class AUC(_ConfusionMetric):
    """Area under the ROC (or PR) curve, as Keras computes it: confusion counts at
    ``num_thresholds`` thresholds (-eps, 1/(n-1), ..., (n-2)/(n-1), 1+eps), then a Riemann sum
    over them: ``summation_method="interpolation"`` is the trapezoidal rule for ROC and
    Davis & Goadrich's interpolation for PR; "minoring" and "majoring" take the lower or
    upper heights. y_true (batch, ...) 0/1 labels, y_pred probabilities (or logits with
    ``from_logits``), flattened together (multi_label=False)."""

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name=None, dtype=None, thresholds=None, multi_label: bool = False, num_labels=None,
                 label_weights=None, from_logits: bool = False):
        fn = "AUC"
        curve = str(curve).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"{fn}: curve must be 'ROC' or 'PR', got {curve!r}")
        summation_method = str(summation_method).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f"{fn}: summation_method must be 'interpolation', 'minoring' or 'majoring', "
                             f"got {summation_method!r}")
        if multi_label or label_weights is not None:
            raise NotImplementedError(f"{fn}: multi_label and label_weights are not supported by kiln "
                                      "(labels are flattened together, multi_label=False)")
        if thresholds is not None:
            inner = sorted(float(t) for t in np.atleast_1d(thresholds))
        else:
            if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 1:
                raise ValueError(f"{fn}: num_thresholds must be an integer > 1, got {num_thresholds!r}")
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.num_thresholds = len(inner) + 2
        self.curve, self.summation_method, self.from_logits = curve, summation_method, bool(from_logits)
        self.multi_label, self.num_labels, self.label_weights = multi_label, num_labels, label_weights
        self._init_thresholds = thresholds
        self._edges = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        super().__init__(thresholds=None, name=name, dtype=dtype)
        self.thresholds = self._edges
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = _host(y_pred).astype(np.float64)
        if self.from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        super().update_state(y_true, y_pred, sample_weight)

    def _interpolate_pr_auc(self) -> float:
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return float(increment.sum())

    def result(self) -> float:
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "thresholds": self._init_thresholds,
                "multi_label": self.multi_label, "num_labels": self.num_labels, "label_weights": self.label_weights,
                "from_logits": self.from_logits}


# ---- by name ------------------------------------------------------------------------------------------

_FUNCTIONS = {"sparse_categorical_accuracy": sparse_categorical_accuracy, "categorical_accuracy": categorical_accuracy,
              "binary_accuracy": binary_accuracy, "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
              "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
              "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
              "top_k_categorical_accuracy": top_k_categorical_accuracy}
_CLASSES = {"auc": AUC, "precision": Precision, "recall": Recall}
# the classes a saved model's compile config may name (serialize / deserialize)
_SERIALIZABLE = {cls.__name__: cls for cls in (SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy, Accuracy,
                                                SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy,
                                                MeanSquaredError, MeanAbsoluteError, Precision, Recall, AUC)}


# examples/battery (keras-io imbalanced_classification): the confusion counts themselves
class _ConfusionCount(_ConfusionMetric):
    """The weighted count of one confusion cell at ``thresholds`` (default 0.5; a list gives one
    count per threshold), as Keras's TruePositives & co."""

    _cell = ""

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, None, None, name, dtype)

    def result(self):
        return self._per_threshold(getattr(self, self._cell))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_ConfusionCount):
    _cell = "true_positives"


class FalsePositives(_ConfusionCount):
    _cell = "false_positives"


class TrueNegatives(_ConfusionCount):
    _cell = "true_negatives"


class FalseNegatives(_ConfusionCount):
    _cell = "false_negatives"


_SERIALIZABLE.update({cls.__name__: cls for cls in (TruePositives, FalsePositives, TrueNegatives, FalseNegatives)})


def serialize(metric) -> "str | dict | None":
    """What a saved model's compile config holds for one ``compile(metrics=...)`` entry: a
    name as it is, a built-in metric object as {class_name, config}, anything else None."""
    if isinstance(metric, str):
        return metric
    if type(metric) in _SERIALIZABLE.values():
        config = metric.get_config()
        config.pop("dtype", None)
        return {"class_name": type(metric).__name__, "config": config}
    return None


def deserialize(config) -> "str | Metric":
    """The inverse of serialize (a name stays a name: compile resolves it against the loss)."""
    if isinstance(config, str):
        return config
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in _SERIALIZABLE:
        raise ValueError(f"unknown metric class {name!r}; known: {', '.join(sorted(_SERIALIZABLE))}")
    return _SERIALIZABLE[name](**config.get("config", {}))


def get(identifier, loss=None) -> Metric:
    """A metric from a name (resolving "accuracy" against ``loss``) or a Metric (returned as it is).

    A name of a metric function ("accuracy", "mae", "sparse_categorical_accuracy") is logged under
    that name; a name of a metric class ("auc", "precision", "recall") makes one with its default
    name, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if not isinstance(identifier, str):
        if callable(identifier):  # a function (y_true, y_pred) -> values, as Keras takes it
            return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
        raise TypeError(f"a metric must be a name, a Metric or a function, got {type(identifier).__name__}")
    name = identifier.lower()
    if name in ("accuracy", "acc"):
        if isinstance(loss, keras_losses.SparseCategoricalCrossentropy):
            return MeanMetricWrapper(sparse_categorical_accuracy, name=identifier)
        if isinstance(loss, keras_losses.CategoricalCrossentropy):
            return MeanMetricWrapper(categorical_accuracy, name=identifier)
        return MeanMetricWrapper(binary_accuracy, name=identifier)
    if name in _FUNCTIONS:
        return MeanMetricWrapper(_FUNCTIONS[name], name=identifier)
    if name in _CLASSES:
        return _CLASSES[name]()
    raise ValueError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(sorted({**_FUNCTIONS, **_CLASSES}))}")
