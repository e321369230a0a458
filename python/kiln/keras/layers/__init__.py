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

# conv/pool breadth
from .conv_pool import (AveragePooling1D, AvgPool1D, Conv1D, Conv2DTranspose, GlobalAveragePooling1D,
                        GlobalAveragePooling2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                        GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPool1D, MaxPooling1D, UpSampling2D)

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
# conv/pool breadth
__all__ += ["Conv1D", "Conv2DTranspose", "MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D",
            "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalAveragePooling2D", "GlobalAvgPool2D",
            "GlobalMaxPooling1D", "GlobalMaxPool1D", "GlobalMaxPooling2D", "GlobalMaxPool2D", "UpSampling2D"]

# examples/battery: layers.ReLU (timeseries_classification_from_scratch)
from .activation_layers import ReLU  # noqa: E402

__all__ += ["ReLU"]
# gru
__all__ += ["GRU", "SimpleRNN", "Bidirectional"]
