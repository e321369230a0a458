"""PyTorch twin of examples/regression_mlp.py: the same program with ``import torch``.

    python examples/torch_twins/regression_mlp.py --epochs 100
"""

import argparse
import json
import time

from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import torch
from torch import nn


def make_model(in_features, hidden=128, depth=7):
    """depth Linear layers with ReLU between them, ending in one output."""
    layers = [nn.Linear(in_features, hidden), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, 1))
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="full-batch Adam steps")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=args.seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=args.seed)
    x_scaler, y_scaler = StandardScaler().fit(x_train), StandardScaler().fit(y_train.reshape(-1, 1))
    x_train = torch.tensor(x_scaler.transform(x_train), dtype=torch.float32)
    x_test = torch.tensor(x_scaler.transform(x_test), dtype=torch.float32)
    y_train = torch.tensor(y_scaler.transform(y_train.reshape(-1, 1)), dtype=torch.float32)
    y_test = torch.tensor(y_scaler.transform(y_test.reshape(-1, 1)), dtype=torch.float32)

    model = make_model(x_train.shape[1])
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(model)

    with torch.no_grad():
        initial_loss = criterion(model(x_train), y_train).item()
    print(f"training loss before: {initial_loss:.4f}")

    start = time.perf_counter()
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        loss = criterion(model(x_train), y_train)
        loss.backward()
        optimizer.step()
        if (epoch + 1) % 10 == 0:
            print(f"step {epoch + 1:4d}/{args.epochs}  loss {loss.item():.4f}")
    train_seconds = time.perf_counter() - start

    with torch.no_grad():
        final_loss = criterion(model(x_train), y_train).item()
        test_mse = criterion(model(x_test), y_test).item()
    print(f"training loss after:  {final_loss:.4f} ({initial_loss / final_loss:.1f}x lower)")
    print(f"test MSE (standardised target) {test_mse:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_mse": round(test_mse, 4), "train_loss_cut": round(initial_loss / final_loss, 2),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
