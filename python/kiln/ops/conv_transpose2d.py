"""conv_transpose2d and conv_transpose2d_backward, as torch.nn.functional.conv_transpose2d.

x is (N, Cin, H, W), weight (Cin, Cout/groups, R, S); stride, padding, output_padding and
dilation are an int or an (h, w) pair. Every argument is checked here, so every backend
refuses the same inputs the same way. The kernels are conv2d's input and weight gradients
(kiln.reference.conv_transpose2d says how).
"""

from __future__ import annotations

from .. import _args, backends
from . import _arrays
from ..reference import conv_transpose2d_output_size
from ._common import _batch_of_images, _check_elements


def _conv_transpose2d_args(fn, x, weight, stride, padding, output_padding, dilation, groups):
    """Checked (x, weight, stride, padding, output_padding, dilation, groups, output shape)."""
    x = _batch_of_images(fn, "x", x)
    weight = _arrays.float_array(fn, "weight", weight)
    if weight.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (Cin, Cout/groups, R, S), got shape {weight.shape}")
    stride = _args.pair(fn, "stride", stride, minimum=1, maximum=_args.MAX_ELEMENTS)
    padding = _args.pair(fn, "padding", padding, minimum=0, maximum=_args.MAX_ELEMENTS)
    output_padding = _args.pair(fn, "output_padding", output_padding, minimum=0, maximum=_args.MAX_ELEMENTS)
    dilation = _args.pair(fn, "dilation", dilation, minimum=1, maximum=_args.MAX_ELEMENTS)
    groups = _args.integer(fn, "groups", groups, minimum=1)
    n, cin, h, w = x.shape
    wc, coutg, r, s = weight.shape
    if wc != cin:
        raise ValueError(f"{fn}: weight {weight.shape} has {wc} input channels, x {x.shape} has {cin}")
    if cin % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels of x {x.shape}")
    if h < 1 or w < 1:
        raise ValueError(f"{fn}: the planes of x {x.shape} must not be empty")
    if r < 1 or s < 1 or coutg < 1:
        raise ValueError(f"{fn}: weight {weight.shape} must have at least one output channel and a 1x1 kernel")
    # torch also takes output_padding < dilation; kiln's kernels need it below the stride
    # (output rows past that would read no input: use padding or a larger stride).
    if output_padding[0] >= stride[0] or output_padding[1] >= stride[1]:
        raise ValueError(f"{fn}: output_padding {output_padding} must be smaller than stride {stride}")
    out_hw = tuple(conv_transpose2d_output_size((h, w)[a], (r, s)[a], stride[a], padding[a], output_padding[a],
                                                dilation[a]) for a in (0, 1))
    if min(out_hw) < 1:
        raise ValueError(f"{fn}: the output size {out_hw} of x {x.shape} and weight {weight.shape} with stride "
                         f"{stride}, padding {padding}, output_padding {output_padding}, dilation {dilation} "
                         "must be positive")
    out_shape = (n, coutg * groups) + out_hw
    _check_elements(fn, "x", x.shape)
    _check_elements(fn, "weight", weight.shape)
    _check_elements(fn, "the output", out_shape)
    return x, weight, stride, padding, output_padding, dilation, groups, out_shape


def conv_transpose2d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                     backend=None):
    """torch.nn.functional.conv_transpose2d.

    Args:
        x: (N, Cin, H, W).
        weight: (Cin, Cout/groups, R, S).
        bias: (Cout,) or None.
        stride, padding, output_padding (< stride), dilation: int or (h, w); groups divides Cin.
    Returns:
        (N, Cout, OH, OW), OH = (H - 1)*stride_h - 2*padding_h + dilation_h*(R - 1) + output_padding_h + 1.
    """
    fn = "conv_transpose2d"
    be = backends.select(backend, x, weight, bias)
    x, weight, stride, padding, output_padding, dilation, groups, out_shape = _conv_transpose2d_args(
        fn, x, weight, stride, padding, output_padding, dilation, groups)
    bias = _arrays.optional_float_array(fn, "bias", bias)
    if bias is not None and bias.shape != (out_shape[1],):
        raise ValueError(f"{fn}: bias must have shape ({out_shape[1]},), got {bias.shape}")
    return be.conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation, groups, out_shape)


def conv_transpose2d_backward(x, weight, grad_y, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                              input_grad=True, weight_grad=True, bias_grad=True, backend=None):
    """Gradients of conv_transpose2d.

    Args:
        x: (N, Cin, H, W); weight: (Cin, Cout/groups, R, S); grad_y: (N, Cout, OH, OW).
        stride, padding, output_padding, dilation, groups: as given to conv_transpose2d.
        input_grad, weight_grad, bias_grad: which gradients to compute.
    Returns:
        (grad_x (N, Cin, H, W), grad_weight (Cin, Cout/groups, R, S), grad_bias (Cout,)), each
        None when not asked for.
    """
    fn = "conv_transpose2d_backward"
    be = backends.select(backend, x, weight, grad_y)
    x, weight, stride, padding, output_padding, dilation, groups, out_shape = _conv_transpose2d_args(
        fn, x, weight, stride, padding, output_padding, dilation, groups)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    if tuple(grad_y.shape) != out_shape:
        raise ValueError(f"{fn}: grad_y must have shape {out_shape} (the output of x {x.shape} and weight "
                         f"{weight.shape}), got {grad_y.shape}")
    return be.conv_transpose2d_backward(x, weight, grad_y, stride, padding, dilation, groups, bool(input_grad),
                                        bool(weight_grad), bool(bias_grad))
