"""Keras fit of the digits CNN, under mpiexec or alone; History, weights and save counts written.

    mpiexec -n 2 python keras_fit.py OUT     # OUT/rank{r}.json, OUT/rank{r}.npz, OUT/ckpt.keras
    python keras_fit.py OUT                  # the same, one process (rank0.*)

The ranks start from different random weights (seeded by rank): fit broadcasts rank 0's.
"""

import json
import os
import sys

import numpy as np
from sklearn.datasets import load_digits

import kiln.keras.model as keras_model
from kiln import distributed as dist
from kiln import keras
from kiln.keras import layers


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    keras.utils.set_random_seed(0)
    saves = []
    real_save = keras_model.save_model
    keras_model.save_model = lambda *a, **k: (saves.append(1), real_save(*a, **k))

    digits = load_digits()
    x = (digits.images[:588] / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    y = digits.target[:588]
    # different initial weights per rank, drawn before the shared seed's shuffles
    keras.utils.set_random_seed(1 + rank)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras.utils.set_random_seed(0)
    ckpt = os.path.join(out, "ckpt.keras")
    # 471 training rows in batches of 47: shares of 23 and 24 rows, and a last batch of one row
    # (rank 1 has none of it: it adds zeros to the gradient sum, never hangs)
    history = model.fit(x, y, batch_size=47, epochs=3, validation_split=0.2, shuffle=True, verbose=2,
                        callbacks=[keras.callbacks.ModelCheckpoint(ckpt)])
    evaluated = model.evaluate(x[:101], y[:101], batch_size=20, verbose=0)
    predicted = model.predict(x[:33], batch_size=10)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"history": history.history, "saves": len(saves), "evaluate": evaluated,
                   "world": dist.world_size()}, f)
    np.savez(os.path.join(out, f"rank{rank}.npz"), predicted=predicted,
             **{f"w{i}": w.numpy() for i, w in enumerate(model.weights)})


if __name__ == "__main__":
    main()
