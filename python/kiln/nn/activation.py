"""Activation modules: ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, and the composed ones
(LeakyReLU, ELU, SiLU, Softplus, ...) made by one factory over nn.functional.pointwise."""

from __future__ import annotations

from . import functional as F
from .module import Module


class ReLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)


def _composed(name: str, fn_name: str, params: tuple = (), doc: str = ""):
    """A module over one of nn.functional.pointwise's activations, with torch's argument names."""
    def __init__(self, *args, inplace: bool = False, **kwargs):
        Module.__init__(self)
        values = dict(zip([p for p, _ in params], args))
        for p, default in params:
            setattr(self, p, kwargs.pop(p, values.get(p, default)))
        if kwargs:
            raise TypeError(f"{name}: unexpected keyword arguments {sorted(kwargs)}")

    def forward(self, x):
        return getattr(F, fn_name)(x, *(getattr(self, p) for p, _ in params))

    def extra_repr(self) -> str:
        return ", ".join(f"{p}={getattr(self, p)}" for p, _ in params)
    return type(name, (Module,), {"__init__": __init__, "forward": forward, "extra_repr": extra_repr,
                                  "__doc__": doc or f"torch.nn.{name}: F.{fn_name} as a module."})


LeakyReLU = _composed("LeakyReLU", "leaky_relu", (("negative_slope", 0.01),))
ELU = _composed("ELU", "elu", (("alpha", 1.0),))
CELU = _composed("CELU", "celu", (("alpha", 1.0),))
SELU = _composed("SELU", "selu")
SiLU = _composed("SiLU", "silu")
Mish = _composed("Mish", "mish")
Softplus = _composed("Softplus", "softplus", (("beta", 1.0), ("threshold", 20.0)))
Softsign = _composed("Softsign", "softsign")
Hardtanh = _composed("Hardtanh", "hardtanh", (("min_val", -1.0), ("max_val", 1.0)))
ReLU6 = _composed("ReLU6", "relu6")
Hardsigmoid = _composed("Hardsigmoid", "hardsigmoid")
Hardswish = _composed("Hardswish", "hardswish")
LogSigmoid = _composed("LogSigmoid", "logsigmoid")
