"""PyTorch twin of examples/tfidf_mlp.py: the same MLP, data and schedule.

``Sequential([Dense(256, relu), Dropout(0.5), Dense(4, softmax)])`` becomes an
``nn.Sequential`` returning logits for ``CrossEntropyLoss``. The TF-IDF matrices come
from the example (SciPy sparse); each batch is densified as PyTorch users write it,
``torch.tensor(X[idx].toarray())``. ``validation_split=0.1`` is the last 10% of the
training rows, evaluated after each epoch.

    python examples/torch_twins/tfidf_mlp.py --epochs 5
"""

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from keras_like import import_example, keras_adam, keras_init_


def build_model(num_features, num_classes):
    return keras_init_(nn.Sequential(
        nn.Linear(num_features, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, num_classes),
    ))


def evaluate(model, criterion, x, y, batch_size):
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            inputs = torch.tensor(x[start:start + batch_size].toarray())
            targets = y[start:start + batch_size]
            outputs = model(inputs)
            total_loss += criterion(outputs, targets).item() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
    return total_loss / x.shape[0], correct / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    example = import_example("tfidf_mlp")
    x_train, y_train, x_test, y_test = example.prepare_data(args.seed)
    print(f"{x_train.shape[0]} training and {x_test.shape[0]} test documents, {x_train.shape[1]} TF-IDF features")
    y_train, y_test = torch.tensor(y_train, dtype=torch.long), torch.tensor(y_test, dtype=torch.long)
    cut = int(x_train.shape[0] * 0.9)
    x_fit, y_fit, x_val, y_val = x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]

    model = build_model(x_train.shape[1], len(example.CATEGORIES))
    criterion = nn.CrossEntropyLoss()
    optimizer = keras_adam(model.parameters())
    print(model)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        total_loss, correct = 0.0, 0
        for idx in torch.randperm(cut).split(args.batch_size):
            inputs, targets = torch.tensor(x_fit[idx.numpy()].toarray()), y_fit[idx]
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
        val_loss, val_accuracy = evaluate(model, criterion, x_val, y_val, args.batch_size)
        print(f"epoch {epoch + 1}/{args.epochs}  loss {total_loss / cut:.4f}  accuracy {correct / cut:.4f}"
              f"  val_loss {val_loss:.4f}  val_accuracy {val_accuracy:.4f}")
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = evaluate(model, criterion, x_test, y_test, args.batch_size)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(test_accuracy, 4), "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
