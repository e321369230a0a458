"""Flags of the CUDA backend's matrix products, as ``torch.backends.cuda.matmul``.

``kiln.backends.cuda.matmul.allow_tf32 = True`` lets ``matmul`` on the device run on the
tensor cores in TF32 (inputs rounded to 10 mantissa bits, float32 accumulation): several
times faster on Ampere and later, with about 1e-3 relative error per product. Off by
default, as in PyTorch: results are then float32 products.
"""

from __future__ import annotations

allow_tf32: bool = False
