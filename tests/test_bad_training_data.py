"""Bad training data and hyperparameters: each a clear error naming the argument, never garbage.

Every case below was silently accepted (or failed deep inside a kernel, or only at the first
step) before: a label of -1 picked the last class, Keras fit skipped label -100, batch_size=0
trained with 32, an empty evaluate returned 0.0, NaN hyperparameters passed construction.
The PyTorch-idiom loss cases also run on torch, which must refuse them too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import kiln
from kiln import keras, nn, optim
from kiln.nn import functional as F

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 4)).astype(np.float32)
Y = RNG.integers(0, 3, 40)
LOG_P = np.log(np.full((3, 4), 0.25, np.float32))
HALF = np.full((3,), 0.5, np.float32)


def labels(**at):
    """Y with the given entries replaced: labels(i5=-1) sets Y[5] = -1."""
    y = Y.astype(np.float64 if any(isinstance(v, float) for v in at.values()) else Y.dtype)
    for key, value in at.items():
        y[int(key[1:])] = value
    return y


# ---- the PyTorch idiom: losses (id, kiln call, torch call, error, message) -----------------------

def t(a, dtype=None):
    return kiln.tensor(np.asarray(a, dtype))


TORCH_LOSS_CASES = [
    ("nll_loss label -1", lambda: F.nll_loss(t(LOG_P), t([0, 1, -1])),
     lambda T: T.nn.functional.nll_loss(T.tensor(LOG_P), T.tensor([0, 1, -1])),
     ValueError, r"nll_loss: target\[2\] = -1 is out of range \[0, 4\) and is not ignore_index \(-100\)"),
    ("nll_loss label C", lambda: F.nll_loss(t(LOG_P), t([4, 1, 0])),
     lambda T: T.nn.functional.nll_loss(T.tensor(LOG_P), T.tensor([4, 1, 0])),
     ValueError, r"nll_loss: target\[0\] = 4 is out of range \[0, 4\)"),
    ("nll_loss float labels", lambda: F.nll_loss(t(LOG_P), t([0.0, 1.5, 2.0])),
     lambda T: T.nn.functional.nll_loss(T.tensor(LOG_P), T.tensor([0.0, 1.5, 2.0])),
     TypeError, "nll_loss: target must hold integer class indices, got dtype float"),
    ("nll_loss target length", lambda: F.nll_loss(t(LOG_P), t([0, 1])),
     lambda T: T.nn.functional.nll_loss(T.tensor(LOG_P), T.tensor([0, 1])),
     ValueError, r"nll_loss: target must have shape \(3,\)"),
    ("nll_loss 3-D input", lambda: F.nll_loss(t(LOG_P[None]), t([0, 1, 2])),
     lambda T: T.nn.functional.nll_loss(T.tensor(LOG_P[None]), T.tensor([0, 1, 2])),
     ValueError, r"nll_loss: input must be 2-D \(N, C\)"),
    ("NLLLoss label -1", lambda: nn.NLLLoss()(t(LOG_P), t([0, 1, -1])),
     lambda T: T.nn.NLLLoss()(T.tensor(LOG_P), T.tensor([0, 1, -1])),
     ValueError, r"nll_loss: target\[2\] = -1"),
    ("cross_entropy label -1", lambda: F.cross_entropy(t(LOG_P), t([0, 1, -1])),
     lambda T: T.nn.functional.cross_entropy(T.tensor(LOG_P), T.tensor([0, 1, -1])),
     ValueError, r"target\[2\] = -1 is out of range \[0, 4\)"),
    ("cross_entropy float labels (N,)", lambda: F.cross_entropy(t(LOG_P), t([0.0, 1.0, 2.0], np.float32)),
     lambda T: T.nn.functional.cross_entropy(T.tensor(LOG_P), T.tensor([0.0, 1.0, 2.0])),
     TypeError, r"cross_entropy: a target of shape \(3,\) must hold integer class indices"),
    ("binary_cross_entropy target 2", lambda: F.binary_cross_entropy(t(HALF), t([0, 1, 2], np.float32)),
     lambda T: T.nn.functional.binary_cross_entropy(T.tensor(HALF), T.tensor([0.0, 1.0, 2.0])),
     ValueError, r"binary_cross_entropy: all elements of target must be between 0 and 1 .*target\[2\] = 2"),
    ("binary_cross_entropy target -0.5", lambda: F.binary_cross_entropy(t(HALF), t([0, -0.5, 1], np.float32)),
     lambda T: T.nn.functional.binary_cross_entropy(T.tensor(HALF), T.tensor([0.0, -0.5, 1.0])),
     ValueError, r"target\[1\] = -0.5"),
    ("binary_cross_entropy target NaN", lambda: F.binary_cross_entropy(t(HALF), t([0, math.nan, 1], np.float32)),
     lambda T: T.nn.functional.binary_cross_entropy(T.tensor(HALF), T.tensor([0.0, math.nan, 1.0])),
     ValueError, r"target\[1\] = nan"),
    ("binary_cross_entropy input 1.5", lambda: F.binary_cross_entropy(t([0.5, 1.5, 0.2], np.float32), t(HALF)),
     lambda T: T.nn.functional.binary_cross_entropy(T.tensor([0.5, 1.5, 0.2]), T.tensor(HALF)),
     ValueError, r"all elements of input must be between 0 and 1 .*input\[1\] = 1.5"),
    ("BCELoss target 2", lambda: nn.BCELoss()(t(HALF), t([0, 1, 2], np.float32)),
     lambda T: T.nn.BCELoss()(T.tensor(HALF), T.tensor([0.0, 1.0, 2.0])),
     ValueError, "all elements of target must be between 0 and 1"),
]


@pytest.mark.parametrize("case", TORCH_LOSS_CASES, ids=[c[0] for c in TORCH_LOSS_CASES])
def test_pytorch_idiom_bad_targets_are_refused_as_torch_refuses_them(case):
    _, call, torch_call, error, match = case
    with pytest.raises(error, match=match):
        call()
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, IndexError, ValueError)):
        torch_call(torch)


def test_nll_loss_still_skips_ignore_index_as_torch():
    got = F.nll_loss(t(LOG_P), t([0, -100, 2])).item()
    assert got == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match=r"target\[1\] = -100 is out of range"):
        F.nll_loss(t(LOG_P), t([0, -100, 2]), ignore_index=-1)


# ---- the Keras idiom: fit, evaluate, predict (id, call, error, message) -----------------------------

def model(head="softmax", loss="sparse_categorical_crossentropy", units=3, optimizer="adam"):
    m = keras.Sequential([keras.layers.Dense(units, activation=head)])
    m.compile(optimizer, loss)
    return m


def trained(**kw):
    m = model(**kw)
    m.fit(X, Y, verbose=0)
    return m


def two_inputs():
    a, b = keras.Input((4,)), keras.Input((2,))
    m = keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(a)))
    m.compile("adam", "sparse_categorical_crossentropy")
    return m


def cnn():
    m = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                          keras.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    return m


NOT_A_CLASS = r"fit: y\[5\] = {} is not a class index \(labels are >= 0; Keras has no ignore_index"
KERAS_CASES = [
    ("label -1, softmax head", lambda: model().fit(X, labels(i5=-1), verbose=0), ValueError, NOT_A_CLASS.format(-1)),
    ("label -1, linear head", lambda: model(None).fit(X, labels(i5=-1), verbose=0), ValueError,
     NOT_A_CLASS.format(-1)),
    ("label -100, softmax head", lambda: model().fit(X, labels(i5=-100), verbose=0), ValueError,
     NOT_A_CLASS.format(-100)),
    ("label -100, linear head", lambda: model(None).fit(X, labels(i5=-100), verbose=0), ValueError,
     NOT_A_CLASS.format(-100)),
    ("label = classes, softmax head", lambda: model().fit(X, labels(i7=3), verbose=0), ValueError,
     r"fit: y\[7\] = 3 is not a class index in \[0, 3\) \(the model has 3 outputs\)"),
    ("label = classes, linear head", lambda: model(None).fit(X, labels(i7=3), verbose=0), ValueError,
     r"fit: y\[7\] = 3 is not a class index in \[0, 3\)"),
    ("label 1.5", lambda: model().fit(X, labels(i2=1.5), verbose=0), ValueError,
     r"fit: y must hold whole-number class indices for sparse_categorical_crossentropy, got y\[2\] = 1.5"),
    ("label NaN", lambda: model().fit(X, labels(i2=math.nan), verbose=0), ValueError, r"got y\[2\] = nan"),
    ("string labels", lambda: model().fit(X, Y.astype(str), verbose=0), TypeError,
     "fit: y must hold integer class indices for sparse_categorical_crossentropy, got dtype <U"),
    ("one-hot labels, sparse loss", lambda: model().fit(X, np.eye(3)[Y], verbose=0), ValueError,
     r"fit: y has shape \(40, 3\); sparse_categorical_crossentropy takes one class index per sample"),
    ("integer labels, categorical loss", lambda: model(loss="categorical_crossentropy").fit(X, Y, verbose=0),
     ValueError, r"fit: y has shape \(40,\), categorical_crossentropy takes one-hot"),
    ("binary label 2", lambda: model(units=1, head="sigmoid", loss="binary_crossentropy").fit(
        X, (Y > 0) * 2.0, verbose=0), ValueError, r"fit: y must hold values in \[0, 1\] for binary_crossentropy"),
    ("binary label -1, linear head", lambda: model(units=1, head=None, loss="binary_crossentropy").fit(
        X, (Y > 0) - 1.0, verbose=0), ValueError, r"got y\[\d+\] = -1.0"),
    ("batch_size 0", lambda: model().fit(X, Y, batch_size=0, verbose=0), ValueError,
     "fit: batch_size must be >= 1, got 0"),
    ("batch_size -5", lambda: model().fit(X, Y, batch_size=-5, verbose=0), ValueError,
     "fit: batch_size must be >= 1, got -5"),
    ("batch_size 2.5", lambda: model().fit(X, Y, batch_size=2.5, verbose=0), TypeError,
     "fit: batch_size must be an int, got float"),
    ("batch_size '32'", lambda: model().fit(X, Y, batch_size="32", verbose=0), TypeError,
     "fit: batch_size must be an int, got str"),
    ("validation_batch_size -1", lambda: model().fit(X, Y, validation_split=0.5, validation_batch_size=-1, verbose=0),
     ValueError, "fit: validation_batch_size must be >= 1, got -1"),
    ("epochs 2.5", lambda: model().fit(X, Y, epochs=2.5, verbose=0), TypeError, "fit: epochs must be an int"),
    ("epochs -1", lambda: model().fit(X, Y, epochs=-1, verbose=0), ValueError, "fit: epochs must be >= 0"),
    ("x and y lengths", lambda: model().fit(X, Y[:30], verbose=0), ValueError, "fit: x has 40 samples, y has 30"),
    ("inputs of different lengths", lambda: two_inputs().fit([X, X[:30, :2]], Y, verbose=0), ValueError,
     r"fit: the inputs of x hold different numbers of samples: x\[0\] has 40, x\[1\] has 30"),
    ("x None", lambda: model().fit(None, Y, verbose=0), ValueError, "fit: x is required"),
    ("y None", lambda: model().fit(X, None, verbose=0), ValueError, "fit: y is required"),
    ("empty x", lambda: model().fit(X[:0], Y[:0], verbose=0), ValueError, "fit: x holds no samples"),
    ("scalar x", lambda: model().fit(np.float32(1), Y[:1], verbose=0), ValueError,
     "fit: x must be an array with a batch axis"),
    ("validation lengths", lambda: model().fit(X, Y, validation_data=(X, Y[:9]), verbose=0), ValueError,
     "fit: x has 40 samples, y has 9"),
    ("validation label -1", lambda: model().fit(X, Y, validation_data=(X[:4], [0, 1, -1, 2]), verbose=0),
     ValueError, r"fit: validation_data's y\[2\] = -1 is not a class index"),
    ("validation empty", lambda: model().fit(X, Y, validation_data=(X[:0], Y[:0]), verbose=0), ValueError,
     "fit: validation_data's x holds no samples"),
    ("validation_split leaves nothing", lambda: model().fit(X[:3], Y[:3], validation_split=0.1, verbose=0),
     ValueError, r"fit: validation_split=0.1 of 3 samples leaves 3 to train on and 0 to validate"),
    ("features of a built model", lambda: trained().fit(X[:, :3], Y, verbose=0), ValueError,
     r"fit: x has samples of shape \(3,\), the model takes inputs of shape \(4,\)"),
    ("rank of a built model", lambda: cnn().fit(np.zeros((4, 6, 6), np.float32), Y[:4], verbose=0), ValueError,
     r"fit: x has samples of shape \(6, 6\), the model takes inputs of shape \(6, 6, 1\)"),
    ("evaluate features", lambda: trained().evaluate(X[:, :3], Y, verbose=0), ValueError,
     r"evaluate: x has samples of shape \(3,\)"),
    ("predict features", lambda: trained().predict(X[:, :2], verbose=0), ValueError,
     r"predict: x has samples of shape \(2,\)"),
    ("evaluate empty", lambda: trained().evaluate(X[:0], Y[:0], verbose=0), ValueError,
     "evaluate: x holds no samples"),
    ("predict empty", lambda: trained().predict(X[:0], verbose=0), ValueError, "predict: x holds no samples"),
    ("evaluate x and y lengths", lambda: trained().evaluate(X, Y[:30], verbose=0), ValueError,
     "evaluate: x has 40 samples, y has 30"),
    ("evaluate label -100", lambda: trained().evaluate(X, labels(i5=-100), verbose=0), ValueError,
     r"evaluate: y\[5\] = -100 is not a class index"),
    ("evaluate batch_size 0", lambda: trained().evaluate(X, Y, batch_size=0, verbose=0), ValueError,
     "evaluate: batch_size must be >= 1"),
    ("predict batch_size -1", lambda: trained().predict(X, batch_size=-1, verbose=0), ValueError,
     "predict: batch_size must be >= 1"),
    ("train_on_batch label -1", lambda: model().train_on_batch(X[:8], labels(i5=-1)[:8]), ValueError,
     r"train_on_batch: y\[5\] = -1 is not a class index"),
    ("test_on_batch lengths", lambda: trained().test_on_batch(X[:8], Y[:7]), ValueError,
     "test_on_batch: x has 8 samples, y has 7"),
    ("loss called on label -100", lambda: keras.losses.sparse_categorical_crossentropy(
        np.array([0, -100]), kiln.tensor(np.full((2, 3), 1 / 3, np.float32))), ValueError,
     r"sparse_categorical_crossentropy: y_true\[1\] = -100 is not a class index"),
]


@pytest.mark.parametrize("case", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_keras_bad_data_is_a_clear_error(case):
    _, call, error, match = case
    with pytest.raises(error, match=match):
        call()


# ---- optimizers: refused when made, not at the first step ------------------------------------------

def params():
    return [nn.Parameter(np.zeros(3, np.float32))]


NAN, INF = float("nan"), float("inf")
OPTIMIZER_CASES = [
    ("keras Adam learning_rate NaN", lambda: keras.optimizers.Adam(learning_rate=NAN), ValueError,
     "Adam: learning_rate must be a finite number >= 0, got nan"),
    ("keras Adam epsilon NaN", lambda: keras.optimizers.Adam(epsilon=NAN), ValueError, "Adam: epsilon must be"),
    ("keras Adam weight_decay -0.1", lambda: keras.optimizers.Adam(weight_decay=-0.1), ValueError,
     "Adam: weight_decay must be a finite number >= 0, got -0.1"),
    ("keras AdamW weight_decay NaN", lambda: keras.optimizers.AdamW(weight_decay=NAN), ValueError,
     "AdamW: weight_decay must be"),
    ("keras Adam beta_1 1.0", lambda: keras.optimizers.Adam(beta_1=1.0), ValueError,
     r"Adam: beta_1 must be a finite number in \[0, 1\), got 1.0"),
    ("keras Adam learning_rate True", lambda: keras.optimizers.Adam(learning_rate=True), TypeError,
     "Adam: learning_rate must be a real number, got bool"),
    ("keras SGD learning_rate -1", lambda: keras.optimizers.SGD(learning_rate=-1), ValueError,
     "SGD: learning_rate must be"),
    ("keras SGD momentum 1.5", lambda: keras.optimizers.SGD(momentum=1.5), ValueError,
     r"SGD: momentum must be a finite number in \[0, 1\]"),
    ("keras RMSprop rho 2", lambda: keras.optimizers.RMSprop(rho=2), ValueError, "RMSprop: rho must be"),
    ("keras SGD weight_decay", lambda: keras.optimizers.SGD(weight_decay=0.1), NotImplementedError,
     "SGD: weight_decay is not supported by kiln"),
    ("keras Adam use_ema", lambda: keras.optimizers.Adam(use_ema=True), NotImplementedError,
     "Adam: use_ema=True is not supported by kiln"),
    ("keras Adam two clippings", lambda: keras.optimizers.Adam(clipnorm=1.0, clipvalue=0.5), ValueError,
     "Adam: only one of clipnorm, clipvalue and global_clipnorm can be set"),
    ("keras Adam clipnorm -1", lambda: keras.optimizers.Adam(clipnorm=-1.0), ValueError,
     "Adam: clipnorm must be"),
    ("keras Adam misspelt argument", lambda: keras.optimizers.Adam(learnig_rate=0.1), TypeError,
     r"Adam: unexpected keyword arguments \['learnig_rate'\]"),
    ("optim.Adam lr NaN", lambda: optim.Adam(params(), lr=NAN), ValueError,
     "Adam: lr must be a finite number >= 0, got nan"),
    ("optim.Adam eps NaN", lambda: optim.Adam(params(), eps=NAN), ValueError, "Adam: eps must be"),
    ("optim.Adam weight_decay -1", lambda: optim.Adam(params(), weight_decay=-1), ValueError,
     "Adam: weight_decay must be a finite number >= 0, got -1"),
    ("optim.Adam betas NaN", lambda: optim.Adam(params(), betas=(0.9, NAN)), ValueError,
     r"Adam: betas\[1\] must be"),
    ("optim.Adam betas one number", lambda: optim.Adam(params(), betas=0.9), ValueError,
     r"Adam: betas must be a pair"),
    ("optim.AdamW lr inf", lambda: optim.AdamW(params(), lr=INF), ValueError, "AdamW: lr must be"),
    ("optim.SGD lr NaN", lambda: optim.SGD(params(), lr=NAN), ValueError, "SGD: lr must be"),
    ("optim.SGD momentum -0.5", lambda: optim.SGD(params(), lr=0.1, momentum=-0.5), ValueError,
     "SGD: momentum must be"),
    ("optim.RMSprop alpha NaN", lambda: optim.RMSprop(params(), alpha=NAN), ValueError, "RMSprop: alpha must be"),
    ("optim.RMSprop eps -1", lambda: optim.RMSprop(params(), eps=-1), ValueError, "RMSprop: eps must be"),
    ("optim group lr NaN", lambda: optim.Adam([{"params": params(), "lr": NAN}]), ValueError, "Adam: lr must be"),
]


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_bad_hyperparameters_are_refused_at_construction(case):
    _, call, error, match = case
    with pytest.raises(error, match=match):
        call()


# ---- what is accepted instead of refused ------------------------------------------------------------

def test_uint8_images_train_as_keras_casts_them():
    images = RNG.integers(0, 256, (16, 6, 6, 1)).astype(np.uint8)
    y = RNG.integers(0, 2, 16)
    runs = []
    for x in (images, images.astype(np.float32)):
        kiln.manual_seed(0)
        m = cnn()
        runs.append((m.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"], m.predict(x, verbose=0),
                     m.evaluate(x, y, verbose=0)))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_embedding_inputs_stay_integers():
    m = keras.Sequential([keras.layers.Embedding(20, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    tokens = RNG.integers(0, 20, (8, 5))
    assert m._casts() is False
    m.fit(tokens, RNG.integers(0, 2, 8), verbose=0)
    assert np.dtype(m._input.dtype).kind == "i"


def test_whole_number_float_labels_are_class_indices_as_in_keras():
    runs = []
    for y in (Y, Y.astype(np.float32)):
        kiln.manual_seed(0)
        runs.append(model().fit(X, y, epochs=2, verbose=0).history["loss"])
    assert runs[0] == runs[1]


def test_keras_adam_weight_decay_is_kept_by_get_config_and_decoupled():
    for make, decay in ((keras.optimizers.AdamW, 0.25), (keras.optimizers.Adam, 0.1)):
        config = keras.optimizers.serialize(make(weight_decay=decay))
        assert keras.optimizers.deserialize(config).weight_decay == decay
    assert keras.optimizers.Adam().get_config()["weight_decay"] is None
    assert keras.optimizers.AdamW().get_config()["weight_decay"] == 0.004
    # Keras's weight_decay is decoupled (w -= lr * wd * w before the update): Adam(wd) is AdamW(wd)
    curves = []
    for opt in (keras.optimizers.Adam(0.01, weight_decay=0.1), keras.optimizers.AdamW(0.01, weight_decay=0.1)):
        kiln.manual_seed(0)
        curves.append(model(optimizer=opt).fit(X, Y, epochs=2, verbose=0).history["loss"])
    assert curves[0] == curves[1]


def test_a_saved_adamw_reloads_with_its_weight_decay(tmp_path):
    m = model(optimizer=keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.25))
    m.fit(X, Y, verbose=0)
    m.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is keras.optimizers.AdamW and loaded.optimizer.weight_decay == 0.25


def test_keras_sgd_takes_nesterov_without_momentum_as_keras():
    kiln.manual_seed(0)
    nesterov = model(optimizer=keras.optimizers.SGD(nesterov=True)).fit(X, Y, verbose=0).history["loss"]
    kiln.manual_seed(0)
    assert nesterov == model(optimizer=keras.optimizers.SGD()).fit(X, Y, verbose=0).history["loss"]


def test_keras_config_defaults_from_a_keras_file_are_accepted():
    config = {"learning_rate": 0.001, "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
              "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
              "loss_scale_factor": None, "gradient_accumulation_steps": None, "name": "adam", "beta_1": 0.9,
              "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}
    assert keras.optimizers.Adam(**config).get_config()["epsilon"] == 1e-07


# ---- NaN and Inf in the loss stop fit ------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_stops_fit_with_a_message(bad, capsys):
    x = X.copy()
    x[20] = bad  # batch 2 of 5 with batch_size 8 and no shuffling
    m = model(head=None, loss="mse", units=1)
    seen = []
    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    history = m.fit(x, Y.astype(np.float32), epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[Batches()])
    assert seen == [0, 1, 2]  # stopped after the first bad batch, and no further epoch started
    assert len(history.history["loss"]) == 1 and not math.isfinite(history.history["loss"][0])
    out = capsys.readouterr().out
    assert "Epoch 1, batch 2: invalid loss" in out and "terminating training (TerminateOnNaN)" in out


def test_terminate_on_nan_is_not_added_twice(capsys):
    x = X.copy()
    x[0] = math.nan
    m = model(head=None, loss="mse", units=1)
    m.fit(x, Y.astype(np.float32), batch_size=8, shuffle=False, verbose=0,
          callbacks=[keras.callbacks.TerminateOnNaN()])
    assert capsys.readouterr().out.count("terminating training") == 1
