"""nn.Conv2d, nn.Conv1d (on conv2d), nn.ConvTranspose2d and nn.ConvTranspose1d (on conv_transpose2d)."""

from __future__ import annotations

import math

import numpy as np

from .. import _args
from . import functional as F
from . import init
from .module import Module, Parameter


class Conv2d(Module):
    """x (N, C, H, W) -> (N, K, OH, OW); weight (K, C/groups, R, S), bias (K,), as torch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32):
        super().__init__()
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode={padding_mode!r}; kiln pads with zeros")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _args.pair("Conv2d", "kernel_size", kernel_size, minimum=1)
        self.stride = _args.pair("Conv2d", "stride", stride, minimum=1)
        self.dilation = _args.pair("Conv2d", "dilation", dilation, minimum=1)
        self.padding = padding if isinstance(padding, str) else _args.pair("Conv2d", "padding", padding, minimum=0)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + self.kernel_size, dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


# ---- conv/pool breadth: Conv1d, ConvTranspose2d, ConvTranspose1d ----------------------------------


def _single(cls: str, name: str, value, minimum: int) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{cls}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return _args.integer(cls, name, value, minimum=minimum)


class _ConvNd(Module):
    """Shared by the 1-D and transposed convolutions: parameters, torch's init, checks."""

    def __init__(self, name, in_channels, out_channels, kernel, weight_shape, bias, groups, padding_mode, dtype,
                 geometry: dict):
        super().__init__()
        for key, value in geometry.items():  # stride, padding, ...: checked by the subclass
            setattr(self, key, value)
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: padding_mode={padding_mode!r}; kiln pads with zeros")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        self.in_channels, self.out_channels, self.groups, self.kernel_size = in_channels, out_channels, groups, kernel
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty(weight_shape, dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.weight.shape[2:])  # torch's fan_in of the weight
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class Conv1d(_ConvNd):
    """x (N, C, L) -> (N, K, OL); weight (K, C/groups, S), bias (K,), as torch (padding an int,
    'valid' or 'same')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32):
        kernel = (_single("Conv1d", "kernel_size", kernel_size, 1),)
        geometry = dict(stride=(_single("Conv1d", "stride", stride, 1),),
                        dilation=(_single("Conv1d", "dilation", dilation, 1),),
                        padding=padding if isinstance(padding, str) else (_single("Conv1d", "padding", padding, 0),))
        super().__init__("Conv1d", in_channels, out_channels, kernel,
                         (out_channels, in_channels // max(groups, 1)) + kernel, bias, groups, padding_mode, dtype,
                         geometry)

    def forward(self, x):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0], self.groups)


class ConvTranspose2d(_ConvNd):
    """x (N, Cin, H, W) -> (N, Cout, OH, OW), OH = (H-1)*stride - 2*padding + dilation*(R-1) +
    output_padding + 1; weight (Cin, Cout/groups, R, S), bias (Cout,), as torch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", dtype=np.float32):
        name = "ConvTranspose2d"
        kernel = _args.pair(name, "kernel_size", kernel_size, minimum=1)
        geometry = dict(stride=_args.pair(name, "stride", stride, minimum=1),
                        padding=_args.pair(name, "padding", padding, minimum=0),
                        output_padding=_args.pair(name, "output_padding", output_padding, minimum=0),
                        dilation=_args.pair(name, "dilation", dilation, minimum=1))
        super().__init__(name, in_channels, out_channels, kernel,
                         (in_channels, out_channels // max(groups, 1)) + kernel, bias, groups, padding_mode, dtype,
                         geometry)

    def forward(self, x, output_size=None):
        output_padding = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)

    def _output_padding(self, x, output_size):
        """torch's forward(x, output_size): the output_padding that reaches that size."""
        size = tuple(output_size)[-2:]
        spatial = tuple(x.shape[-2:])
        extra = []
        for a in (0, 1):
            smallest = ((spatial[a] - 1) * self.stride[a] - 2 * self.padding[a] +
                        self.dilation[a] * (self.kernel_size[a] - 1) + 1)
            if not smallest <= size[a] < smallest + self.stride[a]:
                raise ValueError(f"ConvTranspose2d: output_size {tuple(output_size)} is not reachable from input "
                                 f"{tuple(x.shape)}: each side must lie in [{smallest}, "
                                 f"{smallest + self.stride[a] - 1}]")
            extra.append(size[a] - smallest)
        return tuple(extra)


class ConvTranspose1d(_ConvNd):
    """x (N, Cin, L) -> (N, Cout, OL); weight (Cin, Cout/groups, K), bias (Cout,), as torch."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", dtype=np.float32):
        name = "ConvTranspose1d"
        kernel = (_single(name, "kernel_size", kernel_size, 1),)
        geometry = dict(stride=(_single(name, "stride", stride, 1),), padding=(_single(name, "padding", padding, 0),),
                        output_padding=(_single(name, "output_padding", output_padding, 0),),
                        dilation=(_single(name, "dilation", dilation, 1),))
        super().__init__(name, in_channels, out_channels, kernel,
                         (in_channels, out_channels // max(groups, 1)) + kernel, bias, groups, padding_mode, dtype,
                         geometry)

    def forward(self, x):
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride[0], self.padding[0],
                                  self.output_padding[0], self.groups, self.dilation[0])
