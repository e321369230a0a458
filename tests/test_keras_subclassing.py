"""Layers made of layers, as the Keras guides subclass them: their inner layers' weights are the
layer's (tracked from attributes), built by tracing call when the subclass defines no build,
``training`` passed only to a call that takes it; sequence outputs in sparse cross-entropy."""

import numpy as np
import pytest

from kiln import keras
from kiln.keras import layers


class Residual(layers.Layer):
    """x + ffn(up(x)): a Dense attribute and a Sequential attribute, no build, no output shape."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.up = layers.Dense(2 * width, activation="relu")
        self.ffn = keras.Sequential([layers.Dense(width)])

    def call(self, x):
        return x + self.ffn(self.up(x))


class Embed(layers.Layer):
    def __init__(self, vocab, width, **kwargs):
        super().__init__(**kwargs)
        self.table = layers.Embedding(vocab, width)
        self.seen_training = []

    def call(self, x, training=None):
        self.seen_training.append(training)
        return self.table(x)


def test_inner_layers_weights_are_tracked_and_trained():
    keras.utils.set_random_seed(0)
    ids = keras.Input((5,), dtype="int32")
    embed = Embed(10, 4)
    block = Residual(4)
    x = block(embed(ids))
    model = keras.Model(ids, layers.Dense(10)(x))
    assert [tuple(w.shape) for w in block.weights] == [(4, 8), (8,), (8, 4), (4,)]
    assert len(model.trainable_weights) == 1 + 4 + 2
    assert model.count_params() == 40 + (32 + 8 + 32 + 4) + 50
    assert x.shape == (None, 5, 4)  # traced, not declared
    before = [w.copy() for w in block.get_weights()]
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = np.random.default_rng(0).integers(0, 10, (32, 5))
    history = model.fit(data, data, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not np.array_equal(b, a) for b, a in zip(before, block.get_weights()))
    assert True in embed.seen_training and False in embed.seen_training  # fit trains, the trace does not


def test_a_frozen_inner_layer_is_not_trainable():
    block = Residual(3)
    block(np.zeros((2, 3), np.float32))
    block.up.trainable = False
    assert [tuple(w.shape) for w in block.trainable_weights] == [(6, 3), (3,)]
    assert [tuple(w.shape) for w in block.non_trainable_weights] == [(3, 6), (6,)]


def test_weights_round_trip_through_a_file(tmp_path):
    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, Residual(3)(inputs))
    path = str(tmp_path / "block.weights.h5")
    model.save_weights(path)
    expected = model.predict(np.ones((2, 3), np.float32), verbose=0)
    keras.backend.clear_session()  # the same layer names again
    keras.utils.set_random_seed(2)
    inputs = keras.Input((3,))
    other = keras.Model(inputs, Residual(3)(inputs))
    other.load_weights(path)
    np.testing.assert_allclose(other.predict(np.ones((2, 3), np.float32), verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_crossentropy_over_sequences_is_the_mean_over_positions(from_logits):
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((2, 3, 4)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 3))
    probabilities = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    expected = -np.log(np.take_along_axis(probabilities, labels[..., None], -1)).mean()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    got = loss(labels, keras.ops.convert_to_tensor(scores if from_logits else probabilities))
    assert float(got.item()) == pytest.approx(expected, rel=1e-5)
