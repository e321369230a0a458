"""What the PyTorch twins of the Keras examples share: Keras's initialisation, Adam, and data.

A twin must train the same model as its Keras example, so its weights start as Keras
starts them (glorot-uniform kernels, zero biases, orthogonal recurrent kernels, a forget
gate bias of 1, embeddings uniform in +-0.05) and Adam takes Keras's epsilon (1e-7).
Where an example builds its data (a generated corpus, tokenised and padded), the twin
imports that function from the example, so both train on identical arrays; only the
model and the training loop are written in PyTorch.
"""

import importlib
import os
import sys

import torch
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def import_example(name: str):
    """The module examples/<name>.py (which imports kiln from the source tree for its data prep)."""
    for path in (os.path.join(REPO, "python"), os.path.join(REPO, "examples")):
        if path not in sys.path:
            sys.path.insert(0, path)
    return importlib.import_module(name)


def keras_init_(model: nn.Module) -> nn.Module:
    """Re-initialise ``model``'s Linear, Conv2d, Embedding and LSTM layers as Keras does."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
        elif isinstance(module, nn.LSTM):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias_ih"):
                    nn.init.zeros_(param)
                    with torch.no_grad():
                        param[hidden:2 * hidden] = 1.0
                elif name.startswith("bias_hh"):
                    nn.init.zeros_(param)
    return model


def keras_adam(params, lr=1e-3):
    """``keras.optimizers.Adam()``: torch's Adam with Keras's defaults."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)
