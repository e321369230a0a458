"""The NumPy reference path: every kernel of kiln, written plainly.

This is the yardstick: tests compare the native kernels with these functions in
float64, and benchmarks measure speed against them. Each function accepts float32
and float64 and computes in the wider dtype of its inputs. Semantics follow
PyTorch (see docs and ``kiln.ops``); shapes are in each docstring.
"""

from .adam import adam_step
from .conv2d import conv2d, conv2d_backward, conv2d_output_size
from .embedding import embedding, embedding_backward
from .losses import bce_with_logits, mse, softmax_cross_entropy
from .lstm import lstm_cell, lstm_cell_backward, lstm_sequence, lstm_sequence_backward
from .linear import linear_backward
from .matmul import matmul
from .pointwise import (ACTIVATIONS, activate, gelu, gelu_backward, log_softmax, log_softmax_backward,
                        relu, relu_backward, sigmoid, sigmoid_backward, softmax, softmax_backward, tanh,
                        tanh_backward)
from .pool2d import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, pool2d_output_size
from .sparse_matmul import sparse_matmul, sparse_matmul_backward_weight
# attention
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
# conv/pool breadth: transposed convolution, adaptive pooling
from .conv_transpose2d import conv_transpose2d, conv_transpose2d_backward, conv_transpose2d_output_size
from .adaptive_pool2d import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                              adaptive_max_pool2d_backward, adaptive_windows)
# gru
from .gru import gru_cell, gru_cell_backward, gru_sequence, gru_sequence_backward

__all__ = [
    "ACTIVATIONS", "activate",
    "relu", "sigmoid", "tanh", "gelu",
    "relu_backward", "sigmoid_backward", "tanh_backward", "gelu_backward",
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "matmul", "linear_backward",
    "sparse_matmul", "sparse_matmul_backward_weight",
    "lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward",
    "adam_step",
    "embedding", "embedding_backward",
    "softmax_cross_entropy", "bce_with_logits", "mse",
    "conv2d_output_size", "pool2d_output_size",
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    # attention
    "scaled_dot_product_attention", "scaled_dot_product_attention_backward",
    # conv/pool breadth
    "conv_transpose2d", "conv_transpose2d_backward", "conv_transpose2d_output_size",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "adaptive_windows",
    # gru
    "gru_cell", "gru_cell_backward", "gru_sequence", "gru_sequence_backward",
]

# normalization
from .norm import batch_norm, batch_norm_backward, layer_norm, layer_norm_backward  # noqa: E402

__all__ += ["layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"]
