"""The native CPU backend ("cpu"): kiln's C++ kernels (the module kiln._C).

The kernels compute in float32 on C-contiguous memory: inputs of other dtypes or layouts
are converted here (copied only when needed); outputs are allocated here or written in
place. kiln._C checks every argument itself (``checks_arguments``), so ``kiln.ops`` may
send plain float32 arrays straight on. ``native_nodes`` are the tape nodes whose backward
runs in C++ (python/src/nodes/): a graph made of them is walked without any Python.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from ..reference.conv_transpose2d import output_padding_of
from .host import HostArrays, check_indices

_F32 = np.dtype(np.float32)


def _plain(x) -> bool:
    """A float32, C-contiguous ndarray: what the kernels read as it is."""
    return type(x) is np.ndarray and x.dtype == _F32 and x.flags.c_contiguous


_MAX_ELEMENTS = 2**31 - 1  # kiln::kMaxElements: the kernels refuse larger operands


def _copyable(x):
    """x, unless it holds more elements than any kernel takes: refused before it is copied
    (a stride-0 view of 2^31 elements costs nothing, its float32 copy 8 GB)."""
    if getattr(x, "size", 0) > _MAX_ELEMENTS:
        raise ValueError(f"an operand of shape {x.shape} has {x.size} elements, more than kiln's limit "
                         f"of {_MAX_ELEMENTS} per operand")
    return x


def _output(shape) -> np.ndarray:
    """A new float32 output, refused (not allocated) when no kernel would take it."""
    count = math.prod(shape)
    if count > _MAX_ELEMENTS:
        raise ValueError(f"an output of shape {tuple(shape)} has {count} elements, more than kiln's limit "
                         f"of {_MAX_ELEMENTS} per operand")
    return np.empty(shape, np.float32)


def _f32(x):
    """A float32, C-contiguous version of an input (copied only when needed; None stays None)."""
    if x is None or _plain(x):
        return x
    if _transposed_matrix(x):
        return _transpose_copy(x)
    return np.asarray(_copyable(x), dtype=np.float32, order="C")  # not ascontiguousarray: it makes 0-D arrays 1-D


_TRANSPOSE_MIN = 1 << 14  # below ~64 KB NumPy's own copy is as fast


def _transposed_matrix(x) -> bool:
    """A large float32 view (rows, cols) of a row-major matrix's transpose (a Keras kernel read as
    torch's (out, in) weight): NumPy copies it element by element at a tenth of copy speed."""
    return (type(x) is np.ndarray and x.dtype == _F32 and x.ndim == 2 and x.size >= _TRANSPOSE_MIN
            and x.strides[0] == 4 and x.strides[1] >= 4 * x.shape[0] and x.strides[1] % 4 == 0
            and x.flags.aligned)


def _transpose_copy(x) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    _C.transpose_copy(x, out)
    return out


def _empty(*shape):
    return np.empty(shape, np.float32)


def _for_float32(factory):
    """A native node factory for ops whose saved arrays do not show the input's dtype (pooling
    keeps indices, embedding the indices): the rule passes that dtype last."""
    return lambda edges, *saved: factory(edges, *saved[:-1]) if saved[-1] == _F32 else None


