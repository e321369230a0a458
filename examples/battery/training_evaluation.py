"""keras-io guide "Training & evaluation with the built-in methods": a named functional MLP,
compile with optimizer/loss/metric *objects* (RMSprop(learning_rate=1e-3),
SparseCategoricalCrossentropy, SparseCategoricalAccuracy), fit with validation_data, read
history.history by the metric's name, evaluate with batch_size, predict; then the guide's
class_weight section (class 5 weighted 2x) on a fresh model.

Source: https://github.com/keras-team/keras-io/blob/master/guides/training_with_built_in_methods.py
Changed: MNIST (60 000 images, the last 10 000 held out for validation) -> scikit-learn's 8x8
digits (no network), the last 200 training images held out; 2 -> 15 epochs (40x fewer images).
"""

import os

import numpy as np

from _common import Clock, digits, parse, report

args = parse(("kiln", "keras"), __doc__, epochs=15, batch_size=64)
if args.lib == "kiln":
    from kiln import keras
    from kiln.keras import layers
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

keras.utils.set_random_seed(args.seed)
inputs = keras.Input(shape=(64,), name="digits")
x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs)

x_train, y_train, x_test, y_test = digits()
x_train = x_train.reshape(len(x_train), 64).astype("float32")
x_test = x_test.reshape(len(x_test), 64).astype("float32")
y_train = y_train.astype("float32")
y_test = y_test.astype("float32")
if args.quick:
    x_train, y_train = x_train[:584], y_train[:584]
x_val = x_train[-200:]
y_val = y_train[-200:]
x_train = x_train[:-200]
y_train = y_train[:-200]

model.compile(
    optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
print("Fit model on training data")
epochs = 2 if args.quick else args.epochs
with Clock() as clock:
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs,
                        validation_data=(x_val, y_val), verbose=2)
print(history.history)
print("Evaluate on test data")
results = model.evaluate(x_test, y_test, batch_size=128)
print("test loss, test acc:", results)
# the metric's state is reset per evaluation: the accuracy must not depend on the batch size
again = model.evaluate(x_test, y_test, batch_size=37, verbose=0)
assert abs(again[1] - results[1]) < 1e-6, (again, results)
predictions = model.predict(x_test[:3])
print("predictions shape:", predictions.shape)
by_hand = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
assert abs(by_hand - results[1]) < 1e-6, (by_hand, results)

class_weight = {i: 1.0 for i in range(10)}
class_weight[5] = 2.0
weighted = keras.Model(inputs=inputs, outputs=outputs)
weighted.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                 loss=keras.losses.SparseCategoricalCrossentropy(),
                 metrics=[keras.metrics.SparseCategoricalAccuracy()])
weighted.fit(x_train, y_train, class_weight=class_weight, batch_size=args.batch_size, epochs=1, verbose=0)
losses = history.history["loss"]
report("accuracy", results[1], losses[0], losses[-1], clock.seconds,
       val_accuracy=history.history["val_sparse_categorical_accuracy"][-1])
