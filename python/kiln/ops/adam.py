"""adam_step: one fused step of torch.optim.Adam / AdamW, in place."""

from __future__ import annotations

import numpy as np

from .. import _args, backends
from . import _arrays
from ._common import _same_shape


def _at_least(fn: str, name: str, value, minimum: float) -> float:
    value = _args.real(fn, name, value)
    if not value >= minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum}, got {value}")
    return value


def _beta(fn: str, name: str, value) -> float:
    value = _args.real(fn, name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{fn}: {name} must be in [0, 1), got {value}")
    return value


def _hyper(fn, step, lr, beta1, beta2, eps, weight_decay) -> tuple:
    return (_args.integer(fn, "step", step, minimum=1), _at_least(fn, "lr", lr, 0.0), _beta(fn, "beta1", beta1),
            _beta(fn, "beta2", beta2), _at_least(fn, "eps", eps, 0.0),
            _at_least(fn, "weight_decay", weight_decay, 0.0))


def _plain_hyper(step, lr, beta1, beta2, eps, weight_decay) -> bool:
    """Python numbers in range (the optimizers' case): nothing to parse or refuse."""
    return (type(step) is int and step >= 1 and type(lr) is float and lr >= 0.0 and type(beta1) is float
            and 0.0 <= beta1 < 1.0 and type(beta2) is float and 0.0 <= beta2 < 1.0 and type(eps) is float
            and eps >= 0.0 and type(weight_decay) is float and weight_decay >= 0.0)


def _all_float32_arrays(*arrays) -> bool:
    for a in arrays:
        if a is not None and (type(a) is not np.ndarray or a.dtype != _F32):
            return False
    return True


_F32 = np.dtype(np.float32)


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None,
              maximize=False, backend=None) -> None:
    """One step of torch.optim.Adam (AdamW with ``decoupled=True``), in place, one pass.

    Args:
        param, exp_avg, exp_avg_sq: one shape, any; updated in place, so never copied:
            on the native path float32, C-contiguous and writeable, else refused. float64
            state runs on the reference backend when no backend is named (or the device's
            backend object is given, as optimizers do).
        grad: param's shape, float32 or float64 (converted for the native path).
        step: the 1-based step count including this step (torch's state["step"]).
        lr, beta1, beta2, eps, weight_decay: as torch; weight decay is added to the
            gradient (Adam) or applied as param *= 1 - lr * weight_decay (decoupled).
        amsgrad: keep max_exp_avg_sq (param's shape, updated in place) and use it.
        maximize: ascend instead of descend.
    """
    fn = "adam_step"
    be = backends.select(backend, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    if not amsgrad:
        max_exp_avg_sq = None
    if (be.checks_arguments and _all_float32_arrays(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
            and _plain_hyper(step, lr, beta1, beta2, eps, weight_decay)):
        # An optimizer's step over its flat buffers: the backend checks shapes, layouts,
        # writeability and overlap itself, and the scalars are plain and in range.
        be.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                     bool(decoupled), bool(amsgrad), bool(maximize))
        return
    if not isinstance(backend, str) and be.float32_only and getattr(param, "dtype", None) == np.float64:
        # float64 state is updated in place, never converted: on the reference backend of the
        # device, unless a backend was named
        be = backends.reference_for(be)
    on_native = be.float32_only
    param = _arrays.inplace_array(fn, "param", param, None, native=on_native)
    grad = _arrays.float_array(fn, "grad", grad)
    _same_shape(fn, "grad", grad, "param", param)
    exp_avg = _arrays.inplace_array(fn, "exp_avg", exp_avg, param.shape, native=on_native)
    exp_avg_sq = _arrays.inplace_array(fn, "exp_avg_sq", exp_avg_sq, param.shape, native=on_native)
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError(f"{fn}: amsgrad=True needs max_exp_avg_sq")
        max_exp_avg_sq = _arrays.inplace_array(fn, "max_exp_avg_sq", max_exp_avg_sq, param.shape,
                                             native=on_native)
    step, lr, beta1, beta2, eps, weight_decay = _hyper(fn, step, lr, beta1, beta2, eps, weight_decay)
    _arrays.disjoint(fn, {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                        "max_exp_avg_sq": max_exp_avg_sq})
    be.adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay,
                 bool(decoupled), bool(amsgrad), bool(maximize))
