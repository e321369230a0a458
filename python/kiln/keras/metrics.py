"""Keras metrics, accumulated over an epoch weighted by batch size.

"accuracy" is resolved against the loss, as Keras does: sparse labels compare
with argmax, one-hot labels argmax with argmax, binary labels threshold at 0.5.
"""

from __future__ import annotations

import numpy as np

from . import losses as keras_losses


class Metric:
    name = "metric"

    def __init__(self, name: str | None = None):
        if name:
            self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        values = self.values(y_true, y_pred)
        self.total += float(np.sum(values))
        self.count += int(np.size(values))

    def values(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class SparseCategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.asarray(y_true).reshape(y_pred.shape[:-1])


class CategoricalAccuracy(Metric):
    name = "accuracy"

    def values(self, y_true, y_pred):
        return np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)


class BinaryAccuracy(Metric):
    name = "accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5):
        super().__init__(name)
        self.threshold = threshold

    def values(self, y_true, y_pred):
        return (y_pred > self.threshold) == (np.asarray(y_true).reshape(y_pred.shape) > 0.5)


class MeanSquaredError(Metric):
    name = "mse"

    def values(self, y_true, y_pred):
        return (y_pred - np.asarray(y_true).reshape(y_pred.shape)) ** 2


class MeanAbsoluteError(Metric):
    name = "mae"

    def values(self, y_true, y_pred):
        return np.abs(y_pred - np.asarray(y_true).reshape(y_pred.shape))


def get(identifier, loss) -> Metric:
    """A metric from a name (resolving "accuracy" against ``loss``) or a Metric."""
    if isinstance(identifier, Metric):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a Metric, got {type(identifier).__name__}")
    name = identifier.lower()
    if name in ("accuracy", "acc"):
        if isinstance(loss, keras_losses.SparseCategoricalCrossentropy):
            return SparseCategoricalAccuracy(identifier)
        if isinstance(loss, keras_losses.CategoricalCrossentropy):
            return CategoricalAccuracy(identifier)
        return BinaryAccuracy(identifier)
    table = {"sparse_categorical_accuracy": SparseCategoricalAccuracy, "categorical_accuracy": CategoricalAccuracy,
             "binary_accuracy": BinaryAccuracy, "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
             "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError}
    if name not in table:
        raise ValueError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(sorted(table))}")
    return table[name](identifier)
