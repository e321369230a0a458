"""keras.datasets.imdb: 25000 + 25000 movie reviews as lists of word indices, labels 0/1."""

from __future__ import annotations

import json

import numpy as np

from ._cache import load_npz, locate

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _remove_long(maxlen: int, seqs, labels):
    kept = [(x, y) for x, y in zip(seqs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def load_data(path: str = "imdb.npz", num_words=None, skip_top: int = 0, maxlen=None, seed: int = 113,
              start_char: int = 1, oov_char: int = 2, index_from: int = 3, **kwargs):
    """((x_train, y_train), (x_test, y_test)) as Keras returns them: x object arrays of lists of
    word ids (shuffled with ``seed``, each list starting with ``start_char``, ids shifted by
    ``index_from``, ids outside [skip_top, num_words) replaced by ``oov_char``; reviews not
    shorter than ``maxlen`` dropped), y int arrays."""
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected keyword arguments {sorted(kwargs)}")
    file = locate("imdb.load_data", path, ORIGIN + "imdb.npz")
    arrays = load_npz(file, ("x_train", "y_train", "x_test", "y_test"))
    x_train, labels_train = arrays["x_train"], arrays["y_train"]
    x_test, labels_test = arrays["x_test"], arrays["y_test"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [list(x) for x in x_train]
        x_test = [list(x) for x in x_test]
    if maxlen:
        x_train, labels_train = _remove_long(maxlen, x_train, labels_train)
        x_test, labels_test = _remove_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: after filtering for sequences shorter than maxlen={maxlen}, no "
                             "sequence was kept; increase maxlen")
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs if x)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    cut = len(x_train)
    out_train, out_test = np.empty(cut, dtype=object), np.empty(len(xs) - cut, dtype=object)
    out_train[:], out_test[:] = xs[:cut], xs[cut:]
    return (out_train, labels[:cut]), (out_test, labels[cut:])


def get_word_index(path: str = "imdb_word_index.json") -> dict:
    """{word: index} from Keras's imdb_word_index.json."""
    file = locate("imdb.get_word_index", path, ORIGIN + "imdb_word_index.json")
    with open(file) as f:
        return json.load(f)
