"""conv2d and conv2d_backward, as torch.nn.functional.conv2d.

x is (N, C, H, W); stride, padding and dilation are an int or an (h, w) pair.
Every argument is checked here, so both backends refuse the same inputs the same way.
"""

from __future__ import annotations

from .. import _args, backends
from . import _arrays
from ..reference import conv2d_output_size
from ._common import _batch_of_images, _check_elements


def _conv2d_args(fn, x, weight, stride, padding, dilation, groups):
    """Checked (x, weight, stride, padding, dilation, groups, output shape)."""
    x = _batch_of_images(fn, "x", x)
    weight = _arrays.float_array(fn, "weight", weight)
    if weight.ndim != 4:
        raise ValueError(f"{fn}: weight must be 4-D (K, C/groups, R, S), got shape {weight.shape}")
    stride = _args.pair(fn, "stride", stride, minimum=1, maximum=_args.MAX_ELEMENTS)
    padding = _args.pair(fn, "padding", padding, minimum=0, maximum=_args.MAX_ELEMENTS)
    dilation = _args.pair(fn, "dilation", dilation, minimum=1, maximum=_args.MAX_ELEMENTS)
    groups = _args.integer(fn, "groups", groups, minimum=1)
    n, c, h, w = x.shape
    k, cg, r, s = weight.shape
    if c % groups or k % groups:
        raise ValueError(f"{fn}: groups={groups} must divide the input channels of x {x.shape} "
                         f"and the output channels of weight {weight.shape}")
    if cg * groups != c:
        raise ValueError(f"{fn}: weight {weight.shape} has {cg} input channels per group, but x "
                         f"{x.shape} with groups={groups} needs {c // groups}")
    if r < 1 or s < 1:
        raise ValueError(f"{fn}: the kernel must be at least 1x1, got weight {weight.shape}")
    span = (dilation[0] * (r - 1) + 1, dilation[1] * (s - 1) + 1)
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(f"{fn}: the dilated kernel {span} of weight {weight.shape} is larger than "
                         f"the padded input {padded} of x {x.shape}")
    out_shape = (n, k) + tuple(conv2d_output_size((h, w)[a], (r, s)[a], stride[a], padding[a],
                                                            dilation[a]) for a in (0, 1))
    _check_elements(fn, "x", x.shape)
    _check_elements(fn, "weight", weight.shape)
    _check_elements(fn, "the output", out_shape)
    return x, weight, stride, padding, dilation, groups, out_shape


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, groups=1,
           backend=None):
    """torch.nn.functional.conv2d.

    Args:
        x: (N, C, H, W).
        weight: (K, C/groups, R, S).
        bias: (K,) or None.
        stride, padding, dilation: int or (h, w); groups divides C and K.
    Returns:
        (N, K, OH, OW), OH = (H + 2*padding_h - dilation_h*(R-1) - 1) // stride_h + 1.
    """
    fn = "conv2d"
    be = backends.select(backend, x, weight, bias)
    x, weight, stride, padding, dilation, groups, out_shape = _conv2d_args(
        fn, x, weight, stride, padding, dilation, groups)
    bias = _arrays.optional_float_array(fn, "bias", bias)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{fn}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return be.conv2d(x, weight, bias, stride, padding, dilation, groups, out_shape)


def conv2d_backward(x, weight, grad_y, *, stride=1, padding=0, dilation=1, groups=1,
                    input_grad=True, weight_grad=True, bias_grad=True, backend=None):
    """Gradients of conv2d.

    Args:
        x: (N, C, H, W); weight: (K, C/groups, R, S); grad_y: (N, K, OH, OW).
        stride, padding, dilation, groups: as given to conv2d.
        input_grad, weight_grad, bias_grad: which gradients to compute.
    Returns:
        (grad_x (N, C, H, W), grad_weight (K, C/groups, R, S), grad_bias (K,)), each None
        when not asked for.
    """
    fn = "conv2d_backward"
    be = backends.select(backend, x, weight, grad_y)
    x, weight, stride, padding, dilation, groups, out_shape = _conv2d_args(
        fn, x, weight, stride, padding, dilation, groups)
    grad_y = _batch_of_images(fn, "grad_y", grad_y)
    if tuple(grad_y.shape) != out_shape:
        raise ValueError(f"{fn}: grad_y must have shape {out_shape} (the output of x {x.shape} and "
                         f"weight {weight.shape}), got {grad_y.shape}")
    return be.conv2d_backward(x, weight, grad_y, stride, padding, dilation, groups, bool(input_grad),
                              bool(weight_grad), bool(bias_grad))
