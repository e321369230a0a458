"""``kiln.nn.functional``: the differentiable functions, as ``torch.nn.functional``."""

from ..functional import (  # noqa: F401
    avg_pool2d, binary_cross_entropy, binary_cross_entropy_with_logits, conv2d, cross_entropy, dropout,
    dense, embedding, flatten, gelu, linear, log_softmax, lstm_cell, lstm_layer, max_pool2d, mse_loss, nll_loss, pad, relu,
    sigmoid, softmax, tanh,
)
