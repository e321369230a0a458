"""kiln.keras's layers without a kernel of their own: reshaping, merging, Rescaling,
Normalization, TextVectorization and Lambda, against NumPy (and Keras 3's outputs, written
as literals: TextVectorization's were taken from Keras 3.15 with TensorFlow 2.21)."""

import numpy as np
import pytest

from kiln import keras
from kiln.io import CorruptFileError
from kiln.keras import layers

import kiln

rng = np.random.default_rng(7)


def check_gradients(fn, arrays, eps=1e-6, tol=1e-6):
    """The tape's gradients of the scalar fn(*tensors) against central differences, float64, NumPy path."""
    with kiln.use_backend("numpy"):
        tensors = [kiln.tensor(np.array(a, np.float64), requires_grad=True) for a in arrays]
        fn(*tensors).backward()
        for t, array in zip(tensors, arrays):
            flat = np.array(array, np.float64).reshape(-1)
            for i in range(flat.size):
                values = []
                for step in (eps, -eps):
                    moved = flat.copy()
                    moved[i] += step
                    args = [kiln.tensor(moved.reshape(np.shape(array))) if u is t else kiln.tensor(u.numpy())
                            for u in tensors]
                    with kiln.no_grad():
                        values.append(float(fn(*args).item()))
                numeric = (values[0] - values[1]) / (2 * eps)
                got = t.grad.numpy().reshape(-1)[i]
                assert abs(got - numeric) <= tol * max(1.0, abs(numeric)), (i, got, numeric)


def _np(t):
    return t.numpy(force=True)


# ---- reshaping ----------------------------------------------------------------------------------

def test_reshape_permute_repeat_vector_values_and_shapes():
    x = rng.normal(size=(2, 12)).astype(np.float32)
    assert _np(layers.Reshape((3, 4))(x)).tolist() == x.reshape(2, 3, 4).tolist()
    assert _np(layers.Reshape((-1, 2))(x)).shape == (2, 6, 2)
    y = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(_np(layers.Permute((3, 1, 2))(y)), np.transpose(y, (0, 3, 1, 2)))
    v = rng.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(_np(layers.RepeatVector(4)(v)), np.repeat(v[:, None, :], 4, axis=1))
    inp = keras.Input((12,))
    assert layers.Reshape((-1, 3))(inp).shape == (None, 4, 3)
    assert layers.Permute((2, 1))(layers.Reshape((3, 4))(inp)).shape == (None, 4, 3)
    assert layers.RepeatVector(5)(inp).shape == (None, 5, 12)


def test_reshaping_errors_name_the_shapes():
    with pytest.raises(ValueError, match="hold 12 values, target_shape"):
        layers.Reshape((5,))(keras.Input((12,)))
    with pytest.raises(ValueError, match="at most one axis"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match="permutation of 1..2"):
        layers.Permute((1, 3))
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        layers.RepeatVector(2)(keras.Input((3, 4)))


def test_reshaping_gradients():
    x = rng.normal(size=(2, 3, 4))
    check_gradients(lambda t: (layers.Permute((2, 1))(t) * np.arange(12.0).reshape(4, 3)).sum(), [x])
    check_gradients(lambda t: (layers.RepeatVector(3)(t.reshape(2, 12)) ** 2).sum(), [x])


# ---- merging ------------------------------------------------------------------------------------

def test_elementwise_merges_against_numpy():
    a, b, c = (rng.normal(size=(4, 3)).astype(np.float32) for _ in range(3))
    cases = {layers.Add: a + b + c, layers.Multiply: a * b * c, layers.Average: (a + b + c) / 3,
             layers.Maximum: np.maximum(np.maximum(a, b), c), layers.Minimum: np.minimum(np.minimum(a, b), c)}
    for cls, expected in cases.items():
        np.testing.assert_allclose(_np(cls()([a, b, c])), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(layers.Subtract()([a, b])), a - b, rtol=1e-6)
    functions = [layers.add, layers.multiply, layers.average, layers.maximum, layers.minimum]
    for fn, expected in zip(functions, cases.values()):
        np.testing.assert_allclose(_np(fn([a, b, c])), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(layers.subtract([a, b])), a - b, rtol=1e-6)
    # broadcasting, as Keras's merge layers: (4, 3) with (4, 1)
    np.testing.assert_allclose(_np(layers.Add()([a, b[:, :1]])), a + b[:, :1], rtol=1e-6)
    assert layers.Add()([keras.Input((3,)), keras.Input((1,))]).shape == (None, 3)


def test_merge_errors():
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([keras.Input((3,))] * 3)
    with pytest.raises(ValueError, match="do not broadcast"):
        layers.Add()([keras.Input((3,)), keras.Input((4,))])
    with pytest.raises(ValueError, match="differ on axis 1"):
        layers.Concatenate()([keras.Input((3, 2)), keras.Input((4, 5))])


