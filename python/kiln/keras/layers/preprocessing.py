"""Rescaling, Normalization and TextVectorization (keras/src/layers/preprocessing/).

kiln has no tf.data: ``adapt`` takes NumPy arrays, Python lists, or an iterable of such batches.
TextVectorization works on strings in NumPy (its output, indices or per-token weights, is a
Tensor), so it can be the first layer of a model fed with arrays of strings, or run before it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter

import numpy as np

from ...autograd import no_grad
from ...tensor import Tensor
from .base import KerasTensor, Layer, _to_tensor, check_config

_EPSILON = 1e-7  # Keras's backend epsilon: the least standard deviation Normalization divides by


# ---- Rescaling ------------------------------------------------------------------------------------

class Rescaling(Layer):
    """inputs * scale + offset, as float32 (``Rescaling(1 / 255)`` for uint8 images)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset
        for what, value in (("scale", scale), ("offset", offset)):
            arr = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"Rescaling: {what} must be finite numbers, got {value!r}")

    def _constant(self, value, like):
        if isinstance(value, numbers.Real):
            return float(value)
        return _to_tensor(np.asarray(value, np.float32), like.device.type)

    def call(self, inputs, training=None):
        x = inputs if inputs.dtype == np.float32 else inputs.float()
        return x * self._constant(self.scale, x) + self._constant(self.offset, x)

    def get_config(self):
        def plain(v):
            return float(v) if isinstance(v, numbers.Real) else np.asarray(v, np.float64).tolist()
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


# ---- Normalization --------------------------------------------------------------------------------

def _axes(axis) -> tuple:
    if axis is None:
        return ()
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return (int(axis),)
    if isinstance(axis, (list, tuple)) and all(isinstance(a, numbers.Integral) and not isinstance(a, bool)
                                               for a in axis):
        return tuple(int(a) for a in axis)
    raise TypeError(f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}")


