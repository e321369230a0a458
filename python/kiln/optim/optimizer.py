"""The optimizers' base: parameter groups packed into flat buffers, ``zero_grad``, ``step``, state.

When an optimizer is built, the parameters of each group move into one contiguous
float32 buffer (each parameter becomes a view into it), and their gradients are
written into a second buffer of the same layout. A step is then ONE kernel call over
the whole group (``kiln.ops.adam_step``), not one per tensor. Parameters whose
gradient is None this step are skipped, as in torch, with one call per parameter.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _args, backends, versions
from ..autograd import GradBuffer
from ..tensor import Tensor


class _FlatGroup:
    """The parameters of one group packed into one buffer, their gradients into a GradBuffer."""

    def __init__(self, params: list[Tensor]):
        dtypes = {p.dtype for p in params}
        if len(dtypes) > 1:
            raise ValueError(f"optimizer: a parameter group mixes dtypes {sorted(map(str, dtypes))}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        self.backend = backends.select(None, *[p._array for p in params])
        be = self.backend
        sizes = [p.numel() for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.params = params
        self.data = be.full((int(self.offsets[-1]),), 0, dtype)
        self.grad = be.full((int(self.offsets[-1]),), 0, dtype)
        self.views = []
        grad_views = []
        # Every parameter has had the same number of steps (none skipped for want of a
        # gradient): the step count is then one number, no per-parameter bookkeeping.
        self.lockstep = True
        self.steps = 0  # the common count while lockstep
        self.everyone = list(range(len(params)))
        for p, start, end in zip(params, self.offsets[:-1], self.offsets[1:]):
            view = be.reshape(be.getitem(self.data, slice(int(start), int(end))), p.shape)
            be.copy_into(view, p._array)
            grad = p.grad
            p._array = view
            self.views.append(view)
            grad_views.append(be.reshape(be.getitem(self.grad, slice(int(start), int(end))), p.shape))
            if grad is not None:
                be.copy_into(grad_views[-1], grad._array)
        # The tape writes each parameter's gradient straight into its view of self.grad.
        self.buffer = GradBuffer([p._node for p in params], grad_views)
        for p, grad_view in zip(params, grad_views):
            if p.grad is not None:
                p._node.grad = grad_view

    def zeros(self):
        """A zero array like the flat buffer (optimizer state), on its device."""
        return self.backend.full(self.data.shape, 0, self.data.dtype)

    def segment(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def collect_grads(self) -> list[int]:
        """Make sure every gradient sits in the flat buffer; return the parameters that have one."""
        for p, view in zip(self.params, self.views):
            if p._array is not view:
                raise RuntimeError("optimizer: a parameter's storage was replaced after the optimizer was "
                                   "built (e.g. by model.to(dtype)); build the optimizer afterwards")
        have = self.buffer.collect()
        return self.everyone if have is None else have


def _flat_state(flat: _FlatGroup, value) -> bool:
    """A state entry shaped like the group's flat buffer (moments), as opposed to a count."""
    return backends.is_array(value) and tuple(value.shape) == tuple(flat.data.shape)


_ALL = slice(None)  # every parameter of a group: the whole flat buffer


def _hyperparameter(fn: str, name: str, value, minimum: float = 0.0, maximum: float | None = None,
                    below: float | None = None) -> float:
    """A finite real number >= minimum (and <= maximum, or < below), as a Python float: what an
    optimizer checks when it is made, so that NaN, infinities, bools and negative values are
    refused at construction, not at the first step."""
    value = _args.real(fn, name, value)
    if not (math.isfinite(value) and value >= minimum and (maximum is None or value <= maximum)
            and (below is None or value < below)):
        bound = (f"in [{minimum:g}, {below:g})" if below is not None else
                 f"in [{minimum:g}, {maximum:g}]" if maximum is not None else f">= {minimum:g}")
        raise ValueError(f"{fn}: {name} must be a finite number {bound}, got {value}")
    return value


class Optimizer:
    """Base class: param groups, ``zero_grad()``, ``step()``, ``state_dict()``."""

    def __init__(self, params, defaults: dict):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self._flat: list[_FlatGroup] = []
        seen = set()
        for group in groups:
            group = {**self.defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise ValueError("optimizer: every parameter must be a Tensor with requires_grad=True")
                if id(p) in seen:
                    raise ValueError("optimizer: a parameter appears in more than one group")
                seen.add(id(p))
            self._check_group(group)
            self.param_groups.append(group)
            self._flat.append(_FlatGroup(group["params"]))
        self.state: list[dict] = [self._init_state(flat, g) for flat, g in zip(self._flat, self.param_groups)]

    def _check_group(self, group: dict) -> None:
        """Check a group's hyperparameters (each stored back as a float)."""
        group["lr"] = _hyperparameter(type(self).__name__, "lr", group["lr"])

    def _init_state(self, flat: _FlatGroup, group: dict) -> dict:
        return {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for flat in self._flat:
            if set_to_none:
                flat.buffer.clear()
            else:
                flat.buffer.zero()

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group, flat, state in zip(self.param_groups, self._flat, self.state):
            have = flat.collect_grads()
            if not have:
                continue
            if have is flat.everyone or len(have) == len(flat.params):
                self._update(group, state, _ALL, flat, _ALL)
            else:
                flat.lockstep = False
                for i in have:
                    self._update(group, state, flat.segment(i), flat, np.array([i]))
            versions.bump(flat.data)  # the parameters are views of it: caches of them are stale
        return loss

    def _update(self, group: dict, state: dict, segment: slice, flat: _FlatGroup,
                which: "np.ndarray | slice") -> None:
        """Update flat's parameters ``which`` (index array, or _ALL), whose values sit in ``segment``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """As torch: {"state": {index: {name: array}}, "param_groups": [{..., "params": [index]}]}."""
        state, groups, index = {}, [], 0
        for group, flat, st in zip(self.param_groups, self._flat, self.state):
            ids = []
            # Per-parameter state is one flat buffer on the group's device: one copy to the host.
            st = {name: flat.backend.to_numpy(value) if _flat_state(flat, value) else value
                  for name, value in st.items()}
            for i in range(len(flat.params)):
                entry = {name: (value[flat.segment(i)].reshape(flat.params[i].shape).copy()
                                if _flat_state(flat, value)
                                else value[i] if isinstance(value, np.ndarray) else value)
                         for name, value in st.items()}
                if entry:
                    state[index] = entry
                ids.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(groups)} groups, this optimizer {len(self.param_groups)}")
        for group, saved, flat, st in zip(self.param_groups, groups, self._flat, self.state):
            if len(saved["params"]) != len(flat.params):
                raise ValueError("optimizer state: a group's parameter count differs")
            group.update({k: v for k, v in saved.items() if k != "params"})
            flat.lockstep = False  # the next step checks the loaded counts
            for i, index in enumerate(saved["params"]):
                for name, value in state_dict["state"].get(index, {}).items():
                    target = st.get(name)
                    if _flat_state(flat, target):
                        be = flat.backend
                        host = np.asarray(value, dtype=target.dtype).reshape(-1)
                        be.copy_into(be.getitem(target, flat.segment(i)), be.from_numpy(host))
                    elif isinstance(target, np.ndarray):  # a count; a file may hold it as shape (1,)
                        target[i] = np.asarray(value).reshape(())
