"""Keras callbacks (ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN,
LambdaCallback, ModelCheckpoint with save_freq in batches) and keras.optimizers.schedules,
against Keras 3's formulas and rules worked by hand."""

import csv
import math

import numpy as np
import pytest

from kiln import keras
from kiln.keras import callbacks, layers
from kiln.keras.optimizers import schedules


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def blobs(n=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, features))).astype(np.float32), y


def model(optimizer="sgd"):
    m = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def rates_used(m, x, y, **fit):
    """The learning rate each update ran with, read from the kiln optimizer after each batch."""
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        m.optimizer._kiln.param_groups[0]["lr"]))
    history = m.fit(x, y, verbose=0, callbacks=[cb, *fit.pop("callbacks", [])], **fit)
    return seen, history


# ---- schedules -----------------------------------------------------------------------------------


def test_schedule_formulas():
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert e(0) == 0.1 and e(10) == pytest.approx(0.05) and e(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    e = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert e(9) == 0.1 and e(10) == pytest.approx(0.05) and e(25) == pytest.approx(0.025)

    p = schedules.PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])  # Keras's example
    assert [p(s) for s in (0, 100000, 100001, 110000, 110001)] == [1.0, 1.0, 0.5, 0.5, 0.1]

    poly = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=0.5)
    assert poly(0) == pytest.approx(0.1) and poly(5) == pytest.approx(0.09 * math.sqrt(0.5) + 0.01)
    assert poly(10) == pytest.approx(0.01) and poly(50) == pytest.approx(0.01)
    cyc = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, cycle=True)
    assert cyc(0) == pytest.approx(0.1) and cyc(15) == pytest.approx(0.09 * (1 - 15 / 20) + 0.01)
    assert cyc(20) == pytest.approx(0.01) and cyc(21) == pytest.approx(0.09 * (1 - 21 / 30) + 0.01)

    inv = schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5)
    assert inv(2) == pytest.approx(0.05) and inv(1.5) == pytest.approx(0.1 / 1.75)
    inv = schedules.InverseTimeDecay(0.1, decay_steps=1, decay_rate=0.5, staircase=True)
    assert inv(1.5) == pytest.approx(0.1 / 1.5)

    cos = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.1)
    assert cos(0) == pytest.approx(0.1) and cos(50) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    assert cos(100) == pytest.approx(0.01) and cos(1000) == pytest.approx(0.01)
    warm = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=0.1, warmup_steps=10)
    assert warm(0) == 0.0 and warm(5) == pytest.approx(0.05) and warm(10) == pytest.approx(0.1)
    assert warm(60) == pytest.approx(0.05) and warm(110) == pytest.approx(0.0, abs=1e-12)
    assert warm(1000) == pytest.approx(0.0, abs=1e-12)

    sgdr = schedules.CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5)
    assert sgdr(0) == pytest.approx(0.1) and sgdr(5) == pytest.approx(0.05)
    assert sgdr(10) == pytest.approx(0.05) and sgdr(20) == pytest.approx(0.025)  # second cycle is 20 long


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="1 less"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(TypeError, match="initial_learning_rate"):
        schedules.CosineDecay("0.1", 10)


def test_a_schedule_drives_each_update():
    x, y = blobs()
    sched = schedules.ExponentialDecay(0.5, decay_steps=3, decay_rate=0.5)
    m = model(keras.optimizers.SGD(learning_rate=sched))
    seen, _ = rates_used(m, x, y, epochs=2, batch_size=16)  # 6 updates per epoch
    assert seen == pytest.approx([sched(i) for i in range(12)])
    assert m.optimizer.iterations == 12 and m.optimizer.learning_rate == pytest.approx(sched(12))
    with pytest.raises(TypeError, match="not settable"):
        m.optimizer.learning_rate = 0.1


def test_a_scheduled_run_equals_rates_set_by_hand():
    x, y = blobs()
    sched = schedules.CosineDecay(0.0, decay_steps=8, warmup_target=0.3, warmup_steps=4)
    a = model(keras.optimizers.SGD(learning_rate=sched))
    a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    keras.utils.set_random_seed(0)
    b = model(keras.optimizers.SGD(learning_rate=1.0))
    step = iter(range(100))
    cb = callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: setattr(
        b.optimizer, "learning_rate", sched(next(step))))
    b.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[cb])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_schedule_is_saved_and_resumed(tmp_path):
    x, y = blobs()
    sched = schedules.PiecewiseConstantDecay([5], [0.1, 0.01])
    m = model(keras.optimizers.Adam(learning_rate=sched))
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    m.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(back.optimizer._schedule, schedules.PiecewiseConstantDecay)
    seen, _ = rates_used(back, x, y, epochs=1, batch_size=16)
    assert back.optimizer.iterations == 12 and seen == pytest.approx([0.01] * 6)


# ---- ReduceLROnPlateau, LearningRateScheduler --------------------------------------------------------


class _Holder:
    def __init__(self, rate):
        self.optimizer = keras.optimizers.SGD(learning_rate=rate)
        self.stop_training = False


