"""The reference backend ("numpy"): every kernel in plain NumPy (``kiln.reference``).

Float32 and float64, computing in the wider dtype of the inputs, so gradients can be checked
in float64. It holds the "cpu" device's arrays, as the native backend does, and is chosen
explicitly (``backend="numpy"``, ``kiln.use_backend("numpy")``) or where the native path
cannot take an input (float64 parameters updated in place).
"""

from __future__ import annotations

import numpy as np

from .. import reference
from .host import HostArrays, check_class_targets, check_indices

_GELU_APPROXIMATE = {"gelu": "none", "gelu_tanh": "tanh"}


def _deliver(result: np.ndarray, out):
    """The NumPy result, written into ``out`` when given."""
    if out is None:
        return result
    out[...] = result
    return out


def check_csr_structure(fn: str, indices: np.ndarray, indptr: np.ndarray, k: int) -> None:
    """The checks kiln._C makes of CSR parts, with the same messages."""
    if indptr[0] != 0:
        raise ValueError(f"{fn}: indptr[0] must be 0, got {indptr[0]}")
    falls = np.flatnonzero(np.diff(indptr) < 0)
    if falls.size:
        i = falls[0]
        raise ValueError(f"{fn}: indptr must not decrease, but indptr[{i}] = {indptr[i]} > "
                         f"indptr[{i + 1}] = {indptr[i + 1]}")
    if indptr[-1] != indices.size:
        raise ValueError(f"{fn}: indptr[m] = {indptr[-1]} must equal the number of entries, {indices.size}")
    check_indices(fn, indices, k)


