"""keras.datasets: mnist, fashion_mnist, cifar10, imdb, read from Keras's cache, never downloaded.

``load_data()`` reads the file Keras itself would have downloaded, where Keras keeps it:
``$KERAS_HOME/datasets/`` (``~/.keras/datasets/`` without KERAS_HOME). kiln has no network
access; when the file is missing the error names the file, the folder to put it in and the
address it comes from. Results are Keras's: the same arrays, dtypes and shapes.
"""

from . import cifar10, fashion_mnist, imdb, mnist

__all__ = ["mnist", "fashion_mnist", "cifar10", "imdb"]
