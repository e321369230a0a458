"""Activations composed from Tensor ops, as torch.nn.functional names them: leaky_relu, elu,
selu, celu, silu, mish, softplus, softsign, relu6, hardtanh, hardsigmoid, hardswish,
logsigmoid. Each is a few elementwise primitives on any device; the tape differentiates them.
(relu, sigmoid, tanh and gelu have kernels of their own: activations.py.)
"""

from __future__ import annotations

from ...tensor import Tensor
from ...tensor_ops import as_tensor, where
from .activations import sigmoid, tanh

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return where(x > 0, x, x * negative_slope)


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return where(x > 0, x, ((x.clamp(max=0.0)).exp() - 1.0) * alpha)  # clamp: no overflow in the branch not taken


def selu(input, inplace: bool = False) -> Tensor:
    return elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return where(x > 0, x, ((x.clamp(max=0.0) / alpha).exp() - 1.0) * alpha)


def silu(input, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return x * sigmoid(x)


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (torch's rule)."""
    x = as_tensor(input)
    bx = x * beta
    # bx + log(1 + exp(-bx)) above 0, log(1 + exp(bx)) below: each branch smooth (the derivative at 0
    # is torch's 1/2) and fed clamped inputs, so the branch not taken never overflows into a NaN gradient
    up, down = bx.clamp(min=0.0), bx.clamp(max=0.0)
    smooth = where(bx > 0, up + ((-up).exp() + 1.0).log(), (down.exp() + 1.0).log())
    return where(bx > threshold, x, smooth / beta)


def mish(input, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return x * tanh(softplus(x))


def softsign(input) -> Tensor:
    x = as_tensor(input)
    return x / (x.abs() + 1.0)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 0 at the bounds themselves, as torch's."""
    x = as_tensor(input)
    low, high = x * 0.0 + min_val, x * 0.0 + max_val
    return where(x <= min_val, low, where(x >= max_val, high, x))


def relu6(input, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace: bool = False) -> Tensor:
    return relu6(as_tensor(input) + 3.0) / 6.0


def hardswish(input, inplace: bool = False) -> Tensor:
    x = as_tensor(input)
    return x * hardsigmoid(x)


def logsigmoid(input) -> Tensor:
    return -softplus(-as_tensor(input))


__all__ = ["celu", "elu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "logsigmoid", "mish", "relu6", "selu",
           "silu", "softplus", "softsign"]
