"""PyTorch twin of examples/digits_cnn.py: the same CNN, data, optimizer and schedule.

The Keras example's ``fit(validation_split=0.1)`` with ``EarlyStopping(patience=5,
restore_best_weights=True)`` and ``ModelCheckpoint(save_best_only=True)`` becomes a plain
loop that validates on the last 10% of the training set, keeps the best state dict on
disk and stops after five epochs without a better validation loss.

    python examples/torch_twins/digits_cnn.py --epochs 30
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from keras_like import keras_adam, keras_init_


class DigitsCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def evaluate(model, criterion, x, y, batch_size):
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            outputs = model(x[start:start + batch_size])
            targets = y[start:start + batch_size]
            total_loss += criterion(outputs, targets).item() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
    return total_loss / len(x), correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    digits = load_digits()
    images = (digits.images / 16.0).reshape(-1, 1, 8, 8).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, stratify=digits.target, random_state=args.seed)
    cut = int(len(x_train) * 0.9)
    x_train, y_train = torch.tensor(x_train), torch.tensor(y_train)
    x_fit, y_fit, x_val, y_val = x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]
    x_test, y_test = torch.tensor(x_test), torch.tensor(y_test)

    model = keras_init_(DigitsCNN())
    criterion = nn.CrossEntropyLoss()
    optimizer = keras_adam(model.parameters())
    print(model)

    patience, best_loss, wait, epochs_run = 5, float("inf"), 0, 0
    with tempfile.TemporaryDirectory() as workdir:
        checkpoint_path = os.path.join(workdir, "digits_cnn.pt")
        start = time.perf_counter()
        for epoch in range(args.epochs):
            model.train()
            total_loss, correct = 0.0, 0
            for idx in torch.randperm(len(x_fit)).split(args.batch_size):
                inputs, targets = x_fit[idx], y_fit[idx]
                optimizer.zero_grad()
                outputs = model(inputs)
                loss = criterion(outputs, targets)
                loss.backward()
                optimizer.step()
                total_loss += loss.item() * len(idx)
                correct += (outputs.argmax(dim=1) == targets).sum().item()
            val_loss, val_accuracy = evaluate(model, criterion, x_val, y_val, args.batch_size)
            epochs_run += 1
            print(f"epoch {epoch + 1}/{args.epochs}  loss {total_loss / cut:.4f}  accuracy {correct / cut:.4f}"
                  f"  val_loss {val_loss:.4f}  val_accuracy {val_accuracy:.4f}")
            wait += 1
            if val_loss < best_loss:
                best_loss, wait = val_loss, 0
                torch.save(model.state_dict(), checkpoint_path)
            elif wait >= patience:
                break
        train_seconds = time.perf_counter() - start
        print(f"trained {epochs_run} epochs; reloading the best checkpoint")
        model.load_state_dict(torch.load(checkpoint_path))

    test_loss, test_accuracy = evaluate(model, criterion, x_test, y_test, args.batch_size)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(test_accuracy, 4), "epochs": epochs_run,
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
