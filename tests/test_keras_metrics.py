"""Keras metrics: state reset per epoch, validation pass and evaluate; Keras's names; AUC,
Precision and Recall against hand-computed cases; sample weights."""

import numpy as np
import pytest

import kiln
from kiln import keras
from kiln.keras import layers, metrics


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


def blobs(n=300, features=10, classes=3, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 2
    y = rng.integers(0, classes, n)
    x = (centers[y] + spread * rng.standard_normal((n, features))).astype(np.float32)
    return x, y


def classifier(device=None, metric_list=None):
    model = keras.Sequential([layers.Dense(16, activation="relu", input_shape=(10,)),
                              layers.Dense(3, activation="softmax")])
    kwargs = {} if device is None else {"device": device}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=metric_list if metric_list is not None else [metrics.SparseCategoricalAccuracy()],
                  **kwargs)
    return model


DEVICES = ["cpu"] + (["cuda"] if kiln.cuda.is_available() else [])


# ---- the bug: a metric object piled up its state across epochs, validation and evaluate ----------------


@pytest.mark.parametrize("device", DEVICES)
def test_evaluate_reports_the_true_accuracy_for_every_batch_size(device):
    x, y = blobs(400)
    xt, yt = blobs(257, seed=1)
    model = classifier(device)
    model.fit(x, y, epochs=3, batch_size=32, validation_data=(xt[:50], yt[:50]), verbose=0)
    true = float(np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt))
    assert 0.3 < true < 1.0  # a case where piling up would show
    for batch_size in (1, 7, 32, 100, 257, 1000):
        loss, acc = model.evaluate(xt, yt, batch_size=batch_size, verbose=0)
        assert acc == pytest.approx(true, abs=1e-12), batch_size
        again = model.evaluate(xt, yt, batch_size=batch_size, verbose=0, return_dict=True)
        assert again["sparse_categorical_accuracy"] == pytest.approx(true, abs=1e-12)
        assert again["loss"] == pytest.approx(loss, rel=1e-5)


def test_history_keys_follow_keras_names():
    x, y = blobs()
    model = classifier(metric_list=[metrics.SparseCategoricalAccuracy(), "accuracy", "acc",
                                    metrics.SparseCategoricalAccuracy(name="mine"), "sparse_categorical_accuracy"])
    history = model.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    names = ["loss", "sparse_categorical_accuracy", "accuracy", "acc", "mine", "sparse_categorical_accuracy_1"]
    assert list(history.history) == names + [f"val_{k}" for k in names]
    assert model.metrics_names == names
    assert [m.name for m in model.metrics] == names[:-1] + ["sparse_categorical_accuracy"]  # the objects' own
    assert all(len(v) == 2 for v in history.history.values())


def test_default_names_are_keras_and_unique():
    assert metrics.SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert metrics.CategoricalAccuracy().name == "categorical_accuracy"
    assert metrics.BinaryAccuracy().name == "binary_accuracy"
    assert metrics.MeanSquaredError().name == "mean_squared_error"
    assert metrics.MeanAbsoluteError().name == "mean_absolute_error"
    first, second = metrics.Precision(), metrics.Precision()
    assert first.name.startswith("precision") and second.name != first.name
    assert metrics.Recall(name="r").name == "r"


