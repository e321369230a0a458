"""``kiln.keras``: the Keras idiom over kiln's layers and kernels.

Change ``from tensorflow import keras`` (or ``import keras``) to ``from kiln import keras``:
``Sequential``, ``Model`` (functional API and subclassing), ``layers``, ``compile``, ``fit``,
``evaluate``, ``predict``, ``summary``, ``save``/``load_model``, callbacks, metrics, optimizers
and their schedules, utils (PyDataset), random, backend/config and datasets (from Keras's cache).
"""

from . import (backend, callbacks, config, datasets, initializers, layers, losses, metrics, models, ops, optimizers,
               preprocessing, random, utils)
from .layers import Input
from .models import Model, Sequential
from .loading import load_model

__all__ = ["Sequential", "Model", "Input", "layers", "losses", "metrics", "optimizers", "callbacks",
           "initializers", "preprocessing", "utils", "models", "ops", "load_model", "backend", "config", "datasets",
           "random"]