class CpuBackend(HostArrays):
    name = "cpu"
    float32_only = True
    checks_arguments = True
    # The differentiable ops whose backward runs in C++ (python/src/nodes/), by the name the
    # gradient rules use; each factory returns None for saved arrays it cannot take.
    native_nodes = {
        "linear": _C.linear_node,
        "activation": _C.activation_node,
        "scaled_grad": _C.scaled_grad_node,
        "conv2d": _C.conv2d_node,
        "max_pool2d": _for_float32(_C.max_pool2d_node),
        "avg_pool2d": _for_float32(_C.avg_pool2d_node),
        "embedding": _for_float32(_C.embedding_node),
        "lstm_sequence": _C.lstm_sequence_node,
        "lstm_cell": _C.lstm_cell_node,
    }
    native_ops = {
        "linear": _C.linear_op,
        "activation": _C.activation_op,
        "cross_entropy": _C.cross_entropy_op,
    }
    kernel_module = _C  # what kiln.profiler times

    @property
    def description(self) -> str:
        return f"kiln's native CPU kernels ({_C.cpu_isa()}, {_C.get_num_threads()} threads)"

    def set_num_threads(self, n: int) -> None:
        _C.set_num_threads(n)

    def get_num_threads(self) -> int:
        return _C.get_num_threads()

    def isa(self) -> str:
        return _C.cpu_isa()

    def contiguous(self, a):
        return _transpose_copy(a) if _transposed_matrix(a) else super().contiguous(a)

    # The kernel itself (a builtin: no self): it checks and converts its arguments, allocates
    # the output, and answers None for those kiln.ops must parse first (python/src/bind_matmul.cpp).
    matmul = _C.matmul

    def linear_backward(self, x, w, y, grad_y, weight_is_out_by_in, activation, input_grad, weight_grad,
                        bias_grad):
        dx = _empty(*x.shape) if input_grad else None
        dw = _empty(*w.shape) if weight_grad else None
        db = _empty(y.shape[1]) if bias_grad else None
        _C.linear_backward(_f32(x), _f32(w), _f32(y), _f32(grad_y), dx, dw, db, weight_is_out_by_in, activation)
        return dx, dw, db

    def conv2d(self, x, weight, bias, stride, padding, dilation, groups, out_shape):
        out = _empty(*out_shape)
        _C.conv2d_forward(_f32(x), _f32(weight), _f32(bias), out, stride, padding, dilation, groups)
        return out

    def conv2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad, weight_grad,
                        bias_grad):
        grad_x = _empty(*x.shape) if input_grad else None
        grad_weight = _empty(*weight.shape) if weight_grad else None
        grad_bias = _empty(weight.shape[0]) if bias_grad else None
        _C.conv2d_backward(_f32(x), _f32(weight), _f32(grad_y), grad_x, grad_weight, grad_bias, stride, padding,
                           dilation, groups)
        return grad_x, grad_weight, grad_bias

    def max_pool2d(self, x, kernel, stride, padding, dilation, ceil_mode, return_indices, out_shape):
        out = _empty(*out_shape)
        indices = np.empty(out_shape, np.int64) if return_indices else None
        _C.max_pool2d_forward(_f32(x), out, indices, kernel, stride, padding, dilation, ceil_mode)
        return (out, indices) if return_indices else out

    def max_pool2d_backward(self, grad_y, indices, input_shape):
        grad_x = _empty(*input_shape)
        _C.max_pool2d_backward(_f32(grad_y), indices, grad_x)  # checks the indices in one threaded pass
        return grad_x

    def avg_pool2d(self, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor, out_shape):
        out = _empty(*out_shape)
        _C.avg_pool2d_forward(_f32(x), out, kernel, stride, padding, ceil_mode, count_include_pad, divisor)
        return out

    def avg_pool2d_backward(self, grad_y, input_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                            divisor):
        grad_x = _empty(*input_shape)
        _C.avg_pool2d_backward(_f32(grad_y), grad_x, kernel, stride, padding, ceil_mode, count_include_pad,
                               divisor)
        return grad_x

    def lstm_cell(self, x, h, c, w_ih, w_hh, b_ih, b_hh):
        batch, hidden = h.shape
        h_new, c_new, gates = _empty(batch, hidden), _empty(batch, hidden), _empty(batch, 4 * hidden)
        _C.lstm_cell_forward(*map(_f32, (x, h, c, w_ih, w_hh, b_ih, b_hh)), h_new, c_new, gates)
        return h_new, c_new, gates

    def lstm_pack_weights(self, w_ih, w_hh):
        return _C.lstm_pack_weights(_f32(w_ih), _f32(w_hh))

    def lstm_cell_packed(self, x, h, c, packed, b_ih, b_hh, return_gates):
        batch, hidden = h.shape
        h_new, c_new = _empty(batch, hidden), _empty(batch, hidden)
        gates = _empty(batch, 4 * hidden) if return_gates else None
        _C.lstm_cell_forward_packed(_f32(x), _f32(h), _f32(c), packed, _f32(b_ih), _f32(b_hh), h_new, c_new, gates)
        return h_new, c_new, gates

    def lstm_cell_backward(self, grad_h, grad_c, x, h, c, w_ih, w_hh, gates, c_new):
        (batch, inputs), hidden = x.shape, h.shape[1]
        grads = (_empty(batch, inputs), _empty(batch, hidden), _empty(batch, hidden),
                 _empty(4 * hidden, inputs), _empty(4 * hidden, hidden), _empty(4 * hidden))
        _C.lstm_cell_backward(*map(_f32, (x, h, c, w_ih, w_hh, gates, c_new, grad_h, grad_c)), *grads)
        return grads

    def lstm_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        (steps, batch, _), hidden = x.shape, w_hh.shape[1]
        outputs = (_empty(steps, batch, hidden), _empty(batch, hidden), _empty(batch, hidden),
                   _empty(steps, batch, 4 * hidden), _empty(steps, batch, hidden))
        _C.lstm_sequence_forward(*map(_f32, (x, h0, c0, w_ih, w_hh, b_ih, b_hh)), *outputs)
        return outputs

    def lstm_sequence_backward(self, grad_y, grad_h_n, grad_c_n, x, w_ih, w_hh, h0, c0, y, gates, cells):
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        grads = (_empty(steps, batch, inputs), _empty(batch, hidden), _empty(batch, hidden),
                 _empty(4 * hidden, inputs), _empty(4 * hidden, hidden), _empty(4 * hidden))
        _C.lstm_sequence_backward(*map(_f32, (x, h0, c0, w_ih, w_hh, y, gates, cells, grad_y, grad_h_n,
                                              grad_c_n)), *grads)
        return grads

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad, maximize):
        _C.adam_step(param, _f32(grad), exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                     weight_decay, decoupled, amsgrad, maximize)

    def embedding(self, indices, weight, padding_idx):
        check_indices("embedding", indices, weight.shape[0])
        out = _empty(*indices.shape, weight.shape[1])
        _C.embedding(indices, _f32(weight), out)
        return out

    def embedding_backward(self, indices, grad_out, num_embeddings, padding_idx):
        check_indices("embedding_backward", indices, num_embeddings)
        grad_weight = _empty(num_embeddings, grad_out.shape[-1])
        _C.embedding_backward(indices, _f32(grad_out), -1 if padding_idx is None else padding_idx, grad_weight)
        return grad_weight

    def _csr(self, fn, x):
        """CSR parts in the kernel's dtypes (data float32, indices int32, indptr int64); the
        kernel checks their contents."""
        data, indices, indptr, (m, k) = x
        if indices.dtype != np.int32:
            check_indices(fn, indices, k)  # before the cast could wrap a large value
        return _f32(data), np.asarray(indices, np.int32, order="C"), np.asarray(indptr, np.int64, order="C"), k

    def sparse_matmul(self, x, w, bias, transpose_w, beta, out):
        if out is None:
            out = _empty(x[3][0], w.shape[0] if transpose_w else w.shape[1])
        _C.sparse_matmul(*self._csr("sparse_matmul", x), _f32(w), _f32(bias), bool(transpose_w), beta, out)
        return out

    def sparse_matmul_backward_weight(self, x, grad_y, transpose_w, beta, out):
        if out is None:
            k, n = x[3][1], grad_y.shape[1]
            out = _empty(n, k) if transpose_w else _empty(k, n)
        _C.sparse_matmul_backward_weight(*self._csr("sparse_matmul_backward_weight", x), _f32(grad_y),
                                         bool(transpose_w), beta, out)
        return out

    def softmax_cross_entropy(self, logits, target, ignore_index, label_smoothing, return_grad, grad_scale):
        if target.dtype != np.int64:  # class indices are checked by the kernel itself
            target = _f32(target)
        grad = _empty(*logits.shape) if return_grad else None
        loss = _C.softmax_cross_entropy(_f32(logits), target, grad, ignore_index, label_smoothing, grad_scale)
        return (float(loss), grad) if return_grad else float(loss)

    def bce_with_logits(self, logits, target, pos_weight, return_grad, grad_scale):
        grad = _empty(*logits.shape) if return_grad else None
        loss = _C.bce_with_logits(_f32(logits), _f32(target), _f32(pos_weight), grad, grad_scale)
        return (float(loss), grad) if return_grad else float(loss)

    def mse(self, pred, target, return_grad, grad_scale):
        grad = _empty(*pred.shape) if return_grad else None
        loss = _C.mse(_f32(pred), _f32(target), grad, grad_scale)
        return (float(loss), grad) if return_grad else float(loss)

    def activation(self, name, x, out):
        x = _f32(x)  # before the output: an oversized x is refused without allocating either
        if out is None:
            out = _output(x.shape)
        _C.activation_forward(x, out, name)
        return out

    def activation_backward(self, name, grad_y, saved, out):
        grad_y, saved = _f32(grad_y), _f32(saved)
        if out is None:
            out = _output(grad_y.shape)
        _C.activation_backward(grad_y, saved, out, name)
        return out

    def softmax(self, x, axis, log, out):
        return _along_last_axis(lambda x, y: _C.softmax_forward(x, y, log), [x], axis, out)

    def softmax_backward(self, grad_y, y, axis, log, out):
        return _along_last_axis(lambda dy, y, dx: _C.softmax_backward(dy, y, dx, log), [grad_y, y], axis, out)

    # attention: (B, H, T, D) folded to (B*H, T, D) for the kernel
    def scaled_dot_product_attention(self, q, k, v, causal, scale):
        b, h, tq, _ = q.shape
        dv = v.shape[3]
        out, lse = _output((b, h, tq, dv)), _output((b, h, tq))
        _C.attention_forward(*(_f32(a).reshape(b * h, -1, a.shape[3]) for a in (q, k, v)),
                             out.reshape(b * h, tq, dv), lse.reshape(b * h, tq), bool(causal), float(scale))
        return out, lse

    def scaled_dot_product_attention_backward(self, dout, q, k, v, out, logsumexp, causal, scale):
        b, h, tq, d = q.shape
        tk, dvn = k.shape[2], v.shape[3]
        grads = _output((b, h, tq, d)), _output((b, h, tk, d)), _output((b, h, tk, dvn))
        _C.attention_backward(*(_f32(a).reshape(b * h, -1, a.shape[3]) for a in (dout, q, k, v, out)),
                              _f32(logsumexp).reshape(b * h, tq), *(g.reshape(b * h, -1, g.shape[3]) for g in grads),
                              bool(causal), float(scale))
        return grads
    # normalization
    def layer_norm(self, x, weight, bias, eps):
        x = _f32(x)
        m, n = x.shape
        y, mean, rstd = _output((m, n)), _empty(m), _empty(m)
        _C.layer_norm_forward(x, _f32(weight), _f32(bias), y, mean, rstd, eps)
        return y, mean, rstd

    def layer_norm_backward(self, grad_y, x, mean, rstd, weight):
        x = _f32(x)
        n = x.shape[1]
        dx = _output(x.shape)
        dw, db = (_empty(n), _empty(n)) if weight is not None else (None, None)
        _C.layer_norm_backward(_f32(grad_y), x, _f32(mean), _f32(rstd), _f32(weight), dx, dw, db)
        return dx, dw, db

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, eps):
        x = _f32(x)
        c = x.shape[1]
        y, mean, invstd = _output(x.shape), _empty(c), _empty(c)
        var = _empty(c) if training else None
        _C.batch_norm_forward(x, _f32(weight), _f32(bias), _f32(running_mean), _f32(running_var), training, eps,
                              y, mean, invstd, var)
        return y, mean, invstd, var

    def batch_norm_backward(self, grad_y, x, save_mean, save_invstd, weight, training):
        x = _f32(x)
        c = x.shape[1]
        dx = _output(x.shape)
        dw, db = (_empty(c), _empty(c)) if weight is not None else (None, None)
        _C.batch_norm_backward(_f32(grad_y), x, _f32(save_mean), _f32(save_invstd), _f32(weight), training, dx,
                               dw, db)
        return dx, dw, db

    # ---- conv/pool breadth: transposed convolution, adaptive pooling ----
    def conv_transpose2d(self, x, weight, bias, stride, padding, output_padding, dilation, groups, out_shape):
        out = _empty(*out_shape)
        _C.conv_transpose2d_forward(_f32(x), _f32(weight), _f32(bias), out, stride, padding, output_padding,
                                    dilation, groups)
        return out

    def conv_transpose2d_backward(self, x, weight, grad_y, stride, padding, dilation, groups, input_grad,
                                  weight_grad, bias_grad):
        grad_x = _empty(*x.shape) if input_grad else None
        grad_weight = _empty(*weight.shape) if weight_grad else None
        grad_bias = _empty(grad_y.shape[1]) if bias_grad else None
        output_padding = output_padding_of(x.shape, weight.shape, grad_y.shape, stride, padding, dilation)
        _C.conv_transpose2d_backward(_f32(x), _f32(weight), _f32(grad_y), grad_x, grad_weight, grad_bias, stride,
                                     padding, output_padding, dilation, groups)
        return grad_x, grad_weight, grad_bias

    def adaptive_avg_pool2d(self, x, output_size):
        out = _empty(x.shape[0], x.shape[1], *output_size)
        _C.adaptive_avg_pool2d_forward(_f32(x), out)
        return out

    def adaptive_avg_pool2d_backward(self, grad_y, input_shape):
        grad_x = _empty(*input_shape)
        _C.adaptive_avg_pool2d_backward(_f32(grad_y), grad_x)
        return grad_x

    def adaptive_max_pool2d(self, x, output_size):
        out = _empty(x.shape[0], x.shape[1], *output_size)
        indices = np.empty(out.shape, np.int64)
        _C.adaptive_max_pool2d_forward(_f32(x), out, indices)
        return out, indices

    def adaptive_max_pool2d_backward(self, grad_y, indices, input_shape):
        grad_x = _empty(*input_shape)
        _C.max_pool2d_backward(_f32(grad_y), indices, grad_x)  # the same scatter; checks the indices
        return grad_x


    # ---- GRU ----
    def gru_cell(self, x, h, w_ih, w_hh, b_ih, b_hh):
        batch, hidden = h.shape
        h_new, gates = _empty(batch, hidden), _empty(batch, 4 * hidden)
        _C.gru_cell_forward(*map(_f32, (x, h, w_ih, w_hh, b_ih, b_hh)), h_new, gates)
        return h_new, gates

    def gru_cell_backward(self, grad_h, x, h, w_ih, w_hh, gates):
        (batch, inputs), hidden = x.shape, h.shape[1]
        grads = (_empty(batch, inputs), _empty(batch, hidden), _empty(3 * hidden, inputs),
                 _empty(3 * hidden, hidden), _empty(3 * hidden), _empty(3 * hidden))
        _C.gru_cell_backward(*map(_f32, (x, h, w_ih, w_hh, gates, grad_h)), *grads)
        return grads

    def gru_sequence(self, x, w_ih, w_hh, b_ih, b_hh, h0):
        (steps, batch, _), hidden = x.shape, w_hh.shape[1]
        outputs = (_empty(steps, batch, hidden), _empty(batch, hidden), _empty(steps, batch, 4 * hidden))
        _C.gru_sequence_forward(*map(_f32, (x, h0, w_ih, w_hh, b_ih, b_hh)), *outputs)
        return outputs

    def gru_sequence_backward(self, grad_y, grad_h_n, x, w_ih, w_hh, h0, y, gates):
        (steps, batch, inputs), hidden = x.shape, w_hh.shape[1]
        grads = (_empty(steps, batch, inputs), _empty(batch, hidden), _empty(3 * hidden, inputs),
                 _empty(3 * hidden, hidden), _empty(3 * hidden), _empty(3 * hidden))
        _C.gru_sequence_backward(*map(_f32, (x, h0, w_ih, w_hh, y, gates, grad_y, grad_h_n)), *grads)
        return grads

def _along_last_axis(kernel, arrays: list, axis: int, out):
    """Run a last-axis kernel(*arrays, out) along ``axis``: in place of out when ``axis`` is the
    last one, else on contiguous moved copies, moved back into out."""
    if axis == arrays[0].ndim - 1:
        result = out if out is not None else np.empty(arrays[0].shape, np.float32)
        kernel(*map(_f32, arrays), result)
        return result
    moved = [np.ascontiguousarray(np.moveaxis(a, axis, -1), dtype=np.float32) for a in arrays]
    result = np.empty(moved[0].shape, np.float32)
    kernel(*moved, result)
    result = np.ascontiguousarray(np.moveaxis(result, -1, axis))
    if out is None:
        return result
    out[...] = result
    return out
