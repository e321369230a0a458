"""adam_step: one fused step of torch.optim.Adam / AdamW, in place."""

from __future__ import annotations

from .. import _args, reference
from .._backend import native, resolve
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


def adam_step(param, grad, exp_avg, exp_avg_sq, *, step, lr, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None,
              maximize=False, backend=None) -> None:
    """One step of torch.optim.Adam (AdamW with ``decoupled=True``), in place, one pass.

    Args:
        param, exp_avg, exp_avg_sq: one shape, any; updated in place, so never copied:
            on the native path float32, C-contiguous and writeable, else refused.
        grad: param's shape, float32 or float64 (converted for the native path).
        step: the 1-based step count including this step (torch's state["step"]).
        lr, beta1, beta2, eps, weight_decay: as torch; weight decay is added to the
            gradient (Adam) or applied as param *= 1 - lr * weight_decay (decoupled).
        amsgrad: keep max_exp_avg_sq (param's shape, updated in place) and use it.
        maximize: ascend instead of descend.
    """
    fn = "adam_step"
    backend = resolve(backend)
    on_native = backend != "numpy"
    param = _args.inplace_array(fn, "param", param, None, native=on_native)
    grad = _args.float_array(fn, "grad", grad)
    _same_shape(fn, "grad", grad, "param", param)
    exp_avg = _args.inplace_array(fn, "exp_avg", exp_avg, param.shape, native=on_native)
    exp_avg_sq = _args.inplace_array(fn, "exp_avg_sq", exp_avg_sq, param.shape, native=on_native)
    if amsgrad:
        if max_exp_avg_sq is None:
            raise ValueError(f"{fn}: amsgrad=True needs max_exp_avg_sq")
        max_exp_avg_sq = _args.inplace_array(fn, "max_exp_avg_sq", max_exp_avg_sq, param.shape,
                                             native=on_native)
    else:
        max_exp_avg_sq = None
    step = _args.integer(fn, "step", step, minimum=1)
    lr = _at_least(fn, "lr", lr, 0.0)
    beta1 = _beta(fn, "beta1", beta1)
    beta2 = _beta(fn, "beta2", beta2)
    eps = _at_least(fn, "eps", eps, 0.0)
    weight_decay = _at_least(fn, "weight_decay", weight_decay, 0.0)
    _args.disjoint(fn, {"param": param, "grad": grad, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                        "max_exp_avg_sq": max_exp_avg_sq})
    flags = {"decoupled": bool(decoupled), "amsgrad": bool(amsgrad), "maximize": bool(maximize)}
    if backend == "numpy":
        reference.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1,
                            beta2=beta2, eps=eps, weight_decay=weight_decay,
                            max_exp_avg_sq=max_exp_avg_sq, **flags)
        return
    native().adam_step(param, _args.native_input(grad), exp_avg, exp_avg_sq, max_exp_avg_sq, step,
                       lr, beta1, beta2, eps, weight_decay, **flags)
