"""The kernel API: one function per kernel, checked once, then run by one backend.

Every function takes ``backend=``: None (the backend that runs the inputs' device, as
``kiln.backends`` says: the native "cpu" kernels for NumPy arrays, unless ``kiln.use_backend``
chose another), a backend's name ("numpy", "cpu"), or a backend object a caller has
already chosen. Inputs may be float32 or float64 arrays (or a backend's device arrays);
the native backends compute in float32, the NumPy backend in the inputs' dtype.
Arguments are checked before any kernel runs: TypeError for a wrong type or dtype,
ValueError for a wrong shape or value, naming the argument and the shapes.
"""

from .adam import adam_step
from .conv2d import conv2d, conv2d_backward
from .embedding import embedding, embedding_backward
from .losses import bce_with_logits, mse, softmax_cross_entropy
from .lstm import lstm_cell, lstm_cell_backward, lstm_pack_weights, lstm_sequence, lstm_sequence_backward
from .linear import linear_backward
from .matmul import matmul
from .pointwise import (gelu, gelu_backward, log_softmax, log_softmax_backward, relu, relu_backward,
                        sigmoid, sigmoid_backward, softmax, softmax_backward, tanh, tanh_backward)
from .pool2d import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .sparse_matmul import sparse_matmul, sparse_matmul_backward_weight
# attention
from .attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
# conv/pool breadth: transposed convolution, adaptive pooling
from .conv_transpose2d import conv_transpose2d, conv_transpose2d_backward
from .adaptive_pool2d import (adaptive_avg_pool2d, adaptive_avg_pool2d_backward, adaptive_max_pool2d,
                              adaptive_max_pool2d_backward)
# gru
from .gru import gru_cell, gru_cell_backward, gru_sequence, gru_sequence_backward

__all__ = [
    "matmul", "linear_backward",
    "sparse_matmul", "sparse_matmul_backward_weight",
    "relu", "sigmoid", "tanh", "gelu",
    "relu_backward", "sigmoid_backward", "tanh_backward", "gelu_backward",
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "lstm_cell", "lstm_cell_backward", "lstm_pack_weights", "lstm_sequence", "lstm_sequence_backward",
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "adam_step",
    "embedding", "embedding_backward",
    "softmax_cross_entropy", "bce_with_logits", "mse",
    # attention
    "scaled_dot_product_attention", "scaled_dot_product_attention_backward",
    # conv/pool breadth
    "conv_transpose2d", "conv_transpose2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    # gru
    "gru_cell", "gru_cell_backward", "gru_sequence", "gru_sequence_backward",
]

# normalization
from .norm import batch_norm, batch_norm_backward, layer_norm, layer_norm_backward  # noqa: E402

__all__ += ["layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward"]
