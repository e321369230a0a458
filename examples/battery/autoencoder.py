"""keras-io "Convolutional autoencoder for image denoising": Conv2D/MaxPooling2D encoder,
Conv2DTranspose(strides=2) decoder, sigmoid Conv2D output, binary crossentropy, Adam; trained
first to reconstruct, then to denoise (noisy inputs, clean targets), as the example does.

Source: https://github.com/keras-team/keras-io/blob/master/examples/vision/autoencoder.py
Changed: MNIST 28x28 -> scikit-learn's 8x8 digits with each pixel repeated 2x2 (16x16, no
network; two 2x2 poolings leave 4x4 instead of 7x7); 50 -> 10 epochs per phase. The noise
(factor 0.4, clipped to [0, 1]) and the layers are the example's. The metric is the denoising
test loss (lower is better).
"""

import os

import numpy as np

from _common import Clock, digits, parse, report

args = parse(("kiln", "keras"), __doc__, epochs=10, batch_size=128)
if args.lib == "kiln":
    from kiln import keras
    from kiln.keras import layers
    from kiln.keras.models import Model
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers
    from keras.models import Model

keras.utils.set_random_seed(args.seed)


def preprocess(array):
    """Normalizes the supplied array and reshapes it."""
    array = array.astype("float32")
    array = np.reshape(array, (len(array), 16, 16, 1))
    return array


def noise(array):
    """Adds random noise to each image in the supplied array."""
    noise_factor = 0.4
    noisy_array = array + noise_factor * np.random.RandomState(3).normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy_array, 0.0, 1.0).astype("float32")


train_data, _, test_data, _ = digits(image_size=16)
if args.quick:
    train_data = train_data[:256]
train_data = preprocess(train_data)
test_data = preprocess(test_data)
noisy_train_data = noise(train_data)
noisy_test_data = noise(test_data)

input = layers.Input(shape=(16, 16, 1))
# Encoder
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
# Decoder
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

autoencoder = Model(input, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.summary()
epochs = 2 if args.quick else args.epochs
with Clock() as clock:
    first = autoencoder.fit(x=train_data, y=train_data, epochs=epochs, batch_size=args.batch_size, shuffle=True,
                            validation_data=(test_data, test_data), verbose=2)
    second = autoencoder.fit(x=noisy_train_data, y=train_data, epochs=epochs, batch_size=args.batch_size,
                             shuffle=True, validation_data=(noisy_test_data, test_data), verbose=2)
predictions = autoencoder.predict(noisy_test_data)
test_loss = autoencoder.evaluate(noisy_test_data, test_data, verbose=0)
report("denoise test loss", test_loss, first.history["loss"][0], second.history["loss"][-1], clock.seconds)
