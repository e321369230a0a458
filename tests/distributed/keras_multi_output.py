"""A functional model of two outputs (a loss and a metric each) fit under mpiexec or alone.

    mpiexec -n 2 python keras_multi_output.py OUT     # OUT/rank{r}.json: History and predictions
"""

import json
import os
import sys

import numpy as np

from kiln import distributed as dist
from kiln import keras
from kiln.keras import layers


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(37, 4)).astype("float32")
    inputs = keras.Input(shape=(4,))
    hidden = layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, [layers.Dense(1, name="a")(hidden),
                                 layers.Dense(3, activation="softmax", name="b")(hidden)])
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"], metrics=[["mae"], ["accuracy"]])
    # 37 rows in batches of 10: shares of 5 and 5, then a last batch of 7 (4 and 3)
    history = model.fit(x, [x[:, :1], (x[:, 1] > 0).astype("int64")], batch_size=10, epochs=2, verbose=0)
    predicted = model.predict(x, batch_size=8)
    with open(os.path.join(out, f"rank{dist.rank()}.json"), "w") as f:
        json.dump({"history": history.history, "predicted": [p.tolist() for p in predicted]}, f)


if __name__ == "__main__":
    main()
