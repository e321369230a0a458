"""Plumbing shared by the battery programs: the library switch, local data, the RESULT line.

Every program in this folder is a program from the PyTorch or Keras projects' own examples,
tutorials or guides, adapted to data made on this machine (there is no network). The one
switch between libraries is ``--lib``, read here before the program's import lines; the data
(generated with fixed NumPy seeds, independent of ``--seed``) is the same for both libraries.

``report`` prints one machine-readable line, ``RESULT {json}``, read by ``run.py``, and keeps
the same dictionary in ``LAST`` for the in-process short runs of tests/test_battery.py.
"""

import argparse
import json
import time

import numpy as np

LAST: dict | None = None


def parse(libs: tuple[str, str], description: str, epochs: int, **extra) -> argparse.Namespace:
    """The common command line: --lib, --epochs, --seed, --quick, plus ``extra`` name=default options."""
    parser = argparse.ArgumentParser(description=(description or "").split("\n")[0])
    parser.add_argument("--lib", choices=libs, default=libs[0], help="the library to run on")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a few batches only (the test suite's short run)")
    for name, default in extra.items():
        if default is False:
            parser.add_argument("--" + name.replace("_", "-"), action="store_true")
            continue
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    return parser.parse_args()


class Clock:
    """Wall time of the training loop only (not imports, data making or the final evaluation)."""

    def __init__(self):
        self.seconds = 0.0
        self._start = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start


def report(metric: str, value: float, first_loss: float, last_loss: float, seconds: float, **more) -> dict:
    """Print and keep the program's outcome; ``metric`` names ``value`` (accuracy, mse, loss...)."""
    global LAST
    LAST = {"metric": metric, "value": float(value), "first_loss": float(first_loss),
            "last_loss": float(last_loss), "train_seconds": round(float(seconds), 3), **more}
    print("RESULT " + json.dumps(LAST), flush=True)
    return LAST


# ---------------------------------------------------------------------------------------------
# Data. Each maker is deterministic (its own NumPy generator) so both libraries see the same.


def digits(image_size: int = 8, test_fraction: float = 0.25):
    """scikit-learn's 8x8 handwritten digits (1797 images) in [0, 1], split 75/25 (stratified).

    ``image_size`` 16 or 24 repeats each pixel (nearest-neighbour upscaling) so convolution and
    pooling stacks written for MNIST's 28x28 keep a useful spatial size.
    Returns x_train, y_train, x_test, y_test: float32 (n, size, size), int64 (n,).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)
    factor = image_size // 8
    if factor > 1:
        x = np.kron(x, np.ones((1, factor, factor), dtype=np.float32))
    x_train, x_test, y_train, y_test = train_test_split(
        x, data.target.astype(np.int64), test_size=test_fraction, random_state=0, stratify=data.target)
    return x_train, y_train, x_test, y_test


def sine_waves(n: int = 100, length: int = 1000, period: int = 20):
    """pytorch/examples time_sequence_prediction/generate_sine_wave.py: n shifted sine waves, float64 (n, length)."""
    rng = np.random.RandomState(2)
    x = np.arange(length) + rng.randint(-4 * period, 4 * period, n).reshape(n, 1)
    return np.sin(x / 1.0 / period).astype(np.float64)


_NOUNS = ["cat", "dog", "bird", "child", "teacher", "farmer", "king", "queen", "river", "city", "house", "garden",
          "ship", "horse", "doctor", "painter", "village", "forest", "mountain", "road"]
_VERBS = ["sees", "likes", "finds", "follows", "builds", "paints", "visits", "helps", "watches", "leaves"]
_ADJECTIVES = ["old", "young", "small", "big", "quiet", "happy", "red", "dark", "bright", "tired"]
_PLACES = ["near the river", "in the city", "on the road", "by the house", "under the bridge", "in the forest"]


def grammar_corpus(n_sentences: int, seed: int = 0) -> list[str]:
    """Sentences from a small English-like grammar (determiner, adjective, noun, verb, object,
    an optional place), one per line: text with structure a language model can learn."""
    rng = np.random.RandomState(seed)
    lines = []
    for _ in range(n_sentences):
        words = ["the"]
        if rng.rand() < 0.5:
            words.append(_ADJECTIVES[rng.randint(len(_ADJECTIVES))])
        words += [_NOUNS[rng.randint(len(_NOUNS))], _VERBS[rng.randint(len(_VERBS))], rng.choice(["the", "a"])]
        if rng.rand() < 0.3:
            words.append(_ADJECTIVES[rng.randint(len(_ADJECTIVES))])
        words.append(_NOUNS[rng.randint(len(_NOUNS))])
        if rng.rand() < 0.4:
            words += _PLACES[rng.randint(len(_PLACES))].split()
        lines.append(" ".join(words))
    return lines


_POSITIVE = ["good", "great", "wonderful", "brilliant", "moving", "charming", "superb", "delightful", "gripping",
             "beautiful", "clever", "funny", "touching", "memorable", "stunning", "excellent", "enjoyable"]
_NEGATIVE = ["bad", "boring", "dull", "awful", "terrible", "clumsy", "predictable", "bland", "tedious", "weak",
             "messy", "forgettable", "painful", "lifeless", "confusing", "shallow", "lazy"]
_SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the cast",
             "the story", "the dialogue", "the script", "the lead actor", "the pacing", "the direction"]
_FILLER = ["i watched it on a sunday", "my friend recommended it", "it runs two hours", "the cinema was full",
           "there is a long car chase", "it is based on a novel", "the sequel comes out next year",
           "we saw it in the evening", "the trailer showed most of it", "it was filmed in spain"]


def reviews(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Movie reviews of three to eight sentences, most of them neutral filler, with one or two
    judgements (about a third negated: "the plot was not dull"). Balanced labels 1/0, int64."""
    rng = np.random.RandomState(seed)
    texts, labels = [], np.zeros(n, dtype=np.int64)
    for i in range(n):
        positive = i % 2 == 0
        labels[i] = int(positive)
        sentences = [_FILLER[rng.randint(len(_FILLER))] for _ in range(rng.randint(2, 7))]
        for _ in range(rng.randint(1, 3)):
            subject = _SUBJECTS[rng.randint(len(_SUBJECTS))]
            if rng.rand() < 0.3:
                word = (_NEGATIVE if positive else _POSITIVE)[rng.randint(17)]
                judgement = f"{subject} was not {word}"
            else:
                word = (_POSITIVE if positive else _NEGATIVE)[rng.randint(17)]
                judgement = f"{subject} was {word}"
            sentences.insert(rng.randint(len(sentences) + 1), judgement)
        texts.append(". ".join(sentences) + ".")
    order = rng.permutation(n)
    return [texts[j] for j in order], labels[order]


_NAME_PARTS = {
    "English": (["th", "sm", "w", "b", "h", "r", "j", "m"], ["o", "i", "a", "e"], ["son", "ley", "ton", "wood", "er"]),
    "Italian": (["r", "b", "c", "m", "g", "l", "f"], ["o", "a", "i", "e"], ["ini", "etti", "ano", "ello", "ucci"]),
    "Japanese": (["t", "k", "s", "n", "y", "h", "m"], ["a", "o", "u", "i"], ["moto", "mura", "kawa", "ta", "shi"]),
    "Russian": (["v", "p", "s", "k", "iv", "d", "z"], ["o", "a", "e", "i"], ["ov", "ev", "sky", "enko", "in"]),
    "Greek": (["p", "k", "n", "g", "th", "al", "d"], ["a", "o", "e", "i"], ["opoulos", "akis", "idis", "as", "os"]),
}


def names(n_per_language: int, seed: int = 0) -> list[tuple[str, str]]:
    """Surname-like strings in five made-up "languages" (each a set of onsets, vowels and
    endings), as (language, name) pairs: the shape of the PyTorch tutorial's names data."""
    rng = np.random.RandomState(seed)
    out = []
    for language, (onsets, vowels, endings) in _NAME_PARTS.items():
        for _ in range(n_per_language):
            syllables = "".join(onsets[rng.randint(len(onsets))] + vowels[rng.randint(len(vowels))]
                                for _ in range(rng.randint(1, 3)))
            out.append((language, (syllables + endings[rng.randint(len(endings))]).capitalize()))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def wave_classes(n: int, length: int = 500, seed: int = 0):
    """A two-class time-series set with FordA's shape (n, length) float32, labels 0/1: noisy
    sums of sines; class 1 carries a short burst at a random place. Standardised per series."""
    rng = np.random.RandomState(seed)
    t = np.arange(length)
    y = rng.randint(0, 2, n).astype(np.int64)
    freq = rng.uniform(0.01, 0.05, (n, 1))
    x = np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3, (n, 1))) + 0.5 * rng.randn(n, length)
    for i in np.nonzero(y)[0]:
        start = rng.randint(0, length - 40)
        x[i, start:start + 40] += 1.5 * np.sin(np.linspace(0, 6 * np.pi, 40))
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return x.astype(np.float32), y


def imdb_like(n_train: int, n_test: int, num_words: int):
    """``reviews`` as keras.datasets.imdb.load_data gives reviews: lists of word indices ranked by
    frequency, offset by index_from=3 (1 starts a review, 2 is out of vocabulary), words ranked
    at num_words or beyond replaced by 2. Returns (x_train, y_train), (x_test, y_test)."""
    texts, labels = reviews(n_train + n_test, seed=1)
    tokens = [t.replace(".", " ").split() for t in texts]
    counts: dict[str, int] = {}
    for words in tokens[:n_train]:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    rank = {w: i + 1 for i, w in enumerate(sorted(counts, key=lambda w: (-counts[w], w)))}
    seqs = []
    for words in tokens:
        ids = [1] + [rank.get(w, 0) + 3 if rank.get(w) else 2 for w in words]
        seqs.append([i if i < num_words else 2 for i in ids])
    return (seqs[:n_train], labels[:n_train]), (seqs[n_train:], labels[n_train:])