def test_reduce_lr_on_plateau_rules():
    holder = _Holder(0.1)
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    cb.set_model(holder)
    cb.on_train_begin()
    monitor = [1.0] * 5 + [0.5] * 7
    logged, after = [], []
    for epoch, value in enumerate(monitor):
        logs = {"val_loss": value}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        after.append(holder.optimizer.learning_rate)
    # worked by hand from Keras 3's rules (cooldown counted down before the comparison)
    assert after == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.01, 0.01, 0.01])
    assert logged == [0.1] + after[:-1]
    # min_delta: an improvement smaller than it is no improvement
    holder = _Holder(0.1)
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_delta=0.1)
    cb.set_model(holder)
    cb.on_train_begin()
    for epoch, value in enumerate([1.0, 0.95]):
        cb.on_epoch_end(epoch, {"loss": value})
    assert holder.optimizer.learning_rate == pytest.approx(0.01)
    # "acc" in the name: maximized
    holder = _Holder(0.1)
    cb = callbacks.ReduceLROnPlateau(monitor="val_accuracy", patience=1)
    cb.set_model(holder)
    cb.on_train_begin()
    for epoch, value in enumerate([0.5, 0.6, 0.7]):
        cb.on_epoch_end(epoch, {"val_accuracy": value})
    assert holder.optimizer.learning_rate == 0.1
    with pytest.raises(ValueError, match="factor"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_in_fit():
    x, y = blobs()
    m = model(keras.optimizers.SGD(learning_rate=0.1))
    # the first epoch improves on inf; none after it does by 10: a cut at the end of epochs 1 and 2,
    # each epoch logging the rate it ran with
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    seen, history = rates_used(m, x, y, epochs=3, batch_size=48, callbacks=[cb])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    assert m.optimizer.learning_rate == pytest.approx(0.025)


def test_learning_rate_scheduler(capsys):
    x, y = blobs()
    m = model(keras.optimizers.SGD(learning_rate=0.1))
    cb = callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else lr * 0.5, verbose=1)
    seen, history = rates_used(m, x, y, epochs=3, batch_size=48, callbacks=[cb])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    assert seen == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.05." in capsys.readouterr().out
    m = model(keras.optimizers.SGD(learning_rate=0.1))
    seen, _ = rates_used(m, x, y, epochs=2, batch_size=48,
                         callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert seen == pytest.approx([0.01, 0.01, 0.02, 0.02])
    m = model()
    with pytest.raises(ValueError, match="should be a float"):
        m.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: "fast")])


# ---- CSVLogger, TerminateOnNaN, LambdaCallback -------------------------------------------------------


def test_csv_logger(tmp_path):
    x, y = blobs()
    path = tmp_path / "log.csv"
    m = model()
    history = m.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0,
                    callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(rows) == 3 and [r[0] for r in rows[1:]] == ["0", "1"]
    for i, row in enumerate(rows[1:]):
        for name, value in zip(rows[0][1:], row[1:]):
            assert float(value) == history.history[name][i]
    m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=",", append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 4 and rows[3][0] == "0" and rows[3][3:] == ["NA", "NA"]  # no header again, no val
    callbacks_seen = []
    m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path / "semi.csv", separator=";"),
                                               callbacks.LambdaCallback(on_train_end=callbacks_seen.append)])
    assert (tmp_path / "semi.csv").read_text().splitlines()[0] == "epoch;accuracy;loss;val_accuracy;val_loss"
    assert callbacks_seen and "loss" in callbacks_seen[0]


def test_terminate_on_nan():
    x, y = blobs()
    m = model(keras.optimizers.SGD(learning_rate=1e30))
    batches = []
    history = m.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[
        callbacks.TerminateOnNaN(), callbacks.LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))])
    assert len(history.history["loss"]) == 1 and len(batches) < 12
    assert not math.isfinite(history.history["loss"][0])


# ---- ModelCheckpoint(save_freq=<batches>) -------------------------------------------------------------


def test_model_checkpoint_every_n_batches(tmp_path):
    x, y = blobs()
    m = model()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "ck-{epoch}-{batch}.weights.safetensors"), save_freq=3,
                                   save_weights_only=True)
    m.fit(x, y, epochs=2, batch_size=24, verbose=0, callbacks=[cb])  # 4 batches an epoch: saved after 3 and 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-1-3.weights.safetensors",
                                                         "ck-2-2.weights.safetensors"]
    best = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="loss", save_best_only=True, save_freq=2)
    m.fit(x, y, epochs=1, batch_size=24, verbose=0, callbacks=[best])
    assert (tmp_path / "best.keras").exists() and math.isfinite(best.best)
    for bad in (0, -1, 2.5, "batch", True):
        with pytest.raises(ValueError, match="save_freq"):
            callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_freq=bad)


@pytest.mark.parametrize("clipping", [{"clipvalue": 0.01}, {"clipnorm": 0.05}, {"global_clipnorm": 0.05}])
def test_optimizer_gradient_clipping_is_keras(clipping):
    """One SGD(lr=1) step of a Dense layer moves the weights by the clipped gradient, computed
    here by Keras's rules from the unclipped gradient of the same step."""
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = (x @ np.array([[4.0], [-3.0], [2.0]], np.float32)) + 1.0

    def one_step(**kwargs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0, **kwargs), loss="mse")
        before = [w.copy() for w in model.get_weights()]
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        return [b - a for b, a in zip(before, model.get_weights())]

    grads = one_step()  # lr 1: the step is the gradient
    expected = [g.astype(np.float64) for g in grads]
    if "clipvalue" in clipping:
        expected = [np.clip(g, -clipping["clipvalue"], clipping["clipvalue"]) for g in expected]
    elif "clipnorm" in clipping:
        expected = [g * clipping["clipnorm"] / max(np.linalg.norm(g), clipping["clipnorm"]) for g in expected]
    else:
        total = np.sqrt(sum((g ** 2).sum() for g in expected))
        expected = [g * clipping["global_clipnorm"] / max(total, clipping["global_clipnorm"]) for g in expected]
    assert any(not np.allclose(g, e) for g, e in zip(grads, expected))  # the clipping bites
    for got, want in zip(one_step(**clipping), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
