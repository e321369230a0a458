"""``kiln.keras.layers``: the Keras layers over kiln's kernels."""

from .base import KerasTensor, Layer
from .convolutional import AveragePooling2D, AvgPool2D, Conv2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from .embedding import Embedding
from .recurrent import LSTM

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten", "Dropout",
           "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "Embedding", "LSTM"]

# examples/battery: layers.ReLU (timeseries_classification_from_scratch)
from .activation_layers import ReLU  # noqa: E402

__all__ += ["ReLU"]
