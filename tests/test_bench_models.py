"""The bench's models (kiln.bench.models) are the example programs' models: the same parameters,
in the same order and shapes, for kiln and for the PyTorch twins. Only where the source tree's
examples are here (an installed kiln has the bench's copies alone)."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

import kiln
from kiln import keras
from kiln.bench import models

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
TWINS = os.path.join(EXAMPLES, "torch_twins")

pytestmark = [pytest.mark.skipif(not os.path.isdir(TWINS), reason="no source tree examples"),
              pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="the examples need sklearn")]


def load(folder, name, env=None):
    if folder == TWINS and TWINS not in sys.path:
        sys.path.insert(0, TWINS)
    module_name = f"bench_models_test_{os.path.basename(folder)}_{name}_{env or ''}"
    if module_name not in sys.modules:
        previous = os.environ.get("GPT_CHAR_LIB")
        if env:
            os.environ["GPT_CHAR_LIB"] = env
        try:
            spec = importlib.util.spec_from_file_location(module_name, os.path.join(folder, f"{name}.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            if env and previous is None:
                del os.environ["GPT_CHAR_LIB"]
            elif env:
                os.environ["GPT_CHAR_LIB"] = previous
        sys.modules[module_name] = module
    return sys.modules[module_name]


def keras_shapes(model):
    return [tuple(w.shape) for w in model.get_weights()]


def module_shapes(model):
    return [(name.split(".")[-1], tuple(p.shape)) for name, p in model.named_parameters()]


def test_keras_models_match_the_examples():
    assert keras_shapes(models.digits_cnn_keras(keras)) == keras_shapes(load(EXAMPLES, "digits_cnn").build_model())
    assert (keras_shapes(models.tfidf_mlp_keras(keras, 300, 4))
            == keras_shapes(load(EXAMPLES, "tfidf_mlp").build_model(300, 4)))


def test_pytorch_idiom_models_match_the_examples():
    assert module_shapes(models.digits_mlp(kiln)) == module_shapes(load(EXAMPLES, "digits_mlp").MLP())
    sizes = dict(vocab=11, context=16, width=32, layers=2, heads=2)
    ours = models.gpt(kiln, **sizes)
    theirs = load(EXAMPLES, "gpt_char", env="kiln").GPT(**sizes)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert module_shapes(ours) == module_shapes(theirs)


def test_next_word_model_matches_the_example_and_its_data_the_examples_layout():
    rng = np.random.default_rng(0)
    ids, labels = models.next_word_data(rng, vocab=50, context=6, samples=40)
    assert ids.shape == (40, 6) and labels.shape == (40,) and ids.dtype == np.int64
    assert ids.min() == 0 and ids.max() < 50 and labels.min() >= 1
    lead = ids == 0  # left padding: every zero comes before the first word
    assert all((~row[np.argmin(row):]).all() or not row.any() for row in lead)
    model = models.next_word_keras(keras, 50, 6, 8, 16)
    assert keras_shapes(model) == [(50, 8), (8, 64), (16, 64), (64,), (16, 50), (50,)]


torch = pytest.importorskip("torch")


def test_pytorch_twins_match():
    assert module_shapes(models.digits_cnn_torch(torch)) == module_shapes(
        load(TWINS, "digits_cnn").keras_init_(load(TWINS, "digits_cnn").DigitsCNN()))
    assert module_shapes(models.tfidf_mlp_torch(torch, 300, 4)) == module_shapes(
        load(TWINS, "tfidf_mlp").build_model(300, 4))
    assert module_shapes(models.next_word_torch(torch, 50, 8, 16)) == module_shapes(
        load(TWINS, "next_word_lstm").NextWordLSTM(50, 8, 16))
    assert module_shapes(models.digits_mlp(torch)) == module_shapes(load(TWINS, "digits_mlp").MLP())


def test_pytorch_twins_start_as_keras_starts():
    torch.manual_seed(0)
    ours = models.next_word_torch(torch, 50, 8, 16)
    torch.manual_seed(0)
    keras_like = load(TWINS, "next_word_lstm")
    theirs = keras_like.keras_init_(keras_like.NextWordLSTM(50, 8, 16))
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert torch.equal(a, b), name