def test_concatenate_and_dot_against_numpy():
    a = rng.normal(size=(2, 3, 4)).astype(np.float32)
    b = rng.normal(size=(2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(_np(layers.Concatenate()([a, b])), np.concatenate([a, b], -1))
    np.testing.assert_array_equal(_np(layers.concatenate([a, a], axis=1)), np.concatenate([a, a], 1))
    assert layers.concatenate([keras.Input((3, 4)), keras.Input((3, 5))]).shape == (None, 3, 9)
    u, v = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32)
    out = _np(layers.Dot(axes=1)([u, v]))
    assert out.shape == (4, 1)
    np.testing.assert_allclose(out[:, 0], (u * v).sum(1), rtol=1e-5)
    cos = _np(layers.dot([u, v], axes=-1, normalize=True))[:, 0]
    np.testing.assert_allclose(cos, (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1),
                               rtol=1e-5)
    # (batch, n, d) . (batch, m, d) over d -> (batch, n, m); over axes (1, 1) -> (batch, 4, 5)
    np.testing.assert_allclose(_np(layers.Dot(axes=2)([a, a[:, :2]])), np.einsum("bnd,bmd->bnm", a, a[:, :2]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(layers.Dot(axes=(1, 1))([a, b])), np.einsum("bnd,bne->bde", a, b), rtol=1e-5,
                               atol=1e-6)
    assert layers.Dot(axes=(1, 1))([keras.Input((3, 4)), keras.Input((3, 5))]).shape == (None, 4, 5)
    with pytest.raises(ValueError, match="incompatible input shapes"):
        layers.Dot(axes=1)([keras.Input((3,)), keras.Input((4,))])


def test_merge_gradients():
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    check_gradients(lambda x, y: (layers.Maximum()([x, y]) * layers.Multiply()([x, y])).sum(), [a, b])
    check_gradients(lambda x, y: layers.Dot(axes=1, normalize=True)([x, y]).sum(), [a, b])
    check_gradients(lambda x, y: (layers.Concatenate(axis=1)([x, y]) ** 2).sum(), [a, b])


# ---- Rescaling, Normalization, Lambda -------------------------------------------------------------

def test_rescaling():
    x = rng.integers(0, 256, size=(2, 4, 4, 3)).astype(np.uint8)
    out = _np(layers.Rescaling(1 / 127.5, offset=-1)(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x / 127.5 - 1, rtol=1e-6, atol=1e-6)
    assert layers.Rescaling(2.0).get_config()["offset"] == 0.0


def test_normalization_adapt_and_given():
    data = rng.normal(loc=3.0, scale=2.0, size=(50, 4)).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(data)
    mean, var, count = norm.get_weights()
    np.testing.assert_allclose(mean, data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(var, data.var(0), rtol=1e-5)
    assert count == 0  # as Keras 3 (its count weight is never updated)
    np.testing.assert_allclose(_np(norm(data)), (data - data.mean(0)) / data.std(0), rtol=1e-4, atol=1e-5)
    given = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    x = np.array([[3.0, 2.0]], np.float32)
    np.testing.assert_allclose(_np(given(x)), [[1.0, 0.0]])
    assert given.weights == []
    back = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0], invert=True)
    np.testing.assert_allclose(_np(back(np.array([[1.0, 5.0]], np.float32))), [[3.0, 2.0]], rtol=1e-6)
    # axis=None: one scalar mean and variance over everything
    whole = layers.Normalization(axis=None)
    whole.adapt(data)
    np.testing.assert_allclose(_np(whole(data)), (data - data.mean()) / data.std(), rtol=1e-4, atol=1e-5)


def double(x):
    return x * 2.0


def test_lambda_infers_its_shape_and_saves_by_name(tmp_path):
    inp = keras.Input((3,))
    out = layers.Lambda(double)(layers.Dense(2)(inp))
    assert out.shape == (None, 2)
    model = keras.Model(inp, out)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    with pytest.raises(CorruptFileError, match="custom_objects"):
        keras.load_model(tmp_path / "m.keras")
    back = keras.load_model(tmp_path / "m.keras", custom_objects={"double": double})
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="lambda expression"):
        keras.Model(inp, layers.Lambda(lambda t: t + 1)(inp)).save(tmp_path / "l.keras")


# ---- TextVectorization (expected values from Keras 3.15 on TensorFlow 2.21) -------------------------

CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog; a bird?", "the BIRD sang"]
QUERY = np.array(["the cat ate the bird", "unknown words here", "a"])
WORDS = ["the", "a", "dog", "cat", "bird", "sat", "sang", "on", "my", "mat", "homework", "ate"]


def _adapted(**kwargs):
    layer = layers.TextVectorization(**kwargs)
    layer.adapt(CORPUS)
    return layer


def test_text_vectorization_int_mode_matches_keras():
    layer = _adapted()
    assert layer.get_vocabulary() == ["", "[UNK]"] + WORDS
    assert layer.get_vocabulary(include_special_tokens=False) == WORDS
    out = layer(QUERY)
    assert out.dtype == np.int64
    assert _np(out).tolist() == [[2, 5, 13, 2, 6], [1, 1, 1, 0, 0], [3, 0, 0, 0, 0]]
    assert _adapted(max_tokens=6).get_vocabulary() == ["", "[UNK]", "the", "a", "dog", "cat"]
    assert _np(_adapted(max_tokens=6)(QUERY)).tolist() == [[2, 5, 1, 2, 1], [1, 1, 1, 0, 0], [3, 0, 0, 0, 0]]
    assert _np(_adapted(output_sequence_length=4)(QUERY)).tolist() == [[2, 5, 13, 2], [1, 1, 1, 0], [3, 0, 0, 0]]
    bigrams = _adapted(ngrams=2, max_tokens=12)
    assert bigrams.get_vocabulary() == ["", "[UNK]", "the", "a", "dog", "cat", "bird", "the mat", "the dog",
                                        "the cat", "the bird", "sat on"]
    assert _np(bigrams(QUERY)).tolist() == [[2, 5, 1, 2, 6, 9, 1, 1, 10], [1, 1, 1, 1, 1, 0, 0, 0, 0],
                                            [3, 0, 0, 0, 0, 0, 0, 0, 0]]
    chars = _adapted(standardize="lower", split="character", max_tokens=8)
    assert chars.get_vocabulary() == ["", "[UNK]", " ", "t", "a", "e", "o", "h"]
    assert _np(chars(QUERY)).tolist()[2] == [4] + [0] * 19
    given = layers.TextVectorization(vocabulary=["cat", "dog", "the"], output_sequence_length=3)
    assert given.get_vocabulary() == ["", "[UNK]", "cat", "dog", "the"]
    assert _np(given(["The cat and the dog"])).tolist() == [[4, 2, 1]]


def test_text_vectorization_multi_hot_count_tf_idf_match_keras():
    assert _np(_adapted(output_mode="multi_hot")(QUERY)).tolist() == [
        [0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1], [1] + [0] * 12, [0, 0, 1] + [0] * 10]
    count = _adapted(output_mode="count", max_tokens=8)
    assert count.get_vocabulary() == ["[UNK]", "the", "a", "dog", "cat", "bird", "sat", "sang"]
    assert _np(count(QUERY)).tolist() == [[1, 2, 0, 0, 1, 1, 0, 0], [3, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]]
    tfidf = _adapted(output_mode="tf_idf")
    expected = np.zeros((3, 13))
    expected[0, [1, 4, 5, 12]] = [1.3862943649291992, 0.8472978472709656, 0.8472978472709656, 1.0986123085021973]
    expected[1, 0] = 3.0059847831726074
    expected[2, 2] = 1.0986123085021973
    np.testing.assert_allclose(_np(tfidf(QUERY)), expected, rtol=1e-6)
    padded = _adapted(output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    np.testing.assert_allclose(_np(padded(QUERY)), [
        [0.8667305707931519, 1.3862943649291992, 0.0, 0.0, 0.8472978472709656, 0.8472978472709656],
        [2.600191593170166, 0, 0, 0, 0, 0], [0, 0, 1.0986123085021973, 0, 0, 0]], rtol=1e-6)


def test_text_vectorization_errors():
    with pytest.raises(ValueError, match="output_mode"):
        layers.TextVectorization(output_mode="bag")
    with pytest.raises(ValueError, match="only for output_mode='int'"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(RuntimeError, match="needs a vocabulary"):
        layers.TextVectorization(output_mode="count")(["a b"])
    with pytest.raises(ValueError, match="cannot adapt"):
        layers.TextVectorization(vocabulary=["a"]).adapt(["a b"])
    with pytest.raises(ValueError, match="repeats"):
        layers.TextVectorization(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        _adapted()(np.array([["a", "b"]]))


def test_text_vectorization_in_a_model_trains_and_saves(tmp_path):
    vectorize = _adapted(output_sequence_length=6)
    texts = np.array(CORPUS * 4)
    labels = np.array([0, 1, 1, 0] * 4)
    inp = keras.Input(shape=(1,), dtype="string")
    h = layers.Embedding(vectorize.vocabulary_size(), 4)(vectorize(inp))
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(texts, labels, epochs=2, batch_size=4, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    model.save(tmp_path / "text.keras")
    back = keras.load_model(tmp_path / "text.keras")
    np.testing.assert_allclose(back.predict(texts[:, None], verbose=0), model.predict(texts, verbose=0), rtol=1e-6)
    # before the model, as a preprocessing step, and in a Sequential fed strings
    seq = keras.Sequential([_adapted(output_mode="tf_idf"), layers.Dense(1, activation="sigmoid")])
    seq.compile("sgd", "binary_crossentropy")
    seq.fit(texts, labels, epochs=1, verbose=0)
    seq.save(tmp_path / "seq.keras")
    np.testing.assert_allclose(keras.load_model(tmp_path / "seq.keras").predict(texts, verbose=0),
                               seq.predict(texts, verbose=0), rtol=1e-6)


# ---- configs and saving -------------------------------------------------------------------------

def test_get_config_round_trips():
    made = [layers.Reshape((2, -1)), layers.Permute((2, 1)), layers.RepeatVector(3), layers.Rescaling(0.5, 1.0),
            layers.Normalization(axis=-1, mean=[0.0, 1.0], variance=[1.0, 4.0]), layers.Add(), layers.Subtract(),
            layers.Multiply(), layers.Average(), layers.Maximum(), layers.Minimum(), layers.Concatenate(axis=1),
            layers.Dot(axes=(1, 2), normalize=True), _adapted(output_mode="tf_idf", max_tokens=9),
            _adapted(ngrams=(1, 3), output_sequence_length=5)]
    for layer in made:
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config, type(layer).__name__
    text = _adapted(output_mode="tf_idf")
    np.testing.assert_allclose(_np(type(text).from_config(text.get_config())(QUERY)), _np(text(QUERY)), rtol=1e-6)


def test_save_load_round_trip_of_a_model_of_these_layers(tmp_path):
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    norm = layers.Normalization()
    norm.adapt(rng.normal(size=(20, 6)).astype(np.float32))
    ha = layers.Reshape((2, 3))(layers.Rescaling(0.5)(norm(a)))
    hb = layers.Reshape((2, 3))(b)
    merged = [layers.add([ha, hb]), layers.subtract([ha, hb]), layers.multiply([ha, hb]), layers.average([ha, hb]),
              layers.maximum([ha, hb]), layers.minimum([ha, hb]), layers.Permute((2, 1))(layers.Permute((2, 1))(ha))]
    h = layers.concatenate(merged, axis=-1)
    h = layers.Dense(4)(layers.Flatten()(h))
    out = layers.Dot(axes=1, normalize=True)([h, layers.Dense(4)(a)])
    model = keras.Model([a, b], out)
    xa, xb = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 6)).astype(np.float32)
    model.compile("sgd", "mse")
    model.fit([xa, xb], rng.normal(size=(5, 1)).astype(np.float32), verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(back.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert [w.shape for w in back.get_weights()] == [w.shape for w in model.get_weights()]


def test_sequential_of_strings_saves_its_string_input(tmp_path):
    vectorize = _adapted(output_sequence_length=3)
    seq = keras.Sequential([keras.Input(shape=(1,), dtype="string"), vectorize,
                            layers.Embedding(vectorize.vocabulary_size(), 2), layers.Flatten(), layers.Dense(1)])
    texts = np.array(CORPUS)
    seq.compile("sgd", "mse")
    seq.fit(texts[:, None], np.ones((4, 1), np.float32), verbose=0)
    seq.save(tmp_path / "s.keras")
    back = keras.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(back.predict(texts, verbose=0), seq.predict(texts, verbose=0), rtol=1e-6)
    built_from_data = keras.Sequential([_adapted(output_mode="count"), layers.Dense(1)])
    built_from_data.compile("sgd", "mse")
    built_from_data.fit(texts, np.ones((4, 1), np.float32), verbose=0)
    built_from_data.save(tmp_path / "d.keras")
    np.testing.assert_allclose(keras.load_model(tmp_path / "d.keras").predict(texts, verbose=0),
                               built_from_data.predict(texts, verbose=0), rtol=1e-6)


def test_normalization_saves_adapted_statistics(tmp_path):
    data = rng.normal(loc=-2.0, scale=3.0, size=(40, 3)).astype(np.float32)
    for axis in (-1, None):
        norm = layers.Normalization(axis=axis)
        norm.adapt(data)
        inp = keras.Input((3,))
        model = keras.Model(inp, layers.Dense(2)(norm(inp)))
        model.save(tmp_path / "n.keras")
        back = keras.load_model(tmp_path / "n.keras")
        np.testing.assert_allclose(back.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
