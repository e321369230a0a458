"""``kiln.nn``: layers, losses and containers in the PyTorch idiom."""

from . import functional, init, utils
from .activation import (CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Mish,
                         ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Softsign, Tanh)
from .containers import ModuleDict, ParameterDict, ParameterList
from .distance import CosineSimilarity, PairwiseDistance
from .conv import Conv2d
from .embedding import Embedding
from .linear import Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .module import Identity, Module, ModuleList, Parameter, Sequential
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, Upsample
from .recurrent import LSTM, LSTMCell
from .regularization import Dropout, Dropout2d, Flatten, Unflatten
# attention
from .attention import MultiheadAttention
# conv/pool breadth
from .conv import Conv1d, ConvTranspose1d, ConvTranspose2d
from .pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d, MaxPool1d
# gru
from .recurrent import GRU, RNN, GRUCell, RNNCell

__all__ = [
    "functional", "init", "utils", "Module", "Parameter", "Sequential", "ModuleList", "Identity",
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample", "Flatten", "Dropout", "Dropout2d",
    "Embedding", "LSTM", "LSTMCell",
    "ReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax",
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss",
    "KLDivLoss", "ModuleDict", "ParameterList", "ParameterDict", "Unflatten", "CosineSimilarity", "PairwiseDistance",
    "LeakyReLU", "ELU", "CELU", "SELU", "SiLU", "Mish", "Softplus", "Softsign", "Hardtanh", "ReLU6", "Hardsigmoid",
    "Hardswish", "LogSigmoid",
    # attention
    "MultiheadAttention",
    # conv/pool breadth
    "Conv1d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "AvgPool1d", "AdaptiveMaxPool2d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d",
    # gru
    "GRU", "GRUCell", "RNN", "RNNCell",
]

# normalization
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, LayerNorm  # noqa: E402

__all__ += ["LayerNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
