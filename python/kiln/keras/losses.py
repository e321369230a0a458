"""Keras losses by name or object, each ``loss(y_true, y_pred) -> scalar Tensor``.

A model whose last layer ends in softmax (or sigmoid) hands its logits along with
its probabilities; the cross-entropy losses then run kiln's fused, stable kernel on
the logits, as Keras itself does, instead of taking logs of rounded probabilities.
"""

from __future__ import annotations

import numpy as np

from ..nn import functional as F
from ..tensor import Tensor

EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps]


def _array(y) -> np.ndarray:
    """y_true on the host, where labels are checked and prepared (a device tensor is copied)."""
    if isinstance(y, Tensor):
        return y._array if type(y._array) is np.ndarray else y.numpy(force=True)
    return np.asarray(y)


def _beside(target: np.ndarray, y_pred):
    """The prepared target where y_pred is: the array itself on the cpu, else a Tensor on y_pred's device."""
    if type(y_pred._array) is np.ndarray:
        return target
    return Tensor._wrap(target).to(y_pred.device)


def _numeric(fn: str, what: str, y: np.ndarray, loss: str) -> None:
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {what} must hold numbers for {loss}, got dtype {y.dtype}")


def _first(mask: np.ndarray) -> tuple:
    return np.unravel_index(int(np.argmax(mask)), mask.shape)


def _labels(fn: str, what: str, y: np.ndarray, loss: str) -> np.ndarray:
    """Class indices from y (integers, bools, or floats of whole numbers, as Keras casts them),
    flattened to int64; a fractional, non-finite or negative label is a ValueError."""
    flat = y.reshape(-1)
    if flat.dtype.kind == "f":
        bad = ~np.isfinite(flat) | (flat != np.round(flat))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{fn}: {what} must hold whole-number class indices for {loss}, "
                             f"got {what}[{i}] = {flat[i]}")
    elif flat.dtype.kind not in "biu":
        raise TypeError(f"{fn}: {what} must hold integer class indices for {loss}, got dtype {y.dtype}")
    labels = flat.astype(np.int64, copy=False)
    if labels.size and labels.min() < 0:
        i = int(np.argmax(labels < 0))
        raise ValueError(f"{fn}: {what}[{i}] = {labels[i]} is not a class index (labels are >= 0; Keras has no "
                         f"ignore_index: every label counts)")
    return labels


def _unit_interval(fn: str, what: str, y: np.ndarray, loss: str) -> None:
    outside = ~((y >= 0) & (y <= 1))
    if outside.any():
        where = _first(outside)
        raise ValueError(f"{fn}: {what} must hold values in [0, 1] for {loss}, got "
                         f"{what}[{', '.join(map(str, where))}] = {y[where]}")


def _logits(y_pred: Tensor, kind: str):
    marked = getattr(y_pred, "_keras_logits", None)
    return marked[1] if marked is not None and marked[0] == kind else None


def weighted_mean(losses: Tensor, sample_weight, name: str) -> Tensor:
    """sum(losses * w) / losses.size, w broadcast from its leading axes (batch,) -> losses' shape.

    losses: (batch, ...) Tensor; sample_weight: array-like (batch,), (batch, 1) or (batch, ...)."""
    w = _array(sample_weight).astype(np.float64)
    while w.ndim > losses.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    w = w.reshape(w.shape + (1,) * (losses.ndim - w.ndim))
    try:
        np.broadcast_shapes(w.shape, tuple(losses.shape))
    except ValueError:
        raise ValueError(f"{name}: sample_weight of shape {_array(sample_weight).shape} does not match the per-sample "
                         f"losses of shape {tuple(losses.shape)}") from None
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: sample_weight must hold finite numbers")
    total = (losses * _beside(w.astype(losses.dtype), losses)).sum()
    return total * (1.0 / max(int(np.prod(losses.shape)), 1))


