"""keras-io "Simple MNIST convnet": Sequential Conv2D/MaxPooling2D x2, Flatten, Dropout,
Dense softmax; categorical crossentropy on to_categorical labels, Adam, validation_split.

Source: https://github.com/keras-team/keras-io/blob/master/examples/vision/mnist_convnet.py
Changed: MNIST 28x28 -> scikit-learn's 8x8 digits with each pixel repeated 2x2 (16x16, no
network; 2x2 pooling twice then leaves 2x2x64 features, as 28x28 leaves 5x5x64); 15 -> 30
epochs because there are 40x fewer images. Batch 128 and the layers are the original's.
"""

import os

import numpy as np

from _common import Clock, digits, parse, report

args = parse(("kiln", "keras"), __doc__, epochs=30, batch_size=128)
if args.lib == "kiln":
    from kiln import keras
    from kiln.keras import layers
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

keras.utils.set_random_seed(args.seed)
num_classes = 10
input_shape = (16, 16, 1)
x_train, y_train, x_test, y_test = digits(image_size=16)
if args.quick:
    x_train, y_train = x_train[:384], y_train[:384]
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.summary()
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
with Clock() as clock:
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=3 if args.quick else args.epochs,
                        validation_split=0.1, verbose=2)
score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
report("accuracy", score[1], history.history["loss"][0], history.history["loss"][-1], clock.seconds)
