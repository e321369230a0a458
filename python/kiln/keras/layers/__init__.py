"""``kiln.keras.layers``: the Keras layers over kiln's kernels."""

from .base import KerasTensor, Layer
from .convolutional import AveragePooling2D, AvgPool2D, Conv2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from .embedding import Embedding
from .recurrent import LSTM
# gru
from .rnn import GRU, Bidirectional, SimpleRNN

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten", "Dropout",
           "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "Embedding", "LSTM",
           # gru
           "GRU", "SimpleRNN", "Bidirectional"]
