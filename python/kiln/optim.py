"""Optimizers over flat parameter buffers: SGD, Adam, AdamW.

When an optimizer is built, the parameters of each group move into one contiguous
float32 buffer (each parameter becomes a view into it), and their gradients are
written into a second buffer of the same layout. A step is then ONE kernel call over
the whole group (``kiln.ops.adam_step``), not one per tensor. Parameters whose
gradient is None this step are skipped, as in torch, with one call per parameter.
"""

from __future__ import annotations

import numpy as np

from . import _backend, _direct
from ._backend import current_backend
from .tensor import Tensor


class _FlatGroup:
    """The parameters of one group packed into one buffer, gradients into another."""

    def __init__(self, params: list[Tensor]):
        dtypes = {p._array.dtype for p in params}
        if len(dtypes) > 1:
            raise ValueError(f"optimizer: a parameter group mixes dtypes {sorted(map(str, dtypes))}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        sizes = [p._array.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.params = params
        self.data = np.empty(int(self.offsets[-1]), dtype)
        self.grad = np.zeros_like(self.data)
        self.views = []
        # Every parameter has had the same number of steps (none skipped for want of a
        # gradient): the step count is then one number, no per-parameter bookkeeping.
        self.lockstep = True
        self.steps = 0  # the common count while lockstep
        self.everyone = list(range(len(params)))
        # float32 buffers on the cpu backend go straight to the kernel (see Adam._update)
        self.native = dtype == np.float32
        for p, start, end in zip(params, self.offsets[:-1], self.offsets[1:]):
            view = self.data[start:end].reshape(p.shape)
            view[...] = p._array
            grad_view = self.grad[start:end].reshape(p.shape)
            if p.grad is not None:
                grad_view[...] = p.grad._array
                p.grad = Tensor._wrap(grad_view)
            p._array = view
            p._grad_buffer = grad_view
            p._grad_tensor = Tensor._wrap(grad_view)  # what the native tape sets .grad to
            self.views.append(view)

    def segment(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def collect_grads(self) -> list[int]:
        """Make sure every gradient sits in the flat buffer; return the parameters that have one."""
        for p, view in zip(self.params, self.views):
            if p._array is not view:
                raise RuntimeError("optimizer: a parameter's storage was replaced after the optimizer was "
                                   "built (e.g. by model.to(dtype)); build the optimizer afterwards")
            if p.grad is not p._grad_tensor:  # not what the native tape leaves: look closer
                break
        else:
            return self.everyone
        have = []
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:
                continue
            if grad._array is not p._grad_buffer:
                p._grad_buffer[...] = grad._array
                p.grad = Tensor._wrap(p._grad_buffer)
            have.append(i)
        return have


_ALL = slice(None)  # every parameter of a group: the whole flat buffer


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
        if group["lr"] < 0:
            raise ValueError(f"invalid learning rate {group['lr']}")

    def _init_state(self, flat: _FlatGroup, group: dict) -> dict:
        return {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for flat in self._flat:
            if set_to_none:
                for p in flat.params:
                    p.grad = None
            else:
                flat.grad[...] = 0
                for p in flat.params:
                    p.grad = Tensor._wrap(p._grad_buffer)

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
                    elif isinstance(target, np.ndarray):
                        target[i] = value


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (as torch)."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _init_state(self, flat, group):
        return {"momentum_buffer": np.zeros_like(flat.data), "steps": np.zeros(len(flat.params), np.int64)}

    def _update(self, group, state, segment, flat, which):
        param, grad = flat.data[segment], flat.grad[segment]
        d = -grad if group["maximize"] else grad.copy()
        if group["weight_decay"]:
            d += group["weight_decay"] * param
        if group["momentum"]:
            buf = state["momentum_buffer"][segment]
            first = state["steps"][which] == 0
            if first.all():
                buf[...] = d
            else:
                buf *= group["momentum"]
                buf += (1 - group["dampening"]) * d
            d = d + group["momentum"] * buf if group["nesterov"] else buf
        param -= group["lr"] * d
        state["steps"][which] += 1


class Adam(Optimizer):
    """Adam (and, with ``decoupled_weight_decay``, AdamW): one ``adam_step`` kernel per group."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        b1, b2 = group["betas"]
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"invalid betas {group['betas']}")
        if group["eps"] < 0:
            raise ValueError(f"invalid eps {group['eps']}")

    def _init_state(self, flat, group):
        state = {"exp_avg": np.zeros_like(flat.data), "exp_avg_sq": np.zeros_like(flat.data),
                 "step": np.zeros(len(flat.params), np.int64)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(flat.data)
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
        if segment is _ALL:
            buffers = (flat.data, flat.grad, state["exp_avg"], state["exp_avg_sq"],
                       state["max_exp_avg_sq"] if amsgrad else None)
            if flat.native and current_backend() == "cpu":  # the buffers are float32 and contiguous
                _backend._C.adam_step(*buffers, step, group["lr"], b1, b2, group["eps"], group["weight_decay"],
                                      group["decoupled_weight_decay"], amsgrad, group["maximize"])
                return
        else:
            buffers = (flat.data[segment], flat.grad[segment], state["exp_avg"][segment],
                       state["exp_avg_sq"][segment], state["max_exp_avg_sq"][segment] if amsgrad else None)
        _direct.adam_step(*buffers, step=step, lr=group["lr"], beta1=b1, beta2=b2, eps=group["eps"],
                          weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
                          amsgrad=amsgrad, maximize=group["maximize"], backend=_optimizer_backend(flat.data))


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01), as torch.optim.AdamW."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)


def _optimizer_backend(data: np.ndarray) -> str:
    """float64 parameters (gradient checks) stay on the NumPy path; float32 on the fastest."""
    return "numpy" if data.dtype == np.float64 else current_backend()


class RMSprop(Optimizer):
    """RMSprop as torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _init_state(self, flat, group):
        state = {"square_avg": np.zeros_like(flat.data), "step": np.zeros(len(flat.params), np.int64)}
        if group["momentum"]:
            state["momentum_buffer"] = np.zeros_like(flat.data)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(flat.data)
        return state

    def _update(self, group, state, segment, flat, which):
        param, grad = flat.data[segment], flat.grad[segment]
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param
        alpha = group["alpha"]
        square_avg = state["square_avg"][segment]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"][segment]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * grad
            denom = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            denom = np.sqrt(square_avg) + group["eps"]
        if group["momentum"]:
            buf = state["momentum_buffer"][segment]
            buf *= group["momentum"]
            buf += grad / denom
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * grad / denom
        state["step"][which] += 1