def test_epoch_and_validation_metrics_start_afresh():
    """Each epoch's training accuracy is over that epoch's batches only, and each validation
    accuracy equals the accuracy of the weights at that epoch's end."""
    x, y = blobs(240)
    xv, yv = blobs(90, seed=2)
    seen = []

    class Check(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pred = np.argmax(self.model.predict(xv, verbose=0), -1)
            seen.append((logs["val_sparse_categorical_accuracy"], float(np.mean(pred == yv))))

    class AtEpochBegin(keras.callbacks.Callback):
        """One batch per epoch: its forward runs the weights the epoch starts with."""

        def on_epoch_begin(self, epoch, logs=None):
            self.expected = float(np.mean(np.argmax(self.model.predict(x, verbose=0), -1) == y))

        def on_epoch_end(self, epoch, logs=None):
            trained.append((logs["sparse_categorical_accuracy"], self.expected))

    trained = []
    model = classifier()
    model.fit(x, y, epochs=4, batch_size=240, validation_data=(xv, yv), verbose=0,
              callbacks=[Check(), AtEpochBegin()])
    assert len(seen) == len(trained) == 4
    for logged, true in seen + trained:
        assert logged == pytest.approx(true, abs=1e-12)


def test_reset_update_result_on_every_metric():
    y_true = np.array([0, 1, 1, 0])
    prob = np.array([0.2, 0.8, 0.4, 0.6], np.float32)
    probs2 = np.stack([1 - prob, prob], -1)
    cases = [
        (metrics.SparseCategoricalAccuracy(), y_true, probs2, 0.5),
        (metrics.CategoricalAccuracy(), np.eye(2)[y_true], probs2, 0.5),
        (metrics.BinaryAccuracy(), y_true, prob[:, None], 0.5),
        (metrics.MeanSquaredError(), y_true, prob, np.mean((prob - y_true) ** 2)),
        (metrics.MeanAbsoluteError(), y_true, prob, np.mean(np.abs(prob - y_true))),
        (metrics.Precision(), y_true, prob, 0.5),
        (metrics.Recall(), y_true, prob, 0.5),
        (metrics.AUC(), y_true, prob, 0.75),
    ]
    for m, t, p, want in cases:
        m.update_state(t, p)
        m.update_state(t, p)
        assert m.result() == pytest.approx(want, abs=1e-6), m.name
        m.reset_state()
        m.update_state(t, 1 - p)  # other data, then a reset: none of it stays
        m.reset_state()
        assert m(t, p) == pytest.approx(want, abs=1e-6), m.name


def test_metrics_read_device_tensors():
    if "cuda" not in DEVICES:
        pytest.skip("no cuda device")
    p = kiln.tensor(np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)).to("cuda")
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(np.array([1, 1]), p)
    assert m.result() == 0.5


# ---- Precision, Recall, AUC: hand-computed cases ---------------------------------------------------


def test_precision_and_recall_hand_cases():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])  # Keras's doc example: 2 / (2 + 1)
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == pytest.approx(1.0)
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])  # 2 / (2 + 1)
    assert r.result() == pytest.approx(2 / 3)
    r.reset_state()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert r.result() == pytest.approx(1.0)
    # 0.5 itself is not above the threshold
    p = metrics.Precision()
    p.update_state([1, 0], [0.5, 0.51])
    assert p.result() == 0.0
    # nothing predicted positive, no positive label: 0, not NaN
    assert metrics.Precision()([0, 0], [0.1, 0.2]) == 0.0
    assert metrics.Recall()([0, 0], [0.1, 0.2]) == 0.0
    # several thresholds: one value each
    many = metrics.Precision(thresholds=[0.3, 0.7])
    many.update_state([0, 1, 1, 0], [0.4, 0.8, 0.6, 0.9])  # 0.3: tp 2 fp 2; 0.7: tp 1 fp 1
    assert many.result() == pytest.approx([0.5, 0.5])
    # top_k and class_id (Keras's doc examples)
    top = metrics.Precision(top_k=2)
    top.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert top.result() == pytest.approx(0.0)
    top = metrics.Precision(top_k=4)
    top.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert top.result() == pytest.approx(0.5)
    cls = metrics.Recall(class_id=1)
    cls.update_state(np.eye(3)[[1, 1, 2]], np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.6, 0.2]]))
    assert cls.result() == pytest.approx(0.5)  # column 1: labels 1,1,0 preds .7,.3,.6 -> tp 1 fn 1


