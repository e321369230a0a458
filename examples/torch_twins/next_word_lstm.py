"""PyTorch twin of examples/next_word_lstm.py: the same model, data and schedule.

The functional ``Input -> Embedding(vocab, 64) -> LSTM(128) -> Dense(vocab, softmax)``
becomes an ``nn.Module`` returning logits; categorical cross-entropy on one-hot labels is
``CrossEntropyLoss`` on the label ids. The prefixes and tokenizer come from the example.

    python examples/torch_twins/next_word_lstm.py --epochs 30
"""

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from keras_like import import_example, keras_adam, keras_init_


class NextWordLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim=64, hidden_size=128):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
        self.classifier = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return self.classifier(h_n[-1])


def continue_text(model, tokenizer, seed_text, num_words, context_len):
    """Append the model's most likely next word, num_words times."""
    model.eval()
    for _ in range(num_words):
        ids = tokenizer.texts_to_sequences([seed_text])[0][-context_len:]
        ids = torch.tensor([[0] * (context_len - len(ids)) + ids])
        with torch.no_grad():
            next_id = model(ids).argmax(dim=1).item()
        seed_text += " " + tokenizer.index_word.get(next_id, "?")
    return seed_text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    x, labels, tokenizer = import_example("next_word_lstm").prepare_data()
    vocab_size = len(tokenizer.word_index) + 1
    x, y = torch.tensor(x, dtype=torch.long), torch.tensor(labels, dtype=torch.long)
    context_len = x.shape[1]
    print(f"{len(x)} prefixes of up to {context_len} words, vocabulary {vocab_size}")

    model = keras_init_(NextWordLSTM(vocab_size))
    criterion = nn.CrossEntropyLoss()
    optimizer = keras_adam(model.parameters(), lr=0.01)
    print(model)

    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        total_loss, correct = 0.0, 0
        for idx in torch.randperm(len(x)).split(args.batch_size):
            inputs, targets = x[idx], y[idx]
            optimizer.zero_grad()
            logits = model(inputs)
            loss = criterion(logits, targets)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(dim=1) == targets).sum().item()
        if epoch % max(1, args.epochs // 6) == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}: loss {total_loss / len(x):.4f}  accuracy {correct / len(x):.4f}")
    train_seconds = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        logits = model(x)
        train_loss = criterion(logits, y).item()
        train_accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    print(f"training loss {train_loss:.4f}  training accuracy {train_accuracy:.4f}  "
          f"training time {train_seconds:.2f} s")
    for seed_text in ["alice was beginning", "the rabbit", "down went", "she ran across"]:
        print("  " + continue_text(model, tokenizer, seed_text, 6, context_len))
    print("RESULT " + json.dumps({"train_accuracy": round(train_accuracy, 4),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