def _one_hot(labels: np.ndarray, shape: tuple, dtype) -> np.ndarray:
    out = np.zeros((labels.size, shape[-1]), dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(shape)


class Loss:
    name = "loss"

    def __init__(self, from_logits: bool = False, name: str | None = None, reduction="sum_over_batch_size"):
        self.from_logits = from_logits
        if name:
            self.name = name

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        """The loss over the batch (a scalar Tensor). With ``sample_weight`` (batch,) (or any shape
        that broadcasts against the per-sample losses), as Keras's default reduction
        "sum_over_batch_size": sum(weight * loss per sample) / number of per-sample losses."""
        if sample_weight is None:
            out = self.call(y_true, y_pred)
            return out.mean() if out.ndim else out
        return weighted_mean(self.per_sample(y_true, y_pred), sample_weight, self.name)

    def call(self, y_true, y_pred) -> Tensor:
        """The loss: kiln's own losses return the unweighted mean (the fused kernels where there is
        one); a subclass may return the per-sample losses instead, as a Keras ``Loss.call`` does."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def per_sample(self, y_true, y_pred) -> Tensor:
        """The loss of each sample, shape y_pred.shape[:-1] (Keras's ``Loss.call``), from Tensor ops."""
        out = self.call(y_true, y_pred)
        if out.ndim == 0:
            raise NotImplementedError(f"{self.name}: sample weights need the per-sample losses, and this loss's call "
                                      "returns their mean")
        return out

    def check_targets(self, fn: str, y_true, output_shape, what: str = "y") -> None:
        """Refuse targets this loss cannot take, naming them as ``fn``'s argument ``what``, before
        any training step: ``output_shape`` is the model's (batch axis None), or None if unknown."""
        _numeric(fn, what, np.asarray(y_true), self.name)

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(Loss):
    """Integer labels (batch,) against class scores (batch, classes)."""

    name = "sparse_categorical_crossentropy"

    def check_targets(self, fn, y_true, output_shape, what="y"):
        y = np.asarray(y_true)
        if output_shape is not None and y.ndim > 1 and y.shape[-1] != 1 and y.ndim >= len(output_shape):
            raise ValueError(f"{fn}: {what} has shape {y.shape}; {self.name} takes one class index per sample "
                             "(one-hot labels take categorical_crossentropy)")
        labels = _labels(fn, what, y, self.name)
        classes = None if output_shape is None else output_shape[-1]
        if classes is not None and labels.size and labels.max() >= classes:
            i = int(np.argmax(labels >= classes))
            raise ValueError(f"{fn}: {what}[{i}] = {labels[i]} is not a class index in [0, {classes}) "
                             f"(the model has {classes} outputs)")

    def per_sample(self, y_true, y_pred):
        labels = _labels(self.name, "y_true", _array(y_true), self.name)
        if labels.size * y_pred.shape[-1] != int(np.prod(y_pred.shape)):
            raise ValueError(f"{self.name}: {labels.size} labels for predictions of shape {tuple(y_pred.shape)}")
        if labels.size and labels.max() >= y_pred.shape[-1]:
            raise ValueError(f"{self.name}: label {labels.max()} is not a class index in [0, {y_pred.shape[-1]})")
        logits = y_pred if self.from_logits else _logits(y_pred, "softmax")
        log_p = F.log_softmax(logits, -1) if logits is not None else y_pred.clamp(EPSILON, 1 - EPSILON).log()
        return -(log_p * _beside(_one_hot(labels, tuple(y_pred.shape), y_pred.dtype), y_pred)).sum(-1)

    def call(self, y_true, y_pred):
        labels = _labels(self.name, "y_true", _array(y_true), self.name)
        logits = y_pred if self.from_logits else _logits(y_pred, "softmax")
        if y_pred.ndim > 2:  # a label per position (sequence models): one row per position, the mean over all
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            logits = None if logits is None else logits.reshape(-1, logits.shape[-1])
        labels = _beside(labels, y_pred)
        if logits is not None:
            return F.cross_entropy(logits, labels)
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        return F.nll_loss(p.log(), labels)


class CategoricalCrossentropy(Loss):
    """One-hot (or soft) labels (batch, classes) against class scores (batch, classes)."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, **kwargs):
        super().__init__(from_logits, **kwargs)
        self.label_smoothing = label_smoothing

    def check_targets(self, fn, y_true, output_shape, what="y"):
        y = np.asarray(y_true)
        _numeric(fn, what, y, self.name)
        if output_shape is not None and (y.ndim != len(output_shape) or y.shape[-1] != output_shape[-1]):
            raise ValueError(f"{fn}: {what} has shape {y.shape}, {self.name} takes one-hot (or soft) labels of the "
                             f"model's output shape {output_shape} (integer labels take "
                             "sparse_categorical_crossentropy)")

    def _target(self, y_true, y_pred) -> np.ndarray:
        target = _array(y_true).astype(y_pred.dtype)
        if target.shape != tuple(y_pred.shape):
            raise ValueError(f"{self.name}: y_true has shape {target.shape}, y_pred {tuple(y_pred.shape)}: it takes "
                             "one-hot (or soft) labels (integer labels take sparse_categorical_crossentropy)")
        if self.label_smoothing:
            target = target * (1 - self.label_smoothing) + self.label_smoothing / target.shape[-1]
        return target

    def per_sample(self, y_true, y_pred):
        target = _beside(self._target(y_true, y_pred), y_pred)
        logits = y_pred if self.from_logits else _logits(y_pred, "softmax")
        if logits is not None:
            log_p = F.log_softmax(logits, -1)
        else:
            log_p = (y_pred / y_pred.sum(-1, keepdim=True)).clamp(EPSILON, 1 - EPSILON).log()
        return -(log_p * target).sum(-1)

    def call(self, y_true, y_pred):
        target = _beside(self._target(y_true, y_pred), y_pred)
        logits = y_pred if self.from_logits else _logits(y_pred, "softmax")
        if logits is not None:
            return F.cross_entropy(logits, target)
        p = y_pred / y_pred.sum(-1, keepdim=True)
        return -(p.clamp(EPSILON, 1 - EPSILON).log() * target).sum(-1).mean()


class BinaryCrossentropy(Loss):
    """Labels in {0, 1} (or soft) against probabilities of the same shape."""

    name = "binary_crossentropy"

    def check_targets(self, fn, y_true, output_shape, what="y"):
        y = np.asarray(y_true)
        _numeric(fn, what, y, self.name)
        _unit_interval(fn, what, y, self.name)

    def per_sample(self, y_true, y_pred):
        target = _array(y_true).astype(y_pred.dtype).reshape(y_pred.shape)
        _unit_interval(self.name, "y_true", target, self.name)
        target = _beside(target, y_pred)
        logits = y_pred if self.from_logits else _logits(y_pred, "sigmoid")
        if logits is not None:  # max(x, 0) - x y + log(1 + exp(-|x|)), stable for any x
            each = logits.clamp(min=0) - logits * target + ((-logits.abs()).exp() + 1).log()
        else:
            p = y_pred.clamp(EPSILON, 1 - EPSILON)
            each = -(p.log() * target + (1 - p).log() * (1 - target))
        return each.mean(-1) if each.ndim > 1 else each

    def call(self, y_true, y_pred):
        target = _array(y_true).astype(y_pred.dtype).reshape(y_pred.shape)
        _unit_interval(self.name, "y_true", target, self.name)
        target = _beside(target, y_pred)
        logits = y_pred if self.from_logits else _logits(y_pred, "sigmoid")
        if logits is not None:
            return F.binary_cross_entropy_with_logits(logits, target)
        p = y_pred.clamp(EPSILON, 1 - EPSILON)
        return -(p.log() * target + (1 - p).log() * (1 - target)).mean()


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        each = (y_pred - _beside(_array(y_true).astype(y_pred.dtype).reshape(y_pred.shape), y_pred)) ** 2
        return each.mean(-1) if each.ndim > 1 else each

    def call(self, y_true, y_pred):
        return F.mse_loss(y_pred, _beside(_array(y_true).astype(y_pred.dtype).reshape(y_pred.shape), y_pred))


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        each = (y_pred - _beside(_array(y_true).astype(y_pred.dtype).reshape(y_pred.shape), y_pred)).abs()
        return each.mean(-1) if each.ndim > 1 else each

    def call(self, y_true, y_pred):
        return (y_pred - _beside(_array(y_true).astype(y_pred.dtype).reshape(y_pred.shape), y_pred)).abs().mean()


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}


def get(identifier) -> Loss:
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown loss {identifier!r}; known: {', '.join(sorted(_BY_NAME))}") from None
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise TypeError(f"a loss must be a name, a Loss or a callable, got {type(identifier).__name__}")


class _FunctionLoss(Loss):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def per_sample(self, y_true, y_pred):
        target = y_true if isinstance(y_true, Tensor) else Tensor._wrap(_array(y_true))
        return self.fn(target if target.device == y_pred.device else target.to(y_pred.device), y_pred)

    def call(self, y_true, y_pred):
        out = self.per_sample(y_true, y_pred)
        return out.mean() if out.ndim else out


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits)(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits)(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    return MeanSquaredError()(y_true, y_pred)


def serialize(loss: Loss) -> dict:
    for name, cls in _BY_NAME.items():
        if type(loss) is cls:
            return {"class_name": name, "config": loss.get_config()}
    return {"class_name": None}


def deserialize(config):
    if not config or config.get("class_name") is None:
        return None
    return _BY_NAME[config["class_name"]](**config.get("config", {}))
