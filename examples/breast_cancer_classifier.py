"""Breast cancer diagnosis with a subclassed Keras model, running on kiln.

``class BinaryClassifier(keras.Model)`` creates its layers in ``__init__`` and wires
them in ``call`` (dropout only while training); a sigmoid output trained with
``binary_crossentropy`` on scikit-learn's Wisconsin breast cancer data (30 features,
standardised on the training split). Only the import says kiln.

    PYTHONPATH=python python examples/breast_cancer_classifier.py --epochs 50
"""

import argparse
import json
import time

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from kiln import keras
from kiln.keras import layers


class BinaryClassifier(keras.Model):
    def __init__(self, hidden_units=32, dropout_rate=0.2):
        super().__init__()
        self.hidden1 = layers.Dense(hidden_units, activation="relu")
        self.dropout = layers.Dropout(dropout_rate)
        self.hidden2 = layers.Dense(hidden_units // 2, activation="relu")
        self.classifier = layers.Dense(1, activation="sigmoid")

    def call(self, inputs, training=False):
        x = self.hidden1(inputs)
        x = self.dropout(x, training=training)
        x = self.hidden2(x)
        return self.classifier(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, stratify=data.target, random_state=args.seed)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    model = BinaryClassifier()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.build(input_shape=(None, x_train.shape[1]))
    model.summary()

    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        validation_split=0.1, verbose=0)
    train_seconds = time.perf_counter() - start
    for epoch in sorted({*range(0, args.epochs, max(1, args.epochs // 5)), args.epochs - 1}):
        logs = {name: values[epoch] for name, values in history.history.items()}
        print(f"epoch {epoch + 1:3d}: " + "  ".join(f"{name} {value:.4f}" for name, value in logs.items()))

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(float(test_accuracy), 4),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
