"""The one cast the differentiable functions share."""


def cast(be, x, dtype):
    """``x`` in ``dtype`` (a float32 kernel's result under float64 parameters), no copy when it
    already is; None stays None."""
    return x if x is None or x.dtype == dtype else be.astype(x, dtype, copy=False)
