"""keras-io "Imbalanced classification: credit card fraud detection": a Sequential MLP
(Dense 256 x3, Dropout 0.3, sigmoid), the confusion-count metrics, Precision and Recall,
ModelCheckpoint each epoch, class_weight from the class frequencies, Adam(1e-2), batch 2048.

Source: https://github.com/keras-team/keras-io/blob/master/examples/structured_data/imbalanced_classification.py
Changed: the Kaggle credit card CSV (284 807 rows, 0.17% fraud) -> scikit-learn's
make_classification, 30 features, 20 000 rows, about 2% positives (no network); 30 -> 20 epochs.
The normalisation, the 80/20 split and the model are the original's. The metric is the
validation recall (the example's point: most frauds found) and the precision is shown next to it.
"""

import os
import tempfile

import numpy as np
from sklearn.datasets import make_classification

from _common import Clock, parse, report

args = parse(("kiln", "keras"), __doc__, epochs=20, batch_size=2048)
if args.lib == "kiln":
    from kiln import keras
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

keras.utils.set_random_seed(args.seed)
features, targets = make_classification(n_samples=4000 if args.quick else 20000, n_features=30, n_informative=12,
                                        weights=[0.98], flip_y=0.002, class_sep=1.0, random_state=0)
features = features.astype("float32")
targets = targets.reshape(-1, 1).astype("float32")
num_val_samples = int(len(features) * 0.2)
train_features = features[:-num_val_samples]
train_targets = targets[:-num_val_samples]
val_features = features[-num_val_samples:]
val_targets = targets[-num_val_samples:]
counts = np.bincount(train_targets[:, 0].astype(int))
print("Number of positive samples in training data: {} ({:.2f}% of total)".format(
    counts[1], 100 * float(counts[1]) / len(train_targets)))

mean = np.mean(train_features, axis=0)
train_features -= mean
val_features -= mean
std = np.std(train_features, axis=0)
train_features /= std
val_features /= std

model = keras.Sequential(
    [
        keras.Input(shape=train_features.shape[1:]),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.summary()
metrics = [
    keras.metrics.FalseNegatives(name="fn"),
    keras.metrics.FalsePositives(name="fp"),
    keras.metrics.TrueNegatives(name="tn"),
    keras.metrics.TruePositives(name="tp"),
    keras.metrics.Precision(name="precision"),
    keras.metrics.Recall(name="recall"),
]
model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=metrics)
weight_for_0 = 1.0 / counts[0]
weight_for_1 = 1.0 / counts[1]
with tempfile.TemporaryDirectory() as folder:
    callbacks = [keras.callbacks.ModelCheckpoint(os.path.join(folder, "fraud_model_at_epoch_{epoch}.keras"))]
    class_weight = {0: weight_for_0, 1: weight_for_1}
    with Clock() as clock:
        history = model.fit(train_features, train_targets, batch_size=args.batch_size,
                            epochs=3 if args.quick else args.epochs, verbose=2, callbacks=callbacks,
                            validation_data=(val_features, val_targets), class_weight=class_weight)
    saved = sorted(os.listdir(folder))
assert len(saved) == len(history.history["loss"]), saved
h = history.history
print("validation: fn {} fp {} tp {} recall {:.3f} precision {:.3f}".format(
    h["val_fn"][-1], h["val_fp"][-1], h["val_tp"][-1], h["val_recall"][-1], h["val_precision"][-1]))
report("val recall", h["val_recall"][-1], h["loss"][0], h["loss"][-1], clock.seconds,
       precision=h["val_precision"][-1])
