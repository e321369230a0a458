"""The Keras idiom: layers, models (Sequential, functional, subclassed), compile/fit/evaluate/predict."""

import io

import numpy as np
import pytest
import scipy.sparse

import kiln
from kiln import keras
from kiln.keras import layers


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def blobs(n=300, features=10, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, features))).astype(np.float32)
    return x, y


def test_sequential_trains_and_reports(capsys):
    x, y = blobs()
    model = keras.Sequential([layers.Dense(16, activation="relu", input_shape=(10,)), layers.Dropout(0.1),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=32, validation_split=0.2, verbose=2)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 20
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9
    probs = model.predict(x[:7])
    assert probs.shape == (7, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    out = capsys.readouterr().out
    assert "Epoch 20/20" in out and "val_accuracy" in out


def test_lazy_input_size_builds_on_first_batch():
    x, y = blobs(features=6)
    model = keras.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)])
    assert not model.built
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.layers[0].kernel.shape == (6, 8)


def test_summary_table():
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
    buffer = io.StringIO()
    model.summary(print_fn=lambda line: buffer.write(line + "\n"))
    text = buffer.getvalue()
    assert "(None, 6, 6, 4)" in text and "(None, 3, 3, 4)" in text and "(None, 36)" in text
    assert "Total params: 410" in text and "Trainable params: 410" in text  # 4*9+4 + 36*10+10


def test_summary_of_an_unbuilt_model_says_why():
    with pytest.raises(ValueError, match="not built"):
        keras.Sequential([layers.Dense(3)]).summary()


def test_functional_api_with_two_inputs_shares_weights():
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    shared = layers.Dense(5, activation="relu")
    merged_a, merged_b = shared(a), shared(b)
    out = layers.Dense(1)(merged_a)
    model = keras.Model([a, b], [out, merged_b])
    assert len(model.weights) == 4
    xa, xb = np.ones((3, 4), np.float32), np.zeros((3, 4), np.float32)
    y1, y2 = model.predict([xa, xb])
    assert y1.shape == (3, 1) and y2.shape == (3, 5)
    with pytest.raises(ValueError, match=r"predict: x\[0\] has samples of shape \(5,\), the model takes inputs "
                                         r"of shape \(4,\)"):
        model.predict([np.ones((3, 5), np.float32), xb])
    with pytest.raises(ValueError, match="expects shape"):  # called directly, the graph checks its inputs
        model([np.ones((3, 5), np.float32), xb])


