"""keras.utils.PyDataset in fit/evaluate/predict, keras.random, keras.backend/config, and
keras.datasets reading Keras's cache (files made here, in a KERAS_HOME of the test's own)."""

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

import kiln
from kiln import keras
from kiln.keras import layers

DEVICES = ["cpu"] + (["cuda"] if kiln.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def blobs(n=100, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, features))).astype(np.float32), y


def model(**compile_kwargs):
    m = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], **compile_kwargs)
    return m


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, w=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.w, self.batch_size = x, y, w, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.y is None:
            return self.x[part]
        if self.w is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.w[part]

    def on_epoch_end(self):
        self.epochs_ended += 1


# ---- PyDataset ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_fit_on_a_pydataset_equals_fit_on_arrays(device):
    x, y = blobs()
    xv, yv = blobs(30, seed=1)
    kwargs = {} if device == "cpu" else {"device": device}
    a = model(**kwargs)
    ha = a.fit(x, y, batch_size=16, epochs=3, shuffle=False, validation_data=(xv, yv), verbose=0)
    keras.utils.set_random_seed(0)
    b = model(**kwargs)
    data = Batches(x, y, 16, workers=2)
    hb = b.fit(data, epochs=3, shuffle=False, validation_data=Batches(xv, yv, 16), verbose=0)
    assert data.epochs_ended == 3
    assert ha.history.keys() == hb.history.keys()
    for k in ha.history:
        assert ha.history[k] == pytest.approx(hb.history[k], rel=1e-6), k
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert b.evaluate(Batches(xv, yv, 7), verbose=0) == pytest.approx(b.evaluate(xv, yv, batch_size=7, verbose=0))
    np.testing.assert_array_equal(b.predict(Batches(xv, None, 8)), b.predict(xv))
    np.testing.assert_array_equal(b.predict(Batches(xv, yv, 8)), b.predict(xv))  # (x, y) batches: x is read


