"""``kiln.nn.functional``: the differentiable functions over Tensors, as ``torch.nn.functional``.

Imported as ``F`` in the PyTorch idiom; the Keras layers call the same functions. Each is
one ``kiln.ops`` kernel forward and its backward kernel (or the backend's native node)
backward: ``activations`` (relu, sigmoid, tanh, gelu, softmax), ``layers`` (linear,
conv2d, pooling, dropout, embedding, pad), ``recurrent`` (the LSTM) and ``losses``;
``composed`` holds those built from Tensor ops alone (one_hot, l1/smooth-l1/huber/kl losses,
dropout2d, interpolate, normalize, distances), ``pointwise`` the activations built from them
(leaky_relu, elu, silu, softplus, ...); ``conv_pool`` the transposed and 1-D convolutions, 1-D
and adaptive pooling.
"""

from .composed import (cosine_similarity, dropout2d, huber_loss, interpolate, kl_div, l1_loss, normalize, one_hot,
                       pairwise_distance, smooth_l1_loss)
from .pointwise import (celu, elu, hardsigmoid, hardswish, hardtanh, leaky_relu, logsigmoid, mish, relu6, selu, silu,
                        softplus, softsign)
from .activations import ACTIVATIONS, gelu, log_softmax, relu, sigmoid, softmax, tanh
from .layers import (FUSED_ACTIVATIONS, avg_pool2d, conv2d, dense, dropout, embedding, flatten, linear, max_pool2d,
                     pad, torch_same_padding)
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss)
from .recurrent import lstm_cell, lstm_layer
# attention
from .attention import scaled_dot_product_attention
# conv/pool breadth: transposed and 1-D convolution, 1-D pooling, adaptive pooling
from .conv_pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d, adaptive_max_pool2d,
                        avg_pool1d, conv1d, conv_transpose1d, conv_transpose2d, max_pool1d)
# gru
from .gru import gru_cell, gru_layer, rnn_cell, rnn_layer

__all__ = [
    "relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "ACTIVATIONS", "FUSED_ACTIVATIONS",
    "linear", "dense", "conv2d", "max_pool2d", "avg_pool2d", "dropout", "embedding", "flatten", "pad",
    "torch_same_padding", "lstm_layer", "lstm_cell",
    "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "one_hot", "l1_loss", "smooth_l1_loss", "huber_loss", "dropout2d", "interpolate", "adaptive_avg_pool2d",
    "kl_div", "normalize", "cosine_similarity", "pairwise_distance",
    "celu", "elu", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu", "logsigmoid", "mish", "relu6", "selu", "silu",
    "softplus", "softsign",
    # attention
    "scaled_dot_product_attention",
    # conv/pool breadth
    "conv1d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "avg_pool1d", "adaptive_max_pool2d",
    "adaptive_avg_pool1d", "adaptive_max_pool1d",
    # gru
    "gru_layer", "gru_cell", "rnn_layer", "rnn_cell",
]

# normalization
from .normalization import batch_norm, layer_norm  # noqa: E402

__all__ += ["layer_norm", "batch_norm"]
