"""PyTorch twin of examples/sentiment_lstm.py: the same model, data and schedule.

``Sequential([Embedding(vocab, 32), LSTM(32), Dense(1, sigmoid)])`` becomes an
``nn.Module`` (the LSTM's last hidden state into a Linear, the sigmoid moved into
``BCEWithLogitsLoss``). The reviews, tokenisation and padding come from the example.

    python examples/torch_twins/sentiment_lstm.py --epochs 10
"""

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from keras_like import import_example, keras_adam, keras_init_


class SentimentLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim=32, hidden_size=32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, 1)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return self.classifier(h_n[-1])


def evaluate(model, criterion, x, y, batch_size):
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size])
            targets = y[start:start + batch_size]
            total_loss += criterion(logits, targets).item() * len(targets)
            correct += ((logits > 0).float() == targets).sum().item()
    return total_loss / len(x), correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    x_train, x_test, y_train, y_test, tokenizer = import_example("sentiment_lstm").prepare_data(
        args.samples, args.seed, max_len=20)
    vocab_size = min(tokenizer.num_words, len(tokenizer.word_index) + 1)
    x_train, x_test = torch.tensor(x_train, dtype=torch.long), torch.tensor(x_test, dtype=torch.long)
    y_train = torch.tensor(y_train, dtype=torch.float32).unsqueeze(1)
    y_test = torch.tensor(y_test, dtype=torch.float32).unsqueeze(1)
    cut = int(len(x_train) * 0.9)
    x_fit, y_fit, x_val, y_val = x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]

    model = keras_init_(SentimentLSTM(vocab_size))
    criterion = nn.BCEWithLogitsLoss()
    optimizer = keras_adam(model.parameters())
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
        val_loss, val_accuracy = evaluate(model, criterion, x_val, y_val, args.batch_size)
        print(f"epoch {epoch + 1}/{args.epochs}  loss {total_loss / cut:.4f}  accuracy {correct / cut:.4f}"
              f"  val_loss {val_loss:.4f}  val_accuracy {val_accuracy:.4f}")
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = evaluate(model, criterion, x_test, y_test, args.batch_size)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(test_accuracy, 4), "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