def auc_by_hand(y, p, n=200):
    """The same definition written out: counts at each threshold, then trapezoids."""
    t = [-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7]
    tpr, fpr = [], []
    for th in t:
        pos = p > th
        tp, fp = np.sum(pos & (y == 1)), np.sum(pos & (y == 0))
        fn, tn = np.sum(~pos & (y == 1)), np.sum(~pos & (y == 0))
        tpr.append(tp / (tp + fn) if tp + fn else 0.0)
        fpr.append(fp / (fp + tn) if fp + tn else 0.0)
    return sum((fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2 for i in range(n - 1))


def test_auc_hand_cases():
    # Keras's doc example: thresholds [0-eps, 0.5, 1+eps] -> tp [2,1,0] fp [2,0,0] fn [0,1,2] tn [0,2,2]
    # tpr [1, .5, 0], fpr [1, 0, 0]: area (1-0)*(1+.5)/2 = 0.75
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    # perfectly separated at the default 200 thresholds
    assert metrics.AUC()([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0)
    assert metrics.AUC()([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1)
    m = metrics.AUC()
    for i in range(0, 500, 64):  # batches accumulate
        m.update_state(y[i:i + 64], p[i:i + 64])
    assert m.result() == pytest.approx(auc_by_hand(y, p), abs=1e-9)
    # and close to the exact (rank) AUC
    exact = np.mean(p[y == 1][:, None] > p[y == 0][None, :])
    assert m.result() == pytest.approx(exact, abs=0.01)
    # from_logits applies the sigmoid
    logits = np.log(p / (1 - p + 1e-12) + 1e-12)
    assert metrics.AUC(from_logits=True)(y, logits) == pytest.approx(m.result(), abs=1e-6)


def test_auc_pr_curve():
    # Davis & Goadrich interpolation, num_thresholds=3 on Keras's example:
    # tp [2,1,0], p = tp+fp [4,1,0]; segment 0: dtp 1, dp 3, slope 1/3, intercept 1-1/3=2/3,
    # ratio 4/1: (1/3)(1 + (2/3) log 4) / (tp+fn at 1 = 2); segment 1: p[2]=0 -> ratio 1: (1/1)(1+0)/2
    m = metrics.AUC(num_thresholds=3, curve="PR")
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    want = (1 / 3) * (1 + (2 / 3) * np.log(4)) / 2 + 0.5
    assert m.result() == pytest.approx(want)
    # minoring: recall x [1, .5, 0], precision y [.5, 1, 0]: (1-.5)*.5 + (.5-0)*0
    m = metrics.AUC(num_thresholds=3, curve="PR", summation_method="minoring")
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.25)


def test_auc_precision_recall_in_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 10)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(10,)),
                              layers.Dense(1, activation="sigmoid")])
    auc, precision, recall = metrics.AUC(), metrics.Precision(), metrics.Recall()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[auc, precision, recall, "accuracy"])
    history = model.fit(x, y, epochs=5, verbose=0, validation_split=0.25)
    assert list(history.history) == ["loss", auc.name, precision.name, recall.name, "accuracy", "val_loss",
                                     f"val_{auc.name}", f"val_{precision.name}", f"val_{recall.name}", "val_accuracy"]
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    logs = {"precision": logs[precision.name], "recall": logs[recall.name], "auc": logs[auc.name], **logs}
    p = model.predict(x, verbose=0)[:, 0]
    pos = p > 0.5
    assert logs["precision"] == pytest.approx(np.sum(pos & (y == 1)) / max(np.sum(pos), 1), abs=1e-9)
    assert logs["recall"] == pytest.approx(np.sum(pos & (y == 1)) / np.sum(y == 1), abs=1e-9)
    assert logs["auc"] == pytest.approx(auc_by_hand(y, p), abs=1e-6)
    assert logs["accuracy"] == pytest.approx(np.mean(pos == (y == 1)), abs=1e-9)


def test_metric_arguments_are_checked():
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="thresholds"):
        metrics.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="top_k"):
        metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("nope")
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.SparseCategoricalAccuracy().update_state([0, 1], [[1, 0], [0, 1]], sample_weight=[1, 2, 3])


# ---- sample weights in metrics ------------------------------------------------------------------


def test_weighted_means():
    m = metrics.Mean()
    m.update_state([1, 2, 3], sample_weight=[1, 0, 1])
    assert m.result() == pytest.approx(2.0)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state([0, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]], sample_weight=[1, 2, 1])
    assert acc.result() == pytest.approx(2 / 4)
    mse = metrics.MeanSquaredError()
    mse.update_state([[0, 0], [1, 1]], [[1, 1], [1, 1]], sample_weight=[3, 1])  # per sample 1, 0
    assert mse.result() == pytest.approx(3 / 4)


# ---- sample_weight and class_weight in the losses and in fit ------------------------------------------

