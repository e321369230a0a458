"""keras-io "Bidirectional LSTM on IMDB": Input(shape=(None,), int32), Embedding, two
Bidirectional(LSTM(64)) layers (the first with return_sequences), Dense sigmoid; pad_sequences,
Adam, binary crossentropy, validation_data.

Source: https://github.com/keras-team/keras-io/blob/master/examples/nlp/bidirectional_lstm_imdb.py
Changed: keras.datasets.imdb (downloaded) -> generated movie reviews with negations, turned
into frequency-ranked word indices as imdb.load_data returns them (no network), 512 train /
256 validation reviews, maxlen 200 -> 40 (the reviews are shorter), 2 -> 3 epochs: Keras's
LSTM on the torch backend takes seconds per batch of 32 on a loaded 2-core machine.
"""

import os

import numpy as np

from _common import Clock, imdb_like, parse, report

args = parse(("kiln", "keras"), __doc__, epochs=3, batch_size=32)
if args.lib == "kiln":
    from kiln import keras
    from kiln.keras import layers
else:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers

keras.utils.set_random_seed(args.seed)
max_features = 20000  # Only consider the top 20k words
maxlen = 40  # Only consider the first 40 words of each review

inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(max_features, 128)(inputs)
x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(64))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

(x_train, y_train), (x_val, y_val) = imdb_like(128 if args.quick else 512, 64 if args.quick else 256,
                                               num_words=max_features)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
with Clock() as clock:
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=2 if args.quick else args.epochs,
                        validation_data=(x_val, y_val), verbose=2)
h = history.history
report("val accuracy", h["val_accuracy"][-1], h["loss"][0], h["loss"][-1], clock.seconds)
