"""Handwritten digits with a small CNN, written the Keras way, running on kiln.

A ``keras.Sequential`` convnet (channels_last: ``Conv2D -> MaxPooling2D -> Conv2D ->
MaxPooling2D -> Flatten -> Dense -> Dense(10, softmax)``) on scikit-learn's 8x8 digits,
reshaped to (n, 8, 8, 1) and scaled to [0, 1]. ``EarlyStopping`` watches the validation
loss and ``ModelCheckpoint`` keeps the best model on disk. Only the import says kiln.

    PYTHONPATH=python python examples/digits_cnn.py --epochs 30
"""

import argparse
import json
import os
import tempfile
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from kiln import keras
from kiln.keras import layers


def build_model(num_classes=10):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(32, kernel_size=3, padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=2),
        layers.Conv2D(64, kernel_size=3, padding="same", activation="relu"),
        layers.MaxPooling2D(pool_size=2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(num_classes, activation="softmax"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    digits = load_digits()
    images = (digits.images / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, stratify=digits.target, random_state=args.seed)

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    with tempfile.TemporaryDirectory() as workdir:
        checkpoint_path = os.path.join(workdir, "digits_cnn.keras")
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
            keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_loss", save_best_only=True),
        ]
        start = time.perf_counter()
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                            validation_split=0.1, callbacks=callbacks, verbose=2)
        train_seconds = time.perf_counter() - start
        best_epoch = 1 + min(range(len(history.epoch)), key=lambda i: history.history["val_loss"][i])
        print(f"trained {len(history.epoch)} epochs; reloading the best checkpoint (epoch {best_epoch})")
        best = keras.models.load_model(checkpoint_path)

    test_loss, test_accuracy = best.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(float(test_accuracy), 4), "epochs": len(history.epoch),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