from kiln.keras import losses  # noqa: E402


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("device", DEVICES)
def test_weighted_losses_match_numpy(device):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    w = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0], np.float32)
    p = _softmax(z.astype(np.float64))
    onehot = np.eye(4)[labels]
    b = rng.random((6, 1)).astype(np.float32)
    yb = (rng.random((6, 1)) > 0.5).astype(np.float32)
    sig = 1 / (1 + np.exp(-b.astype(np.float64)))
    t = lambda a: kiln.tensor(a).to(device)  # noqa: E731
    per_ce = -np.log(p[np.arange(6), labels])
    per_bce = -(yb * np.log(sig) + (1 - yb) * np.log(1 - sig))[:, 0]
    reg = rng.standard_normal((6, 3)).astype(np.float32)
    target = rng.standard_normal((6, 3)).astype(np.float32)
    cases = [
        (losses.SparseCategoricalCrossentropy(from_logits=True), labels, t(z), per_ce),
        (losses.SparseCategoricalCrossentropy(), labels, t(p.astype(np.float32)), per_ce),
        (losses.CategoricalCrossentropy(from_logits=True), onehot, t(z), per_ce),
        (losses.CategoricalCrossentropy(), onehot, t(p.astype(np.float32)), per_ce),
        (losses.BinaryCrossentropy(from_logits=True), yb, t(b), per_bce),
        (losses.BinaryCrossentropy(), yb, t(sig.astype(np.float32)), per_bce),
        (losses.MeanSquaredError(), target, t(reg), np.mean((reg - target) ** 2, -1)),
        (losses.MeanAbsoluteError(), target, t(reg), np.mean(np.abs(reg - target), -1)),
    ]
    for loss, y_true, y_pred, per in cases:
        weighted = loss(y_true, y_pred, sample_weight=w)
        assert weighted.device == y_pred.device
        assert float(weighted.item()) == pytest.approx(np.sum(w * per) / 6, rel=1e-5), loss.name
        ones = float(loss(y_true, y_pred, sample_weight=np.ones(6)).item())
        assert ones == pytest.approx(float(loss(y_true, y_pred).item()), rel=1e-5), loss.name
    with pytest.raises(ValueError, match="sample_weight"):
        losses.MeanSquaredError()(target, t(reg), sample_weight=np.ones(5))


def test_weighted_loss_gradient_equals_the_fused_one_at_unit_weights():
    z = kiln.tensor(np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    labels = np.array([0, 2, 1, 1, 0])
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    loss(labels, z).backward()
    fused = z.grad.numpy().copy()
    z.grad = None
    loss(labels, z, sample_weight=np.ones(5) * 3).backward()
    np.testing.assert_allclose(z.grad.numpy(), 3 * fused, rtol=1e-5, atol=1e-7)


def sgd_classifier(lr, device=None, **compile_kwargs):
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(10,)),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  **({} if device is None else {"device": device}), **compile_kwargs)
    return model


@pytest.mark.parametrize("device", DEVICES)
def test_fit_sample_weight_scales_the_loss(device):
    x, y = blobs(96)
    a = sgd_classifier(0.05, device)
    a.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, sample_weight=np.full(96, 2.0))
    keras.utils.set_random_seed(0)
    b = sgd_classifier(0.1, device)
    b.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


def test_class_weight_is_sample_weight_by_label():
    x, y = blobs(96)
    a = sgd_classifier(0.1)
    ha = a.fit(x, y, epochs=2, batch_size=16, verbose=0, class_weight={0: 1.0, 1: 0.5, 2: 0.0})
    keras.utils.set_random_seed(0)
    b = sgd_classifier(0.1)
    hb = b.fit(x, y, epochs=2, batch_size=16, verbose=0, sample_weight=np.choose(y, [1.0, 0.5, 0.0]))
    assert ha.history == hb.history
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # one-hot labels: the class is the argmax; a class the dict lacks weighs 1
    keras.utils.set_random_seed(0)
    c = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(10,)), layers.Dense(3, activation="softmax")])
    c.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    hc = c.fit(x, np.eye(3)[y], epochs=2, batch_size=16, verbose=0, class_weight={1: 0.5, 2: 0.0})
    np.testing.assert_allclose(hc.history["loss"], ha.history["loss"], rtol=1e-5)


