"""fit / evaluate / predict under mpiexec: each rank computes its share of every batch.

With world size > 1 (a launcher started several ranks), ``batch_size`` stays the global batch,
as tf.distribute's: every rank forms the same batches (rank 0's shuffle order, broadcast each
epoch), takes its contiguous share of each batch's rows (``np.array_split``: shares differ by
at most one row; a rank may get none of a last short batch), and its backward adds
(its rows / the batch's rows) x its gradient into the sum across ranks (kiln.distributed's
GradientReducer, overlapped with the backward). The sum is the gradient of the whole batch's
mean loss, so training follows one process's on the same batches. Each rank's loss and
predictions are gathered after every batch and every rank updates the metrics with the whole
batch: logs, History, EarlyStopping and the other callbacks see the same numbers everywhere.
"""

from __future__ import annotations

import numpy as np

from .. import distributed
from ..random import generator


# The gradient reducer's figures of the last fit under mpiexec (python -m kiln.bench.distributed reads them).
last_fit_stats: "dict | None" = None


def sharding_for(model) -> "Sharding | None":
    """A Sharding when this process is one of several ranks, else None (training as alone)."""
    distributed.init()
    return Sharding() if distributed.world_size() > 1 else None


def _length(x) -> int:
    return (x[0] if isinstance(x, list) else x).shape[0]


def _rows(x, lo: int, hi: int):
    """Rows [lo, hi) of an array, of each array of a list (several inputs or outputs), None kept."""
    if x is None:
        return None
    if isinstance(x, list):
        return [_rows(v, lo, hi) for v in x]
    return x[lo:hi]


def _concat(parts):
    """The ranks' outputs in rank order (ranks without rows sent None)."""
    parts = [p for p in parts if p is not None]
    if isinstance(parts[0], list):
        return [np.concatenate(ps) for ps in zip(*parts)]
    return np.concatenate(parts)


class Sharding:
    def __init__(self):
        self.comm = distributed._world.comm
        self.rank, self.size = distributed.rank(), distributed.world_size()
        self.reducer = None

    def rows(self, n: int) -> tuple[int, int]:
        """This rank's rows [lo, hi) of a batch of n."""
        base, extra = divmod(n, self.size)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (self.rank < extra)

    # -- fit
    def start_training(self, model) -> None:
        """After the model and its optimizer are built: rank 0's weights everywhere, and the
        gradient hooks on the trainable weights."""
        distributed.broadcast_parameters(model.weights)
        self.reducer = distributed.GradientReducer(model.trainable_weights)

    def end_training(self) -> None:
        global last_fit_stats
        if self.reducer is not None:
            r = self.reducer
            last_fit_stats = {"wait_seconds": r.wait_seconds, "steps": r.steps, "reduced_bytes": r.reduced_bytes,
                              "buckets": len(r.buckets)}
            r.detach()
            self.reducer = None
        distributed.barrier()

    def epoch(self, source):
        """source.epoch() drawn with rank 0's generator (the same batch order on every rank);
        each rank's own random stream (dropout) then goes on as before."""
        g = generator()
        state = self.comm.bcast(g.bit_generator.state if self.rank == 0 else None, root=0)
        if self.rank == 0:
            return source.epoch()
        own = g.bit_generator.state
        g.bit_generator.state = state
        try:
            return source.epoch()
        finally:
            g.bit_generator.state = own

    def train_step(self, model, x, y, w):
        """(loss of the whole batch, predictions of the whole batch) after one step in which
        every rank trained on its rows."""
        n = _length(x)
        lo, hi = self.rows(n)
        self.reducer.scale = (hi - lo) / n
        if hi > lo:
            xs, ys = _rows(x, lo, hi), _rows(y, lo, hi)
            loss, pred = model.train_step(xs, ys) if w is None else model.train_step(xs, ys, _rows(w, lo, hi))
        else:  # no rows here: zeros into the sum, and the same step as everyone
            model.optimizer.zero_grad()
            self.reducer.contribute_zeros()
            model.optimizer.apply()
            loss, pred = 0.0, None
        return self._gather(model, loss, pred, hi - lo, n)

    def test_step(self, model, x, y, w):
        n = _length(x)
        lo, hi = self.rows(n)
        loss, pred = 0.0, None
        if hi > lo:
            xs, ys = _rows(x, lo, hi), _rows(y, lo, hi)
            loss, pred = model.test_step(xs, ys) if w is None else model.test_step(xs, ys, _rows(w, lo, hi))
        return self._gather(model, loss, pred, hi - lo, n)

    def predict(self, model, x):
        lo, hi = self.rows(_length(x))
        pred = None
        if hi > lo:
            out = model(_rows(x, lo, hi), training=False)
            if isinstance(out, dict):  # as predict: the outputs in sorted name order
                out = [out[k] for k in sorted(out)]
            pred = [o.numpy(force=True) for o in out] if isinstance(out, (list, tuple)) else out.numpy(force=True)
        return _concat(self.comm.allgather(pred))

    def _gather(self, model, loss: float, pred, rows: int, n: int):
        """The batch's loss (each rank's mean weighted by its rows), its predictions in rank
        order, and for a model of several outputs each output's loss the same way."""
        outputs = getattr(model, "_compiled_outputs", None)
        per_output = list(outputs.last_losses) if outputs is not None and rows else None
        parts = self.comm.allgather((loss * rows, pred, rows, per_output))
        if outputs is not None:
            for i in range(len(outputs.last_losses)):
                shares = [(p[3][i], p[2]) for p in parts if p[3] is not None and p[3][i] is not None]
                outputs.last_losses[i] = sum(v * r for v, r in shares) / n if shares else None
        return sum(p[0] for p in parts) / n, _concat([p[1] for p in parts])
