"""``kiln.keras.layers``: the Keras layers over kiln's kernels."""

from .base import KerasTensor, Layer
from .convolutional import AveragePooling2D, AvgPool2D, Conv2D, MaxPool2D, MaxPooling2D
from .core import Activation, Dense, Dropout, Flatten, Input, InputLayer
from .embedding import Embedding
from .recurrent import LSTM
# structure of models (kstruct): reshaping, merging, preprocessing, Lambda
from .lambda_layer import Lambda
from .merging import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      dot, maximum, minimum, multiply, subtract)
from .preprocessing import Normalization, Rescaling, TextVectorization
from .reshaping import Permute, RepeatVector, Reshape
# attention
from .attention import MultiHeadAttention
# gru
from .rnn import GRU, Bidirectional, SimpleRNN

__all__ = ["Layer", "KerasTensor", "Input", "InputLayer", "Dense", "Activation", "Flatten", "Dropout",
           "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "Embedding", "LSTM"]
# structure of models (kstruct)
__all__ += ["Reshape", "Permute", "RepeatVector", "Rescaling", "Normalization", "TextVectorization", "Lambda", "Add",
            "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "add", "subtract",
            "multiply", "average", "maximum", "minimum", "concatenate", "dot"]
# attention
__all__ += ["MultiHeadAttention"]

# normalization
from .normalization import BatchNormalization, LayerNormalization  # noqa: E402

__all__ += ["LayerNormalization", "BatchNormalization"]
# gru
__all__ += ["GRU", "SimpleRNN", "Bidirectional"]
