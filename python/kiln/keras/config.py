"""keras.config: Keras 3's home of the global settings (the same functions as keras.backend)."""

from .backend import backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format

__all__ = ["backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format"]
