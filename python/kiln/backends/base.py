"""What a backend is: the primitives and kernels it implements over the arrays of one device.

A backend is an object (one class per backend, one module per backend) with:

- ``name`` (what ``backend=`` and ``kiln.use_backend`` take), ``device`` (where its arrays
  live: "cpu" for NumPy arrays) and ``array_type`` (the type of those arrays);
- every name in ``PRIMITIVES`` and ``KERNELS`` below, as a method over its own arrays;
- ``native_nodes``: the tape nodes it runs without Python, by differentiable op name
  ({} for none: the tape then records a Python closure over the backend's backward kernel);
- ``native_ops``: differentiable ops it runs forward *and* records in one call, for the
  small layers (linear, activations, cross-entropy) whose Python between kernels would
  rival the kernels; each returns (output, node), or None for arrays it does not take as
  they are, and the layer then goes through ``kiln.ops`` and ``native_nodes`` as any op;
- ``checks_arguments``: True when its kernels check every argument themselves (kiln._C
  does), so ``kiln.ops`` may skip its Python parse: adam_step hands it plain float32 arrays;
  matmul hands it the caller's arguments as they are, and the kernel answers None for those
  it wants parsed first (array-likes that are not arrays, scalars that are not floats).

``kiln.ops`` checks every argument (types, dtypes, shapes, scalar values) before it calls
a backend, so a backend never re-parses; checks that read array *contents* (index ranges,
CSR structure) are the backend's, because only it can read its memory cheaply.
docs/DESIGN.md holds the primitive table (names, shapes, semantics).
"""

from __future__ import annotations

import numpy as np

from ..random import generator

# The primitives: what Tensor arithmetic, reductions, shapes, indexing and factories are
# built from. Arrays in, arrays out, NumPy's semantics (broadcasting included).
PRIMITIVES = (
    # moving data
    "from_numpy", "to_numpy", "empty", "full", "arange", "astype", "copy", "copy_into", "fill",
    # elementwise, broadcasting (second operand may be a Python scalar)
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_not",
    "negative", "exp", "log", "sqrt", "abs", "sign", "round", "clip", "where",
    "add_into",
    # reductions over axes
    "sum", "max", "min", "argmax", "argmin", "unbroadcast",
    # shapes
    "reshape", "transpose", "broadcast_to", "contiguous", "concatenate", "stack", "tile", "pad",
    # indexing
    "getitem", "setitem", "index_add", "take_along_axis", "put_along_axis",
)

KERNELS = (
    "matmul", "linear_backward",
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "lstm_cell", "lstm_cell_backward", "lstm_sequence", "lstm_sequence_backward",
    "adam_step",
    "embedding", "embedding_backward",
    "sparse_matmul", "sparse_matmul_backward_weight",
    "softmax_cross_entropy", "bce_with_logits", "mse",
    "activation", "activation_backward", "softmax", "softmax_backward",
    # attention
    "scaled_dot_product_attention", "scaled_dot_product_attention_backward",
    # normalization
    "layer_norm", "layer_norm_backward", "batch_norm", "batch_norm_backward",
    # conv/pool breadth: transposed convolution, adaptive (and global) pooling
    "conv_transpose2d", "conv_transpose2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    # gru
    "gru_cell", "gru_cell_backward", "gru_sequence", "gru_sequence_backward",
)


class Backend:
    """Defaults every backend shares; subclasses set the names and implement the methods."""

    name: str = ""
    description: str = ""  # a few words for people: what runs the kernels
    device: str = ""
    array_type: type = object
    checks_arguments = False
    native_nodes: dict = {}
    native_ops: dict = {}

    def dropout_mask(self, shape: tuple, p: float, dtype):
        """Dropout's scaled keep mask: 1/(1-p) with probability 1-p, else 0 (0 < p < 1).
        By default drawn from kiln's host generator and copied to the backend; a device
        backend draws on the device instead (kiln.random.device_draw)."""
        keep = (generator().random(shape, dtype=np.float32) >= p).astype(dtype) * (1.0 / (1.0 - p))
        return self.from_numpy(np.asarray(keep, dtype=dtype))

    def lstm_pack_weights(self, w_ih, w_hh):
        """The LSTM cell's weights prepared once for many steps (``kiln.ops.lstm_pack_weights``):
        a handle ``lstm_cell_packed(x, h, c, packed, b_ih, b_hh, return_gates)`` takes, or
        None (the default) where the backend prepares nothing and ``lstm_cell`` runs."""
        return None

    def __repr__(self) -> str:
        return f"<kiln backend {self.name!r} on {self.device!r}>"
