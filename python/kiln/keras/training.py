"""compile / fit / evaluate / predict: the Keras training loop over kiln's tape and kernels.

Each training step is: forward (the layers' kernels), the loss (a fused loss kernel),
``backward`` (the kernels' backwards), and one fused optimizer kernel over the model's
flat parameter buffer. Batches are sliced from NumPy arrays or SciPy sparse matrices
(TF-IDF features) one at a time; a sparse batch stays sparse into the first Dense layer.
"""

from __future__ import annotations

import time

import numpy as np

from ..autograd import no_grad
from ..random import generator
from ..sparse import is_sparse as _is_sparse
from ..tensor import Tensor
from . import callbacks as keras_callbacks
from . import losses as keras_losses
from . import metrics as keras_metrics
from . import optimizers as keras_optimizers
from .layers.base import learning_phase
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


def _take(x, idx):
    """Rows ``idx`` of an array, of a CSR matrix (a CSR batch, never densified: the first
    Dense layer multiplies its stored entries only) or of a list of them."""
    if isinstance(x, list):
        return [_take(v, idx) for v in x]
    if _is_sparse(x):
        return x[idx]
    rows = x[idx]
    return rows.astype(np.float32) if rows.dtype == np.float64 else rows


def _split(x, start: int, stop: int):
    if isinstance(x, list):
        return [_split(v, start, stop) for v in x]
    return x[start:stop]


