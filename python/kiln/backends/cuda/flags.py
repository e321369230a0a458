"""Switches of the cuda backend, as ``torch.backends.cuda``'s."""

from __future__ import annotations


class MatmulSettings:
    """As ``torch.backends.cuda.matmul``: ``allow_tf32`` lets matmul (nn.Linear's forward
    too) use the tensor cores' TF32 inputs (10-bit mantissas, ~1e-3 relative error); off by
    default, as in PyTorch. linear_backward, conv2d and the LSTM stay float32."""

    allow_tf32: bool = False


matmul = MatmulSettings()  # kiln.backends.cuda.matmul.allow_tf32 = True