def test_pydataset_sample_weights_shuffle_and_steps():
    x, y = blobs()
    w = np.random.default_rng(2).random(100).astype(np.float32)
    a = model()
    a.fit(x, y, batch_size=20, sample_weight=w, shuffle=False, verbose=0)
    keras.utils.set_random_seed(0)
    b = model()
    b.fit(Batches(x, y, 20, w), shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    seen = []

    class Recording(Batches):
        def __getitem__(self, i):
            seen.append(i)
            return super().__getitem__(i)

    model().fit(Recording(x, y, 10), epochs=1, shuffle=True, verbose=0, steps_per_epoch=6)
    trained = seen[1:]  # the first read builds the model
    assert len(trained) == 6 and sorted(trained) == list(range(6)) and trained != list(range(6))
    assert model().evaluate(Recording(x, y, 10), steps=2, verbose=0)[0] > 0


def test_pydataset_errors():
    x, y = blobs(20)
    m = model()
    with pytest.raises(ValueError, match="y must be None"):
        m.fit(Batches(x, y, 5), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(Batches(x, y, 5), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="no targets"):
        m.fit(Batches(x, None, 5), verbose=0)

    class NoLength(keras.utils.PyDataset):
        def __getitem__(self, i):
            return x, y

    with pytest.raises(ValueError, match="no length"):
        m.fit(NoLength(), verbose=0)


# ---- keras.random -----------------------------------------------------------------------------------


def test_random_seeds_shapes_and_ranges():
    r = keras.random
    a, b = r.normal((3, 4), seed=7), r.normal((3, 4), seed=7)
    assert a.shape == (3, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # an int seed: the same numbers each call
    gen1, gen2 = r.SeedGenerator(5), r.SeedGenerator(5)
    first, second = r.uniform((5,), seed=gen1), r.uniform((5,), seed=gen1)
    assert not np.array_equal(first.numpy(), second.numpy())  # a SeedGenerator is a stream
    np.testing.assert_array_equal(first.numpy(), r.uniform((5,), seed=gen2).numpy())
    keras.utils.set_random_seed(3)
    c = r.normal((2,)).numpy()
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(c, r.normal((2,)).numpy())
    u = r.uniform((1000,), minval=2.0, maxval=3.0, seed=1).numpy()
    assert u.min() >= 2.0 and u.max() < 3.0
    n = r.normal((20000,), mean=1.0, stddev=2.0, seed=1).numpy()
    assert abs(n.mean() - 1.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    t = r.truncated_normal((5000,), stddev=0.5, seed=1).numpy()
    assert np.abs(t).max() <= 1.0
    i = r.randint((1000,), 3, 7, seed=1).numpy()
    assert i.dtype == np.int32 and set(np.unique(i)) == {3, 4, 5, 6}
    s = r.shuffle(kiln.tensor(np.arange(10)), seed=1).numpy()
    assert sorted(s) == list(range(10)) and list(s) != list(range(10))
    m = r.shuffle(np.arange(12).reshape(3, 4), axis=1, seed=2).numpy()
    assert all(sorted(row) == list(range(4 * k, 4 * k + 4)) for k, row in enumerate(m))
    with pytest.raises(TypeError, match="seed"):
        r.normal((2,), seed="x")
    with pytest.raises(ValueError, match="maxval"):
        r.randint((2,), 3, 3)


@pytest.mark.parametrize("device", DEVICES)
def test_random_dropout(device):
    x = kiln.tensor(np.ones((200, 50), np.float32), requires_grad=True).to(device)
    y = keras.random.dropout(x, 0.3, seed=1)
    assert y.device == x.device
    v = y.numpy(force=True)
    assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.7)}
    assert abs(np.mean(v == 0) - 0.3) < 0.02
    shared = keras.random.dropout(x, 0.5, noise_shape=(1, 50), seed=2).numpy(force=True)
    assert (shared == shared[:1]).all()  # one mask for every row
    if device == "cpu":
        leaf = kiln.tensor(np.ones((4, 4), np.float32), requires_grad=True)
        out = keras.random.dropout(leaf, 0.5, seed=3)
        out.sum().backward()
        np.testing.assert_array_equal(leaf.grad.numpy(), out.numpy())  # d/dx of x*mask = mask
    with pytest.raises(ValueError, match="rate"):
        keras.random.dropout(x, 1.0)


# ---- keras.backend / keras.config --------------------------------------------------------------------


def test_backend_settings():
    assert keras.backend.floatx() == keras.config.floatx() == "float32"
    assert keras.backend.epsilon() == 1e-7
    assert keras.backend.image_data_format() == "channels_last"
    assert keras.backend.backend() == "kiln"
    keras.backend.set_epsilon(1e-6)
    try:
        assert keras.config.epsilon() == 1e-6
    finally:
        keras.backend.set_epsilon(1e-7)
    with pytest.raises(ValueError, match="float32"):
        keras.backend.set_floatx("float16")
    keras.backend.clear_session()
    first = layers.Dense(2)
    keras.backend.clear_session()
    assert layers.Dense(2).name == first.name == "dense"
    assert keras.metrics.Precision().name == "precision"


# ---- keras.datasets ------------------------------------------------------------------------------


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    return tmp_path / "datasets"


def test_missing_files_say_what_to_put_where(keras_home):
    for loader, name in ((keras.datasets.mnist.load_data, "mnist.npz"), (keras.datasets.imdb.load_data, "imdb.npz"),
                         (keras.datasets.fashion_mnist.load_data, "fashion-mnist/train-labels-idx1-ubyte.gz"),
                         (keras.datasets.cifar10.load_data, "cifar-10-batches-py")):
        with pytest.raises(FileNotFoundError) as error:
            loader()
        message = str(error.value)
        assert str(keras_home / name) in message and "https://" in message and "no network" in message


def test_mnist_and_fashion_mnist(keras_home):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), "y_train": np.arange(6, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8), "y_test": np.arange(2, dtype=np.uint8)}
    np.savez(keras_home / "mnist.npz", **arrays)
    (xt, yt), (xs, ys) = keras.datasets.mnist.load_data()
    for got, key in ((xt, "x_train"), (yt, "y_train"), (xs, "x_test"), (ys, "y_test")):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == np.uint8
    folder = keras_home / "fashion-mnist"
    folder.mkdir()
    for prefix, x, y in (("train", arrays["x_train"], arrays["y_train"]), ("t10k", arrays["x_test"], arrays["y_test"])):
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + len(y).to_bytes(4, "big") + y.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x03" + len(y).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + x.tobytes())
    (xt, yt), (xs, ys) = keras.datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(xt, arrays["x_train"])
    np.testing.assert_array_equal(ys, arrays["y_test"])


