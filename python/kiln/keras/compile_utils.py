"""compile() for a model with several outputs: one loss, loss weight and metric list per output.

As Keras 3's ``CompileLoss`` / ``CompileMetrics`` (keras/src/trainers/compile_utils.py):

- ``loss``: one loss (used for every output), a list (one per output, in the model's output
  order) or a dict keyed by output name (an output it leaves out has no loss);
- ``loss_weights``: None (all 1), a list or a dict keyed by output name;
- ``metrics`` / ``weighted_metrics``: a list of lists (one list per output), a flat list as long
  as the outputs (one metric per output), or a dict {output name: metric or list};
- the total loss is sum(loss_weight * loss of the output); the logs hold "loss" (the total),
  "{output}_loss" (each output's loss, before its weight) and "{output}_{metric}" (a name met
  twice gets _1, _2, ...), in sorted order, as Keras's ``pythonify_logs`` sorts them.

An output's name is its key when the model's outputs are a dict, else the name of the layer that
makes it.
"""

from __future__ import annotations

from . import losses as keras_losses
from . import metrics as keras_metrics


def _per_output(what: str, spec, names: list[str], default, allow_flat: bool = True) -> list:
    """``spec`` (one value, list or dict) as one entry per output (``default`` where missing)."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names {unknown}, which are not outputs of the model "
                             f"(its outputs: {names})")
        return [spec.get(name, default) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"compile: {what} must hold one entry per output ({len(names)}: {names}), "
                             f"got {len(spec)}")
        return list(spec)
    if not allow_flat:
        raise ValueError(f"compile: {what} must be a list or a dict keyed by output name ({names}), got {spec!r}")
    return [spec] * len(names)


def _metric_lists(what: str, spec, names: list[str]) -> list[list]:
    if spec is None:
        return [[] for _ in names]
    if isinstance(spec, (list, tuple)) and len(spec) != len(names) and not any(
            isinstance(s, (list, tuple)) for s in spec):
        raise ValueError(f"compile: {what} for a model with {len(names)} outputs ({names}) must be a list of one "
                         f"list per output, or a dict keyed by output name; got {list(spec)!r}")
    per = _per_output(what, spec, names, None, allow_flat=False)
    return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in per]


class CompiledOutputs:
    """The losses, loss weights and metrics of each output, and their running means."""

    def __init__(self, names: list[str], loss, loss_weights=None, metrics=None, weighted_metrics=None):
        self.names = list(names)
        losses = _per_output("loss", loss, self.names, None)
        self.losses = [None if spec is None else keras_losses.get(spec) for spec in losses]
        if all(loss is None for loss in self.losses):
            raise ValueError("compile: the loss gives no output a loss")
        weights = [1.0] * len(self.names) if loss_weights is None else \
            _per_output("loss_weights", loss_weights, self.names, 1.0, allow_flat=False)
        self.loss_weights = [float(w) for w in weights]
        self.metric_specs = _metric_lists("metrics", metrics, self.names)
        self.weighted_specs = _metric_lists("weighted_metrics", weighted_metrics, self.names)
        self.metrics = [[keras_metrics.get(m, loss) for m in specs]
                        for specs, loss in zip(self.metric_specs, self.losses)]
        self.weighted = [[keras_metrics.get(m, loss) for m in specs]
                         for specs, loss in zip(self.weighted_specs, self.losses)]
        self.total_tracker = keras_metrics.Mean(name="loss")
        self.trackers = [None if loss is None else keras_metrics.Mean(name=f"{name}_loss")
                         for name, loss in zip(self.names, self.losses)]
        self.last_losses: list = [None] * len(self.names)

    def all_metrics(self) -> list:
        return [self.total_tracker, *[t for t in self.trackers if t is not None],
                *[m for ms in self.metrics for m in ms], *[m for ms in self.weighted for m in ms]]

    def total(self, y_true: list, y_pred: list, sample_weight=None):
        """sum(weight * loss) over the outputs with a loss (a scalar Tensor); each output's loss is
        kept (as a float) for its running mean. y_true, y_pred, sample_weight: one entry per output."""
        total = None
        weights = sample_weight if sample_weight is not None else [None] * len(self.names)
        for i, (loss, weight) in enumerate(zip(self.losses, self.loss_weights)):
            if loss is None:
                self.last_losses[i] = None
                continue
            if y_true[i] is None:
                raise ValueError(f"the output {self.names[i]!r} has a loss and no target in y")
            value = loss(y_true[i], y_pred[i]) if weights[i] is None else loss(y_true[i], y_pred[i], weights[i])
            self.last_losses[i] = float(value.item())
            term = value if weight == 1.0 else value * weight
            total = term if total is None else total + term
        return total

    def update(self, y_true: list, y_pred: list, loss: float, batch: int, sample_weight=None) -> None:
        self.total_tracker.update_state(loss, sample_weight=batch)
        weights = sample_weight if sample_weight is not None else [None] * len(self.names)
        for i, tracker in enumerate(self.trackers):
            if tracker is not None and self.last_losses[i] is not None:
                tracker.update_state(self.last_losses[i], sample_weight=batch)
            if y_true[i] is None:
                continue
            for m in self.metrics[i]:
                m.update_state(y_true[i], y_pred[i])
            for m in self.weighted[i]:
                m.update_state(y_true[i], y_pred[i], sample_weight=weights[i])

    def logs(self) -> dict:
        logs = {"loss": self.total_tracker.result()}
        for tracker in self.trackers:
            if tracker is not None:
                logs[tracker.name] = tracker.result()
        seen: dict[str, int] = {}
        for i, name in enumerate(self.names):
            for m in [*self.metrics[i], *self.weighted[i]]:
                key = f"{name}_{m.name}"
                if key in logs:
                    seen[key] = seen.get(key, 0) + 1
                    key = f"{key}_{seen[key]}"
                logs[key] = m.result()
        return dict(sorted(logs.items()))

    def ordered(self, logs: dict) -> list:
        """evaluate()'s list, in Keras's order: the loss, each output's loss, then the rest sorted."""
        first = ["loss"] + [t.name for t in self.trackers if t is not None]
        return [logs[k] for k in first] + [logs[k] for k in sorted(logs) if k not in first]

    def serialize(self) -> dict:
        return {"names": self.names,
                "losses": [None if loss is None else keras_losses.serialize(loss) for loss in self.losses],
                "loss_weights": self.loss_weights,
                "metrics": [[keras_metrics.serialize(m) for m in specs] for specs in self.metric_specs],
                "weighted_metrics": [[keras_metrics.serialize(m) for m in specs] for specs in self.weighted_specs]}


def deserialize(config: dict) -> dict:
    """compile()'s keyword arguments from ``CompiledOutputs.serialize``'s dict (keyed by output name)."""
    names = config["names"]
    return {"loss": {n: keras_losses.deserialize(loss) for n, loss in zip(names, config["losses"]) if loss},
            "loss_weights": dict(zip(names, config["loss_weights"])),
            "metrics": {n: [keras_metrics.deserialize(m) for m in ms if m] for n, ms in zip(names, config["metrics"])},
            "weighted_metrics": {n: [keras_metrics.deserialize(m) for m in ms if m]
                                 for n, ms in zip(names, config["weighted_metrics"])}}
