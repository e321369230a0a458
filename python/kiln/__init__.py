"""kiln: a compiled numerical core for neural networks.

C++ kernels (GEMM, conv2d, LSTM, Adam, and the small kernels a training step needs)
under a thin Python layer:

- ``kiln.Tensor`` and the torch namespace's functions (``kiln.zeros``, ``kiln.cat`` ...);
- ``kiln.nn``, ``kiln.optim``, ``kiln.utils``: models in the PyTorch idiom;
- ``kiln.keras``: the same layers in the Keras idiom (``Sequential``, ``compile``, ``fit``);
- ``kiln.ops``: the kernel API over arrays, one function per kernel;
- ``kiln.reference``: the NumPy reference path every kernel is tested against;
- ``kiln.backends``: the table from where data lives to what runs it.

``import kiln as torch`` and ``import kiln as tf`` both work: ``torch.nn.Linear``,
``tf.keras.Sequential``. The idioms' packages load on first use, so ``import kiln`` is quick.
"""

import importlib

from . import backends, ops, reference
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backends import (available_backends, cpu_isa, current_backend, default_backend, get_num_threads,
                       set_num_threads, use_backend)
from .dtypes import bool_, double, float, float16, float32, float64, int32, int64, long
from .factories import eye, logspace, randint_like
from .factories import (arange, as_tensor, from_numpy, full, full_like, is_tensor, linspace, ones, ones_like, rand,
                        multinomial, rand_like, randint, randn, randn_like, randperm, tensor, zeros, zeros_like,
                        set_default_device, get_default_device)
from .io import load, save
from .random import manual_seed
from .tensor import Tensor, device
from .tensor_ops.conversions import from_dlpack
from .tensor_ops.shapes import narrow as narrow
from .tensor_ops import (abs, add, all, any, argmax, argmin, bmm, cat, ceil, chunk, clamp, cos, div, exp, flatten, flip,
                         floor, gather, index_select, isfinite, isinf, isnan, log, masked_fill, matmul, max, maximum,
                         mean, min, minimum, mm, mul, permute, reshape, rsqrt, sign, sin, split, sqrt, square, squeeze,
                         stack, std, sub, sum, topk, transpose, norm, tril, triu, unsqueeze, var, where)
from .tensor_ops import (allclose, argsort, argwhere, cumprod, cumsum, diag, isclose, neg, nonzero, outer, pow, roll,
                         scatter, scatter_add, sort, unbind, unique)

__version__ = "0.1.0"

concatenate = cat
inference_mode = no_grad  # no graph is recorded either way; kiln has no separate inference tensors
bool = bool_  # noqa: A001 (torch's name: kiln.bool is the dtype)


def numel(t) -> int:
    return as_tensor(t).numel()

# Loaded on first use (PEP 562): the idioms' packages, and the functions torch keeps at its top level.
_SUBMODULES = ("keras", "nn", "optim", "utils", "profiler", "bench", "cuda", "accelerator",
               "distributed")  # data-parallel training over MPI
_FROM_FUNCTIONAL = ("relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FROM_FUNCTIONAL:
        return getattr(importlib.import_module(".nn.functional", __name__), name)
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_FROM_FUNCTIONAL))


__all__ = [
    "ops", "reference", "backends", "nn", "optim", "utils", "keras", "profiler",
    "available_backends", "default_backend", "current_backend", "use_backend", "cpu_isa",
    "get_num_threads", "set_num_threads", "save", "load", "device",
    "Tensor", "tensor", "from_numpy", "from_dlpack", "cuda", "accelerator", "as_tensor", "zeros", "ones", "full",
    "zeros_like", "ones_like", "arange", "linspace", "full_like", "randn", "rand", "randn_like", "rand_like",
    "randint", "randperm", "multinomial", "manual_seed", "set_default_device", "get_default_device",
    "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
    "matmul", "cat", "concatenate", "stack", "argmax", "argmin", "where", "sum", "mean", "max", "min", "exp",
    "log", "sqrt", "abs", "clamp", "sin", "cos", "add", "sub", "mul", "div", "mm", "bmm", "gather", "index_select",
    "masked_fill", "maximum", "minimum", "square", "rsqrt", "floor", "ceil", "sign", "isnan", "isinf", "isfinite",
    "any", "all", "var", "std", "norm", "tril", "triu", "split", "chunk", "flip", "topk",
    "flatten", "reshape", "permute", "transpose", "squeeze", "unsqueeze",
    "is_tensor", "relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax",
    "float32", "float64", "float16", "int32", "int64", "long", "bool_", "float", "double",
    "eye", "logspace", "randint_like", "allclose", "isclose", "argsort", "argwhere", "cumprod", "cumsum", "diag",
    "neg", "nonzero", "outer", "pow", "roll", "scatter", "scatter_add", "sort", "unbind", "unique", "numel",
    "inference_mode", "bool",
]

# Data-parallel (kiln.distributed): under mpiexec/srun with several ranks on this node, each rank's
# kernels use cores / local ranks threads from the first op (OMP_NUM_THREADS wins); alone, nothing.
importlib.import_module(".distributed", __name__).default_threads()
