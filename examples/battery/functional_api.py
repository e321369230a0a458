"""keras-io guide "The Functional API": an MLP built from keras.Input and layer calls,
keras.Model(inputs, outputs, name=...), summary, compile with a from_logits loss object and
RMSprop, fit with validation_split, evaluate; then save and reload the model.

Source: https://github.com/keras-team/keras-io/blob/master/guides/functional_api.py
Changed: MNIST 784 pixels -> scikit-learn's 8x8 digits, 64 pixels (no network); 2 -> 15 epochs
because there are 40x fewer images. Layer sizes, batch 64 and the optimizer are the guide's.
"""

import os
import tempfile

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
inputs = keras.Input(shape=(64,))
dense = layers.Dense(64, activation="relu")
x = dense(inputs)
x = layers.Dense(64, activation="relu")(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
model.summary()

x_train, y_train, x_test, y_test = digits()
if args.quick:
    x_train, y_train = x_train[:384], y_train[:384]
x_train = x_train.reshape(len(x_train), 64).astype("float32")
x_test = x_test.reshape(len(x_test), 64).astype("float32")

model.compile(
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    optimizer=keras.optimizers.RMSprop(),
    metrics=["accuracy"],
)
with Clock() as clock:
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=3 if args.quick else args.epochs,
                        validation_split=0.2, verbose=2)
test_scores = model.evaluate(x_test, y_test, verbose=2)
print("Test loss:", test_scores[0])
print("Test accuracy:", test_scores[1])

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "my_model.keras")
    model.save(path)
    del model
    model = keras.models.load_model(path)
    reloaded = model.evaluate(x_test, y_test, verbose=0)
assert abs(reloaded[1] - test_scores[1]) < 1e-6, (reloaded, test_scores)
report("accuracy", test_scores[1], history.history["loss"][0], history.history["loss"][-1], clock.seconds)
