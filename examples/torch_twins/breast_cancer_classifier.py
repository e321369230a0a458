"""PyTorch twin of examples/breast_cancer_classifier.py: the same model, data and schedule.

The subclassed Keras model becomes an ``nn.Module`` returning logits (its sigmoid moves
into ``BCEWithLogitsLoss``); ``fit(validation_split=0.1)`` becomes a loop over shuffled
batches of 32 that validates on the last 10% of the training set after each epoch.

    python examples/torch_twins/breast_cancer_classifier.py --epochs 50
"""

import argparse
import json
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

from keras_like import keras_adam, keras_init_


class BinaryClassifier(nn.Module):
    def __init__(self, in_features, hidden_units=32, dropout_rate=0.2):
        super().__init__()
        self.hidden1 = nn.Linear(in_features, hidden_units)
        self.dropout = nn.Dropout(dropout_rate)
        self.hidden2 = nn.Linear(hidden_units, hidden_units // 2)
        self.classifier = nn.Linear(hidden_units // 2, 1)

    def forward(self, x):
        x = self.dropout(torch.relu(self.hidden1(x)))
        x = torch.relu(self.hidden2(x))
        return self.classifier(x)


def evaluate(model, criterion, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
        return criterion(logits, y).item(), ((logits > 0).float() == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, stratify=data.target, random_state=args.seed)
    scaler = StandardScaler().fit(x_train)
    to_tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    x_train, x_test = to_tensor(scaler.transform(x_train)), to_tensor(scaler.transform(x_test))
    y_train, y_test = to_tensor(y_train).unsqueeze(1), to_tensor(y_test).unsqueeze(1)
    cut = int(len(x_train) * 0.9)
    x_fit, y_fit, x_val, y_val = x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]

    model = keras_init_(BinaryClassifier(x_train.shape[1]))
    criterion = nn.BCEWithLogitsLoss()
    optimizer = keras_adam(model.parameters(), lr=1e-3)
    print(model)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        total_loss, correct = 0.0, 0
        for idx in torch.randperm(cut).split(args.batch_size):
            inputs, targets = x_fit[idx], y_fit[idx]
            optimizer.zero_grad()
            logits = model(inputs)
            loss = criterion(logits, targets)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += ((logits > 0).float() == targets).sum().item()
        val_loss, val_accuracy = evaluate(model, criterion, x_val, y_val)
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}: loss {total_loss / cut:.4f}  accuracy {correct / cut:.4f}"
                  f"  val_loss {val_loss:.4f}  val_accuracy {val_accuracy:.4f}")
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = evaluate(model, criterion, x_test, y_test)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(test_accuracy, 4), "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
