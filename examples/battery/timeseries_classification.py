"""keras-io "Timeseries classification from scratch": a fully convolutional network (three
Conv1D-BatchNormalization-ReLU blocks, GlobalAveragePooling1D, Dense softmax), the callbacks
ModelCheckpoint(save_best_only) / ReduceLROnPlateau / EarlyStopping, validation_split, then
load_model of the best checkpoint and evaluate.

Source: https://github.com/keras-team/keras-io/blob/master/examples/timeseries/timeseries_classification_from_scratch.py
Changed: the FordA engine-noise set (downloaded TSV) -> generated two-class series of length 500
with FordA's shape and standardisation, a burst marking class 1 (no network), 1000 train / 500
test series; filters 64 -> 32 and 500 -> 15 epochs (the patience values scaled down with them).
"""

import os
import tempfile

import numpy as np

from _common import Clock, parse, report, wave_classes

args = parse(("kiln", "keras"), __doc__, epochs=15, batch_size=32)
if args.lib == "kiln":
    from kiln import keras
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

keras.utils.set_random_seed(args.seed)
n_train, n_test = (128, 64) if args.quick else (1000, 500)
x, y = wave_classes(n_train + n_test)
x_train, y_train, x_test, y_test = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
num_classes = len(np.unique(y_train))
idx = np.random.RandomState(0).permutation(len(x_train))
x_train = x_train[idx]
y_train = y_train[idx]


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=32, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])
with tempfile.TemporaryDirectory() as folder:
    best = os.path.join(folder, "best_model.keras")
    callbacks = [
        keras.callbacks.ModelCheckpoint(best, save_best_only=True, monitor="val_loss"),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=0.0001),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, verbose=1),
    ]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    with Clock() as clock:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=2 if args.quick else args.epochs,
                            callbacks=callbacks, validation_split=0.2, verbose=2)
    model = keras.models.load_model(best)
    test_loss, test_acc = model.evaluate(x_test, y_test)
print("Test accuracy", test_acc)
print("Test loss", test_loss)
report("accuracy", test_acc, history.history["loss"][0], history.history["loss"][-1], clock.seconds)
