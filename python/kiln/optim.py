"""Optimizers over flat parameter buffers: SGD, Adam, AdamW, RMSprop.

When an optimizer is built, the parameters of each group move into one contiguous
float32 buffer (each parameter becomes a view into it), and their gradients are
written into a second buffer of the same layout. A step is then ONE kernel call over
the whole group (``kiln.ops.adam_step``), not one per tensor. Parameters whose
gradient is None this step are skipped, as in torch, with one call per parameter.
"""

from __future__ import annotations

import math

import numpy as np

from . import _args, backends, ops
from .autograd import GradBuffer
from .tensor import Tensor


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
            for i in range(len(flat.params)):
                entry = {name: (value[flat.segment(i)].reshape(flat.params[i].shape).copy()
                                if isinstance(value, np.ndarray) and value.shape == flat.data.shape
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
                    if isinstance(target, np.ndarray) and target.shape == flat.data.shape:
                        target[flat.segment(i)] = np.asarray(value).reshape(-1)
                    elif isinstance(target, np.ndarray):  # a count; a file may hold it as shape (1,)
                        target[i] = np.asarray(value).reshape(())


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (as torch)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check_group(self, group):
        super()._check_group(group)
        for name in ("momentum", "weight_decay"):
            group[name] = _hyperparameter("SGD", name, group[name])
        group["dampening"] = _hyperparameter("SGD", "dampening", group["dampening"], maximum=1.0)

    def _init_state(self, flat, group):
        return {"momentum_buffer": flat.zeros(), "steps": np.zeros(len(flat.params), np.int64)}

    def _update(self, group, state, segment, flat, which):
        be = flat.backend
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        d = be.negative(grad) if group["maximize"] else grad
        if group["weight_decay"]:
            d = be.add(d, be.multiply(param, group["weight_decay"]))
        if group["momentum"]:
            buf = be.getitem(state["momentum_buffer"], segment)
            if (state["steps"][which] == 0).all():
                be.copy_into(buf, d)
            else:
                be.copy_into(buf, be.add(be.multiply(buf, group["momentum"]), be.multiply(d, 1 - group["dampening"])))
            d = be.add(d, be.multiply(buf, group["momentum"])) if group["nesterov"] else buf
        be.copy_into(param, be.subtract(param, be.multiply(d, group["lr"])))
        state["steps"][which] += 1


class Adam(Optimizer):
    """Adam (and, with ``decoupled_weight_decay``, AdamW): one ``adam_step`` kernel per group."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        fn = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{fn}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(_hyperparameter(fn, f"betas[{i}]", b, below=1.0) for i, b in enumerate(betas))
        for name in ("eps", "weight_decay"):
            group[name] = _hyperparameter(fn, name, group[name])

    def _init_state(self, flat, group):
        state = {"exp_avg": flat.zeros(), "exp_avg_sq": flat.zeros(),
                 "step": np.zeros(len(flat.params), np.int64)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = flat.zeros()
        return state

    def _update(self, group, state, segment, flat, which):
        counts = state["step"]
        if which is _ALL and flat.lockstep:
            # Python ints and fill(): a ufunc on a 6-element array cost ~8 us in a training step
            # (its code and tables fall out of cache between steps)
            flat.steps += 1
            step = flat.steps
            counts.fill(step)
        else:
            steps = counts[which] + 1
            if (steps != steps[0]).any():  # parameters skipped on earlier steps: update each on its own count
                for i in range(len(flat.params))[which] if which is _ALL else which:
                    self._update(group, state, flat.segment(int(i)), flat, np.array([i]))
                return
            counts[which] = steps
            step = int(steps[0])
            if which is _ALL:
                flat.lockstep, flat.steps = True, step
        b1, b2 = group["betas"]
        amsgrad = group["amsgrad"]
        arrays = (flat.data, flat.grad, state["exp_avg"], state["exp_avg_sq"],
                  state["max_exp_avg_sq"] if amsgrad else None)
        if segment is not _ALL:
            arrays = tuple(None if a is None else flat.backend.getitem(a, segment) for a in arrays)
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq = arrays
        ops.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=group["lr"], beta1=b1, beta2=b2,
                      eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                      amsgrad=amsgrad, max_exp_avg_sq=max_exp_avg_sq, maximize=group["maximize"],
                      backend=flat.backend)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01), as torch.optim.AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _check_group(self, group):
        super()._check_group(group)
        group["alpha"] = _hyperparameter("RMSprop", "alpha", group["alpha"], maximum=1.0)
        for name in ("eps", "weight_decay", "momentum"):
            group[name] = _hyperparameter("RMSprop", name, group[name])

    def _init_state(self, flat, group):
        state = {"square_avg": flat.zeros(), "step": np.zeros(len(flat.params), np.int64)}
        if group["momentum"]:
            state["momentum_buffer"] = flat.zeros()
        if group["centered"]:
            state["grad_avg"] = flat.zeros()
        return state

    def _update(self, group, state, segment, flat, which):
        be = flat.backend
        param, grad = be.getitem(flat.data, segment), be.getitem(flat.grad, segment)
        if group["weight_decay"]:
            grad = be.add(grad, be.multiply(param, group["weight_decay"]))
        alpha = group["alpha"]
        square_avg = be.getitem(state["square_avg"], segment)
        be.copy_into(square_avg, be.add(be.multiply(square_avg, alpha), be.multiply(be.multiply(grad, 1 - alpha), grad)))
        if group["centered"]:
            grad_avg = be.getitem(state["grad_avg"], segment)
            be.copy_into(grad_avg, be.add(be.multiply(grad_avg, alpha), be.multiply(grad, 1 - alpha)))
            denom = be.add(be.sqrt(be.subtract(square_avg, be.multiply(grad_avg, grad_avg))), group["eps"])
        else:
            denom = be.add(be.sqrt(square_avg), group["eps"])
        if group["momentum"]:
            buf = be.getitem(state["momentum_buffer"], segment)
            be.copy_into(buf, be.add(be.multiply(buf, group["momentum"]), be.divide(grad, denom)))
            be.copy_into(param, be.subtract(param, be.multiply(buf, group["lr"])))
        else:
            be.copy_into(param, be.subtract(param, be.divide(be.multiply(grad, group["lr"]), denom)))
        state["step"][which] += 1