class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), 1e-7) per index of the kept ``axis`` (default -1, the features).

    ``mean`` and ``variance`` given: constants (in the config). Else ``adapt(data)`` learns them
    (the population variance over every axis but ``axis``) into non-trainable weights "mean",
    "variance" (shape: the kept axes) and "count" (1,), as Keras's (whose count is 0-d, and
    stays 0). ``invert=True`` maps back: mean + x * max(sqrt(variance), 1e-7).
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both mean and variance, or neither (and adapt)")
        self.input_mean = None if mean is None else np.asarray(mean, np.float32)
        self.input_variance = None if variance is None else np.asarray(variance, np.float32)
        if self.input_variance is not None and np.any(self.input_variance < 0):
            raise ValueError("Normalization: variance must be >= 0")
        self.invert = bool(invert)

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"{self.name}: axis {self.axis} is outside inputs of shape {tuple(input_shape)}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"{self.name}: the kept axes {self._keep} of the inputs {tuple(input_shape)} "
                             "must be known")
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        shape = tuple(input_shape[a] for a in self._keep) or (1,)  # axis=None: (1,), as kiln.io stores no 0-d array
        if self.input_mean is None:
            self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (1,), "zeros", trainable=False)  # (1,): kiln.io stores no 0-d arrays
        self.built = True

    def _statistics(self, device: str):
        if self.input_mean is not None:
            mean = np.broadcast_to(self._aligned(self.input_mean), self._broadcast)
            variance = np.broadcast_to(self._aligned(self.input_variance), self._broadcast)
            return _to_tensor(np.ascontiguousarray(mean), device), _to_tensor(np.ascontiguousarray(variance), device)
        return self.mean.reshape(*self._broadcast), self.variance.reshape(*self._broadcast)

    def _aligned(self, value: np.ndarray) -> np.ndarray:
        """A given mean/variance shaped to broadcast: its axes aligned with the kept axes, from the right."""
        if value.ndim == 0:
            return value
        shape = [1] * len(self._broadcast)
        for axis, size in zip(reversed(self._keep), reversed(value.shape)):
            shape[axis] = size
        return value.reshape(shape)

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the mean and variance of ``data`` (an array, or an iterable of array batches)."""
        if self.input_mean is not None:
            raise ValueError(f"{self.name}: cannot adapt a Normalization given its mean and variance")

        def host(batch):
            return np.asarray(batch.numpy(force=True) if isinstance(batch, Tensor) else batch, np.float64)

        # as Keras: an array, list or tuple is the data itself; any other iterable yields batches
        if isinstance(data, (np.ndarray, list, tuple, Tensor)):
            batches = [host(data)]
        else:
            batches = [host(b) for i, b in enumerate(data) if steps is None or i < steps]
        if not batches or batches[0].ndim == 0:
            raise ValueError(f"{self.name}: adapt needs data with a batch axis")
        first = batches[0]
        if first.ndim == 1:  # a vector of samples of one feature
            batches = [b.reshape(-1, 1) for b in batches]
        with no_grad():
            self._maybe_build((None,) + batches[0].shape[1:])
        values = np.concatenate(batches)
        reduce = tuple(d for d in range(values.ndim) if d not in self._keep)
        mean = values.mean(axis=reduce)
        variance = values.var(axis=reduce)
        with no_grad():  # "count" stays 0, as Keras 3 leaves it (a weight kept for old files)
            self.mean.copy_(mean.astype(np.float32).reshape(self.mean.shape))
            self.variance.copy_(variance.astype(np.float32).reshape(self.variance.shape))

    def call(self, inputs, training=None):
        x = inputs if inputs.dtype == np.float32 else inputs.float()
        mean, variance = self._statistics(x.device.type)
        from ... import tensor_ops

        std = tensor_ops.maximum(variance.sqrt(), _EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def get_config(self):
        config = {**super().get_config(), "axis": list(self.axis),  # Keras's tuple: [] for axis=None
                  "invert": self.invert}
        if self.input_mean is not None:
            config["mean"] = self.input_mean.tolist()
            config["variance"] = self.input_variance.tolist()
        return config


# ---- TextVectorization ----------------------------------------------------------------------------

_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # Keras's DEFAULT_STRIP_REGEX
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MODES = ("int", "multi_hot", "count", "tf_idf")
_MAX_VOCABULARY = 2**31 - 1
_MAX_NGRAM = 64  # n-grams of up to 64 tokens: a config cannot ask for a billion widths


class TextVectorization(Layer):
    """Strings (batch,) or (batch, 1) -> token indices (batch, T) int64, or per-token weights
    (batch, vocabulary size) float32 ("multi_hot", "count", "tf_idf"), as Keras 3's.

    Each string is standardized ("lower_and_strip_punctuation": ASCII letters lowered and
    Keras's punctuation removed; "lower"; "strip_punctuation"; None; or a callable str -> str),
    split ("whitespace", "character", None, or a callable str -> list of str), and its
    ``ngrams`` (an int n: 1..n; a tuple of sizes) added, joined with " ".

    ``adapt(data)`` counts tokens; the vocabulary is the most frequent first, ties broken by the
    token (high to low), after the special tokens: "" (padding, index 0) and "[UNK]" (out of
    vocabulary, index 1) for "int", "[UNK]" (index 0) for the others; ``max_tokens`` caps the
    whole. "int" pads rows with 0 to ``output_sequence_length`` (cutting longer rows), or to the
    batch's longest row. "tf_idf" weighs each token's count by log(1 + documents / (1 +
    documents holding the token)), "[UNK]" by the mean of those weights.
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens: bool = False, vocabulary=None,
                 idf_weights=None, sparse: bool = False, ragged: bool = False, encoding="utf-8", name=None,
                 vocabulary_size=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if sparse or ragged:
            raise NotImplementedError("TextVectorization: sparse and ragged outputs need TensorFlow's tensors; "
                                      "kiln's are dense")
        if encoding not in ("utf-8", "UTF-8"):
            raise ValueError(f"TextVectorization: kiln reads Python strings (utf-8), got encoding={encoding!r}")
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        if output_mode not in _MODES:
            raise ValueError(f"TextVectorization: output_mode must be one of {_MODES}, got {output_mode!r}")
        if not (standardize is None or callable(standardize) or standardize in
                ("lower_and_strip_punctuation", "lower", "strip_punctuation")):
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}")
        if not (split is None or callable(split) or split in ("whitespace", "character")):
            raise ValueError(f"TextVectorization: unknown split {split!r}")
        def gram(n):
            return isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= _MAX_NGRAM

        if ngrams is not None and not gram(ngrams) and not (
                isinstance(ngrams, (tuple, list)) and 0 < len(ngrams) <= _MAX_NGRAM and all(gram(n) for n in ngrams)):
            raise ValueError(f"TextVectorization: ngrams must be None, an int in [1, {_MAX_NGRAM}] or a tuple of "
                             f"them, got {ngrams!r}")
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError("TextVectorization: output_sequence_length is only for output_mode='int'")
            if not isinstance(output_sequence_length, int) or isinstance(output_sequence_length, bool) or \
                    not 0 <= output_sequence_length <= _MAX_VOCABULARY:
                raise ValueError(f"TextVectorization: output_sequence_length must be an int >= 0, got "
                                 f"{output_sequence_length!r}")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                       or not 1 <= max_tokens <= _MAX_VOCABULARY):
            raise ValueError(f"TextVectorization: max_tokens must be None or an int >= 1, got {max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None and output_mode != "int":
            raise ValueError("TextVectorization: pad_to_max_tokens needs max_tokens")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.ngrams_arg = list(ngrams) if isinstance(ngrams, (list, tuple)) else ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else \
            (tuple(ngrams) if ngrams is not None else None)
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._special = ["", "[UNK]"] if output_mode == "int" else ["[UNK]"]
        self._tokens: list[str] = []  # the learned (or given) vocabulary, special tokens left out
        self._index: dict[str, int] = {}
        self._idf: np.ndarray | None = None  # per token of _tokens
        self._has_input_vocabulary = vocabulary is not None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights come with a vocabulary")

    # ---- the text pipeline ------------------------------------------------------------------------

    def _standardized(self, text: str) -> str:
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_ASCII_LOWER)  # tf.strings.lower lowers ASCII letters only
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _PUNCTUATION.sub("", text)
        if callable(self.standardize):
            text = self.standardize(text)
        return text

    def _tokenize(self, text: str) -> list[str]:
        text = self._standardized(text)
        if self.split == "whitespace":
            tokens = [t for t in _WHITESPACE.split(text) if t]
        elif self.split == "character":
            tokens = list(text)
        elif callable(self.split):
            tokens = list(self.split(text))
        else:
            tokens = [text]
        if self._ngrams is None:
            return tokens
        return [" ".join(tokens[i:i + n]) for n in self._ngrams for i in range(len(tokens) - n + 1)]

    def _documents(self, data) -> list[str]:
        arr = np.asarray(data.numpy(force=True) if isinstance(data, Tensor) else data, dtype=object)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError(f"{self.name}: TextVectorization takes strings of shape (batch,) or (batch, 1), got "
                             f"shape {arr.shape}")
        docs = []
        for value in arr:
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            if not isinstance(value, str):
                raise TypeError(f"{self.name}: TextVectorization takes strings, got {type(value).__name__}")
            docs.append(value)
        return docs

    # ---- the vocabulary ---------------------------------------------------------------------------

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary (and for "tf_idf" the document frequencies) from ``data``: an array or
        list of strings, or an iterable of such batches (``steps`` of them)."""
        if self._has_input_vocabulary:
            raise ValueError(f"{self.name}: cannot adapt a TextVectorization given its vocabulary")
        if isinstance(data, (str, bytes)) or isinstance(data, (np.ndarray, Tensor)) or (
                isinstance(data, (list, tuple)) and all(isinstance(d, (str, bytes)) for d in data)):
            batches = [data]
        else:
            batches = list(data)[:steps] if steps is not None else list(data)
        counts, document_counts, documents = Counter(), Counter(), 0
        for batch in batches:
            for doc in self._documents(batch):
                tokens = self._tokenize(doc)
                counts.update(tokens)
                if self.output_mode == "tf_idf":
                    document_counts.update(set(tokens))
                documents += 1
        for special in self._special:
            counts.pop(special, None)
        # by count, high to low, ties by the token, high to low (Keras's lexsort, reversed)
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - len(self._special), 0)]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            self._idf = np.array([math.log(1 + documents / (1 + document_counts[t])) for t in tokens], np.float64)

    def _set_tokens(self, tokens: list) -> None:
        self._tokens = list(tokens)
        self._index = {t: i + len(self._special) for i, t in enumerate(self._tokens)}

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary (the special tokens at its start may be given or left out) and, for
        "tf_idf", one idf weight per token given."""
        tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in
                  (vocabulary.tolist() if isinstance(vocabulary, np.ndarray) else list(vocabulary))]
        if not tokens or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{self.name}: the vocabulary must be a non-empty list of strings")
        given = len(tokens)
        if tokens[:len(self._special)] == self._special:
            tokens = tokens[len(self._special):]
        repeated = sorted(t for t, c in Counter(tokens).items() if c > 1)
        if repeated:
            raise ValueError(f"{self.name}: the vocabulary repeats {repeated[:5]}")
        if "" in tokens:
            raise ValueError(f"{self.name}: the vocabulary holds the padding token '' after the start")
        if self.max_tokens is not None and len(tokens) + len(self._special) > self.max_tokens:
            raise ValueError(f"{self.name}: a vocabulary of {len(tokens) + len(self._special)} tokens (with the "
                             f"special ones) is more than max_tokens={self.max_tokens}")
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{self.name}: output_mode='tf_idf' with a vocabulary needs idf_weights")
            idf = np.asarray(idf_weights, np.float64).reshape(-1)
            if idf.size != given or not np.all(np.isfinite(idf)):
                raise ValueError(f"{self.name}: idf_weights must be {given} finite numbers (one per vocabulary "
                                 f"entry), got {idf.size}")
            self._idf = idf[given - len(tokens):]
        elif idf_weights is not None:
            raise ValueError(f"{self.name}: idf_weights are only for output_mode='tf_idf'")
        self._set_tokens(tokens)
        self._has_input_vocabulary = True

    def vocabulary_size(self) -> int:
        return len(self._special) + len(self._tokens)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return (list(self._special) if include_special_tokens else []) + list(self._tokens)

    def _depth(self) -> int:
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        if not self._tokens:
            raise RuntimeError(f"{self.name}: output_mode={self.output_mode!r} needs a vocabulary: adapt() the "
                               "layer or pass vocabulary= first")
        return self.vocabulary_size()

    def _idf_weights(self, depth: int) -> np.ndarray:
        """The weight of each output index: [UNK] the mean, the tokens theirs, the padding 0."""
        learned = self._idf if self._idf is not None and self._idf.size else np.zeros(0)
        out = np.zeros(depth, np.float64)
        out[0] = learned.mean() if learned.size else 0.0
        n = min(learned.size, depth - 1)
        out[1:1 + n] = learned[:n]
        return out

    # ---- calling ----------------------------------------------------------------------------------

    def __call__(self, inputs, training=None, **kwargs):
        if not isinstance(inputs, KerasTensor) and isinstance(inputs, (list, tuple, str, bytes)):
            inputs = np.asarray(inputs, dtype=object)  # strings stay strings: kiln's Tensors hold numbers
        return super().__call__(inputs, training=training, **kwargs)

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._depth())

    def call(self, inputs, training=None):
        docs = self._documents(inputs)
        oov = len(self._special) - 1  # "[UNK]": 1 in "int" mode (after the padding ""), else 0
        rows = [[self._index.get(t, oov) for t in self._tokenize(doc)] for doc in docs]
        if self.output_mode == "int":
            length = self.output_sequence_length if self.output_sequence_length is not None else \
                max([len(r) for r in rows] + [0])
            out = np.zeros((len(rows), length), np.int64)
            for i, row in enumerate(rows):
                row = row[:length]
                out[i, :len(row)] = row
            return _to_tensor(out)
        depth = self._depth()
        out = np.zeros((len(rows), depth), np.float64)
        for i, row in enumerate(rows):
            np.add.at(out[i], np.asarray(row, np.int64), 1)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1)
        elif self.output_mode == "tf_idf":
            out = out * self._idf_weights(depth)
        return _to_tensor(out.astype(np.float32))

    def get_config(self):
        for what in ("standardize", "split"):
            if callable(getattr(self, what)):
                raise NotImplementedError(f"{self.name}: a callable {what} is code, which kiln's model files do "
                                          "not hold; save the weights, or pass a named mode")
        config = {**super().get_config(), "max_tokens": self.max_tokens, "standardize": self.standardize,
                  "split": self.split, "ngrams": self.ngrams_arg, "output_mode": self.output_mode,
                  "output_sequence_length": self.output_sequence_length,
                  "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": False, "ragged": False,
                  "vocabulary": list(self._tokens) if self._tokens else None,
                  "idf_weights": None, "encoding": "utf-8", "vocabulary_size": self.vocabulary_size()}
        if self.output_mode == "tf_idf" and self._tokens:
            config["idf_weights"] = [float(v) for v in self._idf]
        return config

    @classmethod
    def from_config(cls, config):
        config = check_config(cls.__name__, config)
        vocabulary = config.get("vocabulary")
        if vocabulary is not None and not (isinstance(vocabulary, list)
                                           and all(isinstance(t, str) for t in vocabulary)):
            raise TypeError(f"{cls.__name__}.from_config: vocabulary must be a list of strings")
        return cls(**config)