def test_subclassed_model_tracks_layers():
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(1, activation="sigmoid")

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    x, y = blobs(classes=2)
    model = TwoLayer()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, verbose=0)
    assert len(model.trainable_weights) == 4
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_sparse_input_is_never_densified(monkeypatch):
    x, y = blobs(n=200, features=50)
    x[np.abs(x) < 2.0] = 0
    sparse = scipy.sparse.csr_matrix(x)
    densified = []
    for cls in (scipy.sparse.csr_matrix, scipy.sparse.csc_matrix, scipy.sparse.coo_matrix):
        real = cls.toarray
        monkeypatch.setattr(cls, "toarray", lambda self, *a, _real=real, **k: densified.append(self.shape)
                            or _real(self, *a, **k))
    model = keras.Sequential([layers.Dense(16, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(sparse, y, epochs=15, batch_size=32, verbose=0)
    assert model.evaluate(sparse, y, verbose=0)[1] > 0.8
    assert model.predict(sparse.tocoo(), verbose=0).shape == (200, 3)
    assert densified == []


@pytest.mark.parametrize("threads", [1, 2])
def test_dense_trained_on_sparse_input_matches_dense_input(threads):
    """The sparse path changes only the summation order: weights and predictions after
    training agree with the densified input's to float32 rounding."""
    rng = np.random.default_rng(3)
    x = rng.random((150, 300)).astype(np.float32)
    x[rng.random(x.shape) < 0.97] = 0
    x[:, 7] = 0  # a feature no sample has: a zero gradient row on both paths
    y = (x[:, :150].sum(axis=1) > x[:, 150:].sum(axis=1)).astype(np.int64)
    sparse = scipy.sparse.csr_matrix(x)

    def trained(inputs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input(shape=(300,)), layers.Dense(32, activation="relu"),
                                  layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(inputs, y, epochs=3, batch_size=16, verbose=0)
        return model.get_weights(), model.predict(inputs, verbose=0)

    previous = kiln.get_num_threads()
    kiln.set_num_threads(threads)
    try:
        (w_sparse, p_sparse), (w_dense, p_dense) = trained(sparse), trained(x)
    finally:
        kiln.set_num_threads(previous)
    for a, b in zip(w_sparse + [p_sparse], w_dense + [p_dense]):
        assert np.linalg.norm(a - b) <= 1e-5 * np.linalg.norm(b)


def test_categorical_and_binary_losses_and_metrics():
    x, y = blobs()
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, keras.utils.to_categorical(y, 3), epochs=10, verbose=0)
    assert model.evaluate(x, keras.utils.to_categorical(y), verbose=0)[1] > 0.9
    reg = keras.Sequential([layers.Dense(1)])
    reg.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    target = x[:, :1] * 2
    history = reg.fit(x, target, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


def test_early_stopping_restores_best_weights():
    x, y = blobs()
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=5.0), loss="sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=50, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) < 50
    best = min(history.history["loss"])
    assert model.evaluate(x, y, verbose=0) <= best * 1.5


class _ScriptedModel:
    """Just what EarlyStopping touches: weights (the epoch number) and stop_training."""

    def __init__(self):
        self.stop_training, self.weights = False, None

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def _run_early_stopping(losses, **kwargs):
    stop, model = keras.callbacks.EarlyStopping(monitor="loss", **kwargs), _ScriptedModel()
    stop.set_model(model)
    stop.on_train_begin()
    epochs = 0
    for epoch, loss in enumerate(losses):
        model.weights = epoch
        stop.on_epoch_end(epoch, {"loss": loss})
        epochs += 1
        if model.stop_training:
            break
    stop.on_train_end()
    return epochs, model.weights


def test_early_stopping_counts_patience_as_keras():
    # Keras stops after `patience` epochs without improvement: here epochs 2 and 3.
    assert _run_early_stopping([1.0, 0.5, 0.6, 0.7, 0.4], patience=2)[0] == 4
    assert _run_early_stopping([1.0, 0.5, 0.6, 0.7, 0.4], patience=0)[0] == 3
    assert _run_early_stopping([1.0, 0.9, 0.8], patience=1)[0] == 3


def test_early_stopping_restores_the_best_weights_even_without_stopping():
    assert _run_early_stopping([1.0, 0.5, 0.6, 0.7], patience=5, restore_best_weights=True) == (4, 1)
    assert _run_early_stopping([1.0, 0.5, 0.6, 0.7], patience=5) == (4, 3)


def test_model_checkpoint_keeps_the_best(tmp_path):
    x, y = blobs()
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "best.keras"
    cb = keras.callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.2, callbacks=[cb])
    restored = keras.models.load_model(path)
    assert restored.evaluate(x, y, verbose=0)[1] >= 0.0 and path.exists()


def test_progress_bar_on_a_terminal(capsys, monkeypatch):
    x, y = blobs(n=64)
    model = keras.Sequential([layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    assert "4/4 [==============================]" in out and "loss:" in out and "accuracy:" in out


def test_conv_same_padding_matches_tensorflow_rule():
    model = keras.Sequential([keras.Input(shape=(7, 7, 2)), layers.Conv2D(3, 3, strides=2, padding="same"),
                              layers.MaxPooling2D(2, padding="same"), layers.AveragePooling2D(2, padding="same")])
    out = model.predict(np.ones((2, 7, 7, 2), np.float32))
    assert out.shape == (2, 1, 1, 3)  # 7 -> ceil(7/2)=4 -> 2 -> 1


def test_lstm_layer_shapes_and_state():
    inp = keras.Input(shape=(6, 3))
    seq, h, c = layers.LSTM(5, return_sequences=True, return_state=True)(inp)
    model = keras.Model(inp, [seq, h, c])
    s, hh, cc = model.predict(np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32))
    assert s.shape == (2, 6, 5) and hh.shape == (2, 5) and cc.shape == (2, 5)
    np.testing.assert_allclose(s[:, -1], hh, rtol=1e-6)


def test_lstm_matches_keras_gate_layout():
    """Keras kernel (I, 4U) with gates i, f, c, o is torch's weight_ih transposed."""
    layer = layers.LSTM(4, return_sequences=True)
    x = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    y = layer(x).numpy()
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (5, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_array_equal(bias[4:8], 1.0)  # unit_forget_bias
    want, *_ = kiln.reference.lstm_sequence(x.transpose(1, 0, 2).astype(np.float64), kernel.T.astype(np.float64),
                                            recurrent.T.astype(np.float64), bias.astype(np.float64))
    np.testing.assert_allclose(y, want.transpose(1, 0, 2), rtol=1e-5, atol=1e-6)


def test_unsupported_options_fail_clearly():
    with pytest.raises(NotImplementedError, match="recurrent_dropout"):
        layers.LSTM(3, recurrent_dropout=0.1)
    with pytest.raises(ValueError, match="unknown activation"):
        layers.Dense(3, activation="swishy")
    with pytest.raises(ValueError, match="unknown loss"):
        keras.Sequential([layers.Dense(1)]).compile(loss="hinge-ish")
    with pytest.raises(RuntimeError, match="compile"):
        keras.Sequential([layers.Dense(1)]).fit(np.ones((2, 2)), np.ones(2))


def test_pad_sequences_and_tokenizer():
    tok = keras.preprocessing.text.Tokenizer()
    tok.fit_on_texts(["the cat sat", "the dog sat down"])
    assert tok.word_index["the"] == 1 and tok.word_index["sat"] == 2
    seqs = tok.texts_to_sequences(["the dog sat", "cat"])
    padded = keras.utils.pad_sequences(seqs, maxlen=4)
    np.testing.assert_array_equal(padded, [[0, 1, 4, 2], [0, 0, 0, 3]])
    np.testing.assert_array_equal(keras.utils.pad_sequences([[1, 2, 3]], maxlen=2, padding="post",
                                                             truncating="post"), [[1, 2]])
