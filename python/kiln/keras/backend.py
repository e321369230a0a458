"""keras.backend (and keras.config): the few settings programs read.

``floatx()`` is "float32" (kiln's kernels are float32), ``epsilon()`` 1e-7 (the fuzz factor
the losses and metrics clip with; ``set_epsilon`` changes it), ``image_data_format()``
"channels_last" (Keras's default; Conv2D and the pooling layers also take
``data_format="channels_first"`` per layer), ``backend()`` "kiln". ``clear_session()`` starts
the automatic layer and metric names again (dense, dense_1, ... from "dense") and frees what
Python still holds.
"""

from __future__ import annotations

import gc

_image_data_format = "channels_last"


def backend() -> str:
    return "kiln"


def floatx() -> str:
    return "float32"


def set_floatx(value) -> None:
    if str(value) != "float32":
        raise ValueError(f"set_floatx: kiln's Keras layers compute in float32 only, got {value!r}")


def epsilon() -> float:
    from . import losses

    return losses.EPSILON


def set_epsilon(value) -> None:
    from . import losses, metrics

    value = float(value)
    if not value > 0:
        raise ValueError(f"set_epsilon: the fuzz factor must be > 0, got {value}")
    losses.EPSILON = metrics.EPSILON = value


def image_data_format() -> str:
    return _image_data_format


def set_image_data_format(data_format) -> None:
    global _image_data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"set_image_data_format: data_format must be 'channels_last' or 'channels_first', got "
                         f"{data_format!r}")
    if data_format != "channels_last":
        raise NotImplementedError("set_image_data_format: kiln's default is channels_last; pass "
                                  "data_format='channels_first' to each layer instead")
    _image_data_format = data_format


def clear_session(free_memory: bool = True) -> None:
    """Reset the automatic names (layers, models, metrics) and collect garbage."""
    from .layers.base import reset_names

    reset_names()
    if free_memory:
        gc.collect()


__all__ = ["backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "clear_session"]
