"""dtype names as in torch (``kiln.float32``, ``kiln.long`` ...): NumPy dtypes."""

import numpy as np

float32 = np.float32
float64 = np.float64
float16 = np.float16
int32 = np.int32
int64 = np.int64
long = np.int64
bool_ = np.bool_
float = np.float32  # noqa: A001  (torch.float is float32)
double = np.float64