def test_evaluate_with_sample_weight_and_weighted_metrics():
    x, y = blobs(101)
    model = sgd_classifier(0.1, metrics=["accuracy"], weighted_metrics=[metrics.SparseCategoricalAccuracy(name="wacc")])
    model.fit(x, y, epochs=2, verbose=0)
    w = np.random.default_rng(3).random(101).astype(np.float32)
    p = model.predict(x, verbose=0).astype(np.float64)
    per = -np.log(np.clip(p[np.arange(101), y], 1e-7, 1 - 1e-7))
    correct = np.argmax(p, -1) == y
    for batch_size in (7, 32, 101):
        logs = model.evaluate(x, y, batch_size=batch_size, sample_weight=w, verbose=0, return_dict=True)
        assert logs["loss"] == pytest.approx(np.sum(w * per) / 101, rel=1e-4)
        assert logs["accuracy"] == pytest.approx(np.mean(correct), abs=1e-12)  # metrics= stay unweighted
        assert logs["wacc"] == pytest.approx(np.sum(w * correct) / np.sum(w), abs=1e-9)


def test_validation_split_carries_the_sample_weights():
    x, y = blobs(100)
    w = np.random.default_rng(4).random(100).astype(np.float32)
    model = sgd_classifier(0.1)
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=0.2, sample_weight=w)
    want = model.evaluate(x[80:], y[80:], sample_weight=w[80:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-6)
    history = model.fit(x[:80], y[:80], epochs=1, verbose=0, validation_data=(x[80:], y[80:], w[80:]))
    want = model.evaluate(x[80:], y[80:], sample_weight=w[80:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(want, rel=1e-6)


def test_weight_arguments_are_checked():
    x, y = blobs(20)
    model = sgd_classifier(0.1)
    with pytest.raises(ValueError, match="at the same time"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(20), class_weight={0: 1.0})
    with pytest.raises(ValueError, match="one weight per sample"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="finite"):
        model.fit(x, y, verbose=0, sample_weight=np.full(20, np.nan))
    with pytest.raises(TypeError, match="class_weight"):
        model.fit(x, y, verbose=0, class_weight=[1.0, 2.0])
    with pytest.raises(TypeError, match="integer class indices"):
        model.fit(x, y, verbose=0, class_weight={"a": 1.0})
    assert np.isfinite(model.train_on_batch(x, y, sample_weight=np.ones(20)))
    assert np.isfinite(model.test_on_batch(x, y, sample_weight=np.ones(20)))


def test_metric_objects_survive_save_and_load(tmp_path):
    x, y = blobs()
    model = classifier(metric_list=[metrics.SparseCategoricalAccuracy(), "accuracy",
                                    metrics.SparseCategoricalAccuracy(name="top")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[metrics.SparseCategoricalAccuracy(), "accuracy"],
                  weighted_metrics=[metrics.SparseCategoricalAccuracy(name="weighted")])
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    back = keras.models.load_model(tmp_path / "m.keras")
    assert back.metrics_names == ["loss", "sparse_categorical_accuracy", "accuracy", "weighted"]
    assert back.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True))
    binary = keras.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(10,))])
    binary.compile(optimizer="adam", loss="binary_crossentropy",
                   metrics=[metrics.AUC(num_thresholds=50, curve="PR", name="pr"), metrics.Precision(thresholds=0.7),
                            metrics.BinaryAccuracy(threshold=0.3)])
    binary.fit(x, (y == 1).astype(np.float32), epochs=1, verbose=0)
    binary.save(tmp_path / "b.keras")
    again = keras.models.load_model(tmp_path / "b.keras")
    auc, precision, accuracy = again._compiled_metrics
    assert (auc.name, auc.num_thresholds, auc.curve) == ("pr", 50, "PR")
    assert precision.thresholds.tolist() == [0.7] and accuracy.threshold == 0.3


def test_top_k_accuracies():
    scores = np.array([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    labels = np.array([2, 2, 0])  # ranks: 2nd, 3rd, tied 2nd
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update_state(labels, scores)
    assert m.name == "sparse_top_k_categorical_accuracy" and m.result() == pytest.approx(2 / 3)
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(labels, scores) == 0.0
    assert metrics.TopKCategoricalAccuracy(k=2)(np.eye(3)[labels], scores) == pytest.approx(2 / 3)
    assert metrics.get("top_k_categorical_accuracy").name == "top_k_categorical_accuracy"