class Trainer:
    """The Keras training API, mixed into Model."""

    # ---- compile --------------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, **kwargs):
        """Choose the optimizer, the loss and the metrics ("accuracy", "mae", ...)."""
        if loss is None:
            raise ValueError("compile: a loss is required (e.g. loss='sparse_categorical_crossentropy')")
        self.optimizer = keras_optimizers.get(optimizer)
        self.loss = keras_losses.get(loss)
        self._metric_specs = list(metrics or [])
        self.compiled = True
        self._optimizer_built = False

    def _require_compiled(self, what: str) -> None:
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"{what}: compile the model first (model.compile(optimizer=..., loss=...))")

    def _fresh_metrics(self):
        return [keras_metrics.get(m, self.loss) for m in self._metric_specs]

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

    def train_step(self, x_batch, y_batch) -> tuple[float, np.ndarray]:
        with learning_phase(True):
            y_pred = self(x_batch, training=True)
        loss = self.loss(y_batch, y_pred)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.apply()
        return float(loss.item()), y_pred.numpy(force=True)

    def test_step(self, x_batch, y_batch) -> tuple[float, np.ndarray]:
        with no_grad():
            y_pred = self(x_batch, training=False)
            loss = self.loss(y_batch, y_pred)
        return float(loss.item()), y_pred.numpy(force=True)

    def train_on_batch(self, x, y):
        self._require_compiled("train_on_batch")
        x, y = _as_array(x), _as_array(y)
        self._prepare(_take(x, slice(None)))
        loss, _ = self.train_step(_take(x, slice(None)), y)
        return loss

    def test_on_batch(self, x, y):
        self._require_compiled("test_on_batch")
        return self.test_step(_take(_as_array(x), slice(None)), _as_array(y))[0]

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=_length(_as_array(x)))

    # ---- fit ----------------------------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq: int = 1):
        """Train for ``epochs`` passes over (x, y); returns a History.

        x: ndarray (batch, ...), a SciPy sparse matrix, or a list of arrays for several inputs.
        y: labels/targets (batch, ...). verbose: 0 silent, 1 progress bar ("auto"), 2 one line per epoch.
        """
        self._require_compiled("fit")
        if class_weight is not None or sample_weight is not None:
            raise NotImplementedError("fit: class_weight and sample_weight are not supported yet")
        if steps_per_epoch is not None:
            raise NotImplementedError("fit: steps_per_epoch is not supported (pass arrays)")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = int(batch_size or 32)
        x, y = _as_array(x), _as_array(y)
        if x is None or y is None:
            raise ValueError("fit: x and y are required")
        n = _length(x)
        if len(y) != n:
            raise ValueError(f"fit: x has {n} samples, y has {len(y)}")
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"fit: validation_split must be in (0, 1), got {validation_split}")
            cut = int(n * (1.0 - validation_split))  # Keras takes the last samples, before shuffling
            validation_data = (_split(x, cut, n), y[cut:])
            x, y, n = _split(x, 0, cut), y[:cut], cut
        if validation_data is not None:
            validation_data = (_as_array(validation_data[0]), _as_array(validation_data[1]))
        if n == 0:
            raise ValueError("fit: no training samples")

        history = keras_callbacks.History()
        cbs = [history] + list(callbacks or [])
        steps = -(-n // batch_size)
        for cb in cbs:
            cb.set_model(self)
            cb.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        self.stop_training = False
        self._prepare(_take(x, np.arange(min(batch_size, n))))
        for cb in cbs:
            cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            logs = self._train_epoch(x, y, n, batch_size, shuffle, verbose, cbs, epoch)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val = self._evaluate_arrays(*validation_data, validation_batch_size or batch_size)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if verbose:
                self._print_epoch_end(logs, verbose)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end()
        self.history = history
        return history

    def _train_epoch(self, x, y, n, batch_size, shuffle, verbose, cbs, epoch) -> dict:
        order = generator().permutation(n) if shuffle else np.arange(n)
        metrics = self._fresh_metrics()
        steps = -(-n // batch_size)
        bar = ProgressBar(steps, verbose if verbose == 1 else 0)
        self._epoch_start = time.perf_counter()
        total_loss, seen = 0.0, 0
        logs: dict = {}
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            for cb in cbs:
                cb.on_train_batch_begin(step)
            y_batch = y[idx]
            loss, y_pred = self.train_step(_take(x, idx), y_batch)
            total_loss += loss * len(idx)
            seen += len(idx)
            for m in metrics:
                m.update_state(y_batch, y_pred)
            logs = {"loss": total_loss / seen, **{m.name: m.result() for m in metrics}}
            for cb in cbs:
                cb.on_train_batch_end(step, logs)
            bar.update(step + 1, logs, finalize=False)
        self._last_bar = bar
        return logs

    def _print_epoch_end(self, logs: dict, verbose: int) -> None:
        if verbose == 1:
            self._last_bar.update(self._last_bar.target, logs, finalize=True)
        else:
            elapsed = time.perf_counter() - self._epoch_start
            print(f"{format_duration(elapsed)} - {format_logs(logs)}", flush=True)

    # ---- evaluate and predict -------------------------------------------------------------------

    def _evaluate_arrays(self, x, y, batch_size: int, verbose: int = 0) -> dict:
        n = _length(x)
        metrics = self._fresh_metrics()
        total, steps = 0.0, -(-n // batch_size)
        bar = ProgressBar(steps, verbose if verbose == 1 else 0)
        if not self.built:
            self._build_from_batch(_take(x, np.arange(min(batch_size, n))))
        for step in range(steps):
            idx = np.arange(step * batch_size, min((step + 1) * batch_size, n))
            loss, y_pred = self.test_step(_take(x, idx), y[idx])
            total += loss * len(idx)
            for m in metrics:
                m.update_state(y[idx], y_pred)
            bar.update(step + 1, {"loss": total / (idx[-1] + 1)})
        logs = {"loss": total / max(n, 1), **{m.name: m.result() for m in metrics}}
        if verbose:
            bar.update(steps, logs, finalize=True)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict: bool = False, **kwargs):
        """Loss (and metrics) over (x, y): a float, a list [loss, *metrics], or a dict."""
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        x, y = _as_array(x), _as_array(y)
        logs = self._evaluate_arrays(x, y, int(batch_size or 32), verbose)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """The model's outputs for x, in batches, as a NumPy array (float32)."""
        verbose = 0 if verbose == "auto" else int(verbose)
        x = _as_array(x)
        n = _length(x)
        batch_size = int(batch_size or 32)
        if not self.built and n:
            self._build_from_batch(_take(x, np.arange(min(batch_size, n))))
        outputs = []
        steps = -(-n // batch_size)
        bar = ProgressBar(steps, verbose if verbose == 1 else 0)
        with no_grad():
            for step in range(steps):
                idx = np.arange(step * batch_size, min((step + 1) * batch_size, n))
                out = self(_take(x, idx), training=False)
                outputs.append([o.numpy(force=True) for o in out] if isinstance(out, (list, tuple)) else out.numpy(force=True))
                bar.update(step + 1, {})
        if verbose:
            bar.update(steps, {}, finalize=True)
        if outputs and isinstance(outputs[0], list):
            return [np.concatenate(parts) for parts in zip(*outputs)]
        return np.concatenate(outputs) if outputs else np.empty((0,), np.float32)