def _cifar_batches(rng):
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        batches[name] = (data, [i, (i + 1) % 10])
    return batches


def test_cifar10_from_the_folder_or_the_archive(keras_home):
    rng = np.random.default_rng(0)
    batches = _cifar_batches(rng)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, (data, labels) in batches.items():
            blob = pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a", b"b"]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    (keras_home / "cifar-10-python.tar.gz").write_bytes(archive.getvalue())
    (xt, yt), (xs, ys) = keras.datasets.cifar10.load_data()
    assert xt.shape == (10, 32, 32, 3) and yt.shape == (10, 1) and xs.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(xt[0], batches["data_batch_1"][0][0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert list(ys[:, 0]) == [5, 6] and xt.dtype == yt.dtype == np.uint8
    folder = keras_home / "cifar-10-batches-py"
    folder.mkdir()
    for name, (data, labels) in batches.items():
        blob = pickle.dumps({b"labels": labels, b"data": data}, protocol=2)
        # as the files Keras downloads, written before NumPy 2 named numpy._core
        (folder / name).write_bytes(blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    assert b"numpy.core.multiarray" in (folder / "test_batch").read_bytes()
    (xt2, _), _ = keras.datasets.cifar10.load_data()
    np.testing.assert_array_equal(xt, xt2)


def test_dataset_pickles_cannot_run_code(keras_home):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    folder = keras_home / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"labels": [0], b"data": Evil()}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        keras.datasets.cifar10.load_data()


def test_imdb_processing_follows_keras(keras_home):
    def obj(lists):
        a = np.empty(len(lists), dtype=object)
        a[:] = lists
        return a

    train = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
    test = [[2, 2], [9]]
    np.savez(keras_home / "imdb.npz", x_train=obj(train), y_train=np.array([0, 1, 0]), x_test=obj(test),
             y_test=np.array([1, 0]))
    (xt, yt), (xs, ys) = keras.datasets.imdb.load_data(seed=113)
    order = np.arange(3)
    rng = np.random.RandomState(113)
    rng.shuffle(order)
    test_order = np.arange(2)
    rng.shuffle(test_order)
    assert xt.dtype == object and list(yt) == list(np.array([0, 1, 0])[order])
    # as Keras: num_words defaults to the largest id, and ids >= num_words become oov_char, so the
    # largest id itself (13) becomes 2
    top = max(w + 3 for s in train + test for w in s)
    expect = lambda seq: [1] + [w + 3 if w + 3 < top else 2 for w in seq]  # noqa: E731
    assert [list(s) for s in xt] == [expect(train[i]) for i in order]
    assert [list(s) for s in xs] == [expect(test[i]) for i in test_order]
    (xt, _), _ = keras.datasets.imdb.load_data(num_words=8, maxlen=5)  # only reviews of < 5 tokens kept
    assert all(len(s) < 5 for s in xt) and all(w < 8 or w == 2 for s in xt for w in s)
    assert max(w for s in xt for w in s) <= 7 and any(2 in s for s in xt)