class ReferenceBackend(HostArrays):
    name = "numpy"
    description = "the NumPy reference path"
    float32_only = False

    def matmul(self, a, b, transpose_a, transpose_b, bias, activation, alpha, beta, out):
        result = reference.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b, bias=bias,
                                  activation=activation, alpha=alpha, beta=beta, c=out if beta else None)
        return _deliver(result, out)

    def linear_backward(self, x, w, y, grad_y, weight_is_out_by_in, activation, input_grad, weight_grad,
                        bias_grad):
        return reference.linear_backward(x, w, y, grad_y, weight_is_out_by_in=weight_is_out_by_in,
                                         activation=activation, input_grad=input_grad,
                                         weight_grad=weight_grad, bias_grad=bias_grad)

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups, out_shape):
        return reference.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def conv2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad, weight_grad,
                        bias_grad):
        return reference.conv2d_backward(x, weight, grad_y, stride=stride, padding=padding, dilation=dilation,
                                         groups=groups, input_grad=input_grad, weight_grad=weight_grad,
                                         bias_grad=bias_grad)

    def max_pool2d(self, x, kernel, stride, padding, dilation, ceil_mode, return_indices, out_shape):
        return reference.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, return_indices)

    def max_pool2d_backward(self, grad_y, indices, input_shape):
        plane = input_shape[2] * input_shape[3]
        if indices.size and (indices.min() < 0 or indices.max() >= plane):
            raise ValueError(f"max_pool2d_backward: indices must lie in [0, {plane}) (H * W of input_shape "
                             f"{input_shape}), got values from {indices.min()} to {indices.max()}")
        return reference.max_pool2d_backward(grad_y, indices, input_shape)

    def avg_pool2d(self, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor, out_shape):
        return reference.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor or None)

    def avg_pool2d_backward(self, grad_y, input_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                            divisor):
        return reference.avg_pool2d_backward(grad_y, input_shape, kernel, stride, padding, ceil_mode,
                                             count_include_pad, divisor or None)

    def lstm_cell(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        return reference.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)

    def lstm_cell_backward(self, grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new):
        return reference.lstm_cell_backward(grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new)

    def lstm_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        return reference.lstm_sequence(x, w_ih, w_hh, b_ih, b_hh, h0, c0)

    def lstm_sequence_backward(self, grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells):
        return reference.lstm_sequence_backward(grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates,
                                                cells)

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad, maximize):
        reference.adam_step(param, grad, exp_avg, exp_avg_sq, step=step, lr=lr, beta1=beta1, beta2=beta2,
                            eps=eps, weight_decay=weight_decay, decoupled=decoupled, amsgrad=amsgrad,
                            max_exp_avg_sq=max_exp_avg_sq, maximize=maximize)

    def embedding(self, indices, weight, padding_idx):
        check_indices("embedding", indices, weight.shape[0])
        return reference.embedding(indices, weight, padding_idx)

    def embedding_backward(self, indices, grad_out, num_embeddings, padding_idx):
        check_indices("embedding_backward", indices, num_embeddings)
        return reference.embedding_backward(indices, grad_out, num_embeddings, padding_idx)

    def sparse_matmul(self, x, w, bias, transpose_w, beta, out):
        check_csr_structure("sparse_matmul", x[1], x[2], x[3][1])
        result = reference.sparse_matmul(x, w, bias, transpose_w=transpose_w, beta=beta,
                                         y=out if beta else None)
        return _deliver(result, out)

    def sparse_matmul_backward_weight(self, x, grad_y, transpose_w, beta, out):
        check_csr_structure("sparse_matmul_backward_weight", x[1], x[2], x[3][1])
        result = reference.sparse_matmul_backward_weight(x, grad_y, transpose_w=transpose_w, beta=beta,
                                                         grad_w=out if beta else None)
        return _deliver(result, out)

    def softmax_cross_entropy(self, logits, target, ignore_index, label_smoothing, return_grad, grad_scale):
        if target.dtype == np.int64:
            check_class_targets("softmax_cross_entropy", target, logits.shape[1], ignore_index)
        return reference.softmax_cross_entropy(logits, target, ignore_index=ignore_index,
                                               label_smoothing=label_smoothing, return_grad=return_grad,
                                               grad_scale=grad_scale)

    def bce_with_logits(self, logits, target, pos_weight, return_grad, grad_scale):
        return reference.bce_with_logits(logits, target, pos_weight=pos_weight, return_grad=return_grad,
                                         grad_scale=grad_scale)

    def mse(self, pred, target, return_grad, grad_scale):
        return reference.mse(pred, target, return_grad=return_grad, grad_scale=grad_scale)

    def activation(self, name, x, out):
        return _deliver(reference.activate(x, name), out)

    def activation_backward(self, name, grad_y, saved, out):
        if name in _GELU_APPROXIMATE:
            result = reference.gelu_backward(grad_y, saved, _GELU_APPROXIMATE[name])
        else:
            result = getattr(reference, f"{name}_backward")(grad_y, saved)
        return _deliver(result, out)

    def softmax(self, x, axis, log, out):
        return _deliver((reference.log_softmax if log else reference.softmax)(x, axis=axis), out)

    def softmax_backward(self, grad_y, y, axis, log, out):
        backward = reference.log_softmax_backward if log else reference.softmax_backward
        return _deliver(backward(grad_y, y, axis=axis), out)

    # attention
    def scaled_dot_product_attention(self, q, k, v, causal, scale):
        return reference.scaled_dot_product_attention(q, k, v, causal, scale)

    def scaled_dot_product_attention_backward(self, dout, q, k, v, out, logsumexp, causal, scale):
        return reference.scaled_dot_product_attention_backward(dout, q, k, v, out, logsumexp, causal, scale)
    # normalization
    def layer_norm(self, x, weight, bias, eps):
        return reference.layer_norm(x, weight, bias, eps)

    def layer_norm_backward(self, grad_y, x, mean, rstd, weight):
        return reference.layer_norm_backward(grad_y, x, mean, rstd, weight)

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, eps):
        return reference.batch_norm(x, weight, bias, running_mean, running_var, training, eps)

    def batch_norm_backward(self, grad_y, x, save_mean, save_invstd, weight, training):
        return reference.batch_norm_backward(grad_y, x, save_mean, save_invstd, weight, training)

    # ---- conv/pool breadth: transposed convolution, adaptive pooling ----
    def conv_transpose2d(self, x, weight, bias, stride, padding, output_padding, dilation, groups, out_shape):
        return reference.conv_transpose2d(x, weight, bias, stride=stride, padding=padding,
                                          output_padding=output_padding, dilation=dilation, groups=groups)

    def conv_transpose2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad,
                                  weight_grad, bias_grad):
        return reference.conv_transpose2d_backward(x, weight, grad_y, stride=stride, padding=padding,
                                                   dilation=dilation, groups=groups, input_grad=input_grad,
                                                   weight_grad=weight_grad, bias_grad=bias_grad)

    def adaptive_avg_pool2d(self, x, output_size):
        return reference.adaptive_avg_pool2d(x, output_size)

    def adaptive_avg_pool2d_backward(self, grad_y, input_shape):
        return reference.adaptive_avg_pool2d_backward(grad_y, input_shape)

    def adaptive_max_pool2d(self, x, output_size):
        return reference.adaptive_max_pool2d(x, output_size)

    def adaptive_max_pool2d_backward(self, grad_y, indices, input_shape):
        plane = input_shape[2] * input_shape[3]
        if indices.size and (indices.min() < 0 or indices.max() >= plane):
            raise ValueError(f"adaptive_max_pool2d_backward: indices must lie in [0, {plane}) (H * W of "
                             f"input_shape {input_shape}), got values from {indices.min()} to {indices.max()}")
        return reference.adaptive_max_pool2d_backward(grad_y, indices, input_shape)
    # ---- GRU ----
    def gru_cell(self, x, h, w_ih, w_hh, b_ih, b_hh):
        return reference.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)

    def gru_cell_backward(self, grad_h, x, h, w_ih, w_hh, gates):
        return reference.gru_cell_backward(grad_h, x, h, w_ih, w_hh, gates)

    def gru_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0):
        return reference.gru_sequence(x, w_ih, w_hh, b_ih, b_hh, h0)

    def gru_sequence_backward(self, grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates):
        return reference.gru_sequence_backward(grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates)
