"""The models and data of the whole-model cases, each written for kiln and for PyTorch.

They are the example programs' models (examples/*.py and their twins in examples/torch_twins/),
kept here so that an installed kiln can time them: the same layers, initialisation (Keras's
on the PyTorch side) and optimizer settings; tests/test_bench_models.py checks them against the
examples' parameter shapes. The data is what the package can make without a download:
scikit-learn's bundled digits, generated word ids and TF-IDF-like rows.

The PyTorch-idiom models are written once over a library module ``lib`` (``kiln`` or ``torch``,
the import being the only difference, as in examples/gpt_char.py).
"""

from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------- data


def digits(limit: int | None = None):
    """The examples' training split of scikit-learn's digits: (images (n, 8, 8) in [0, 1], labels)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x, _, y, _ = train_test_split((data.images / 16.0).astype(np.float32), data.target, test_size=0.2,
                                  stratify=data.target, random_state=0)
    return x[:limit], y[:limit]


def tfidf_like(rng: np.random.Generator, rows: int = 4200, features: int = 28000, classes: int = 4):
    """A CSR matrix shaped as examples/tfidf_mlp.py's training TF-IDF (4200 x 28000, ~90 terms a
    document, Zipf-frequent columns, rows of unit L2 norm, float32) and balanced labels."""
    from scipy import sparse
    lengths = np.clip(rng.lognormal(math.log(75.0), 0.6, size=rows), 10, 400).astype(np.int64)
    weights = 1.0 / np.arange(1, features + 1) ** 0.9
    columns = [np.unique(rng.choice(features, size=n, p=weights / weights.sum())) for n in lengths]
    row_of = np.repeat(np.arange(rows), [len(c) for c in columns])
    values = rng.uniform(0.2, 1.0, size=len(row_of)).astype(np.float32)
    x = sparse.csr_matrix((values, (row_of, np.concatenate(columns))), shape=(rows, features))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = (sparse.diags(1.0 / norms) @ x).tocsr().astype(np.float32)
    return x, np.arange(rows) % classes


NEXT_WORD = dict(vocab=10000, context=22, embedding=64, hidden=1024, samples=320, batch=32, lr=0.01)


def next_word_data(rng: np.random.Generator, vocab: int, context: int, samples: int):
    """Left-padded word-id prefixes (samples, context) and the next word of each, as
    examples/next_word_lstm.py makes from its text (ids Zipf-distributed over ``vocab``)."""
    weights = 1.0 / np.arange(1, vocab) ** 1.1
    ids = 1 + rng.choice(vocab - 1, size=(samples, context + 1), p=weights / weights.sum())
    lengths = rng.integers(1, context + 1, size=samples)
    ids[:, :-1][np.arange(context) < (context - lengths)[:, None]] = 0  # pad_sequences pads in front
    return ids[:, :-1].astype(np.int64), ids[:, -1].astype(np.int64)


# ---------------------------------------------------------------- Keras idiom (kiln.keras)


def digits_cnn_keras(keras, num_classes: int = 10):
    """examples/digits_cnn.py's build_model."""
    layers = keras.layers
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


def tfidf_mlp_keras(keras, num_features: int, num_classes: int):
    """examples/tfidf_mlp.py's build_model."""
    return keras.Sequential([
        keras.Input(shape=(num_features,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def next_word_keras(keras, vocab: int, context: int, embedding: int, hidden: int):
    """examples/next_word_lstm.py's functional model: Input -> Embedding -> LSTM -> Dense(softmax)."""
    inputs = keras.Input(shape=(context,))
    state = keras.layers.LSTM(hidden)(keras.layers.Embedding(vocab, embedding)(inputs))
    return keras.Model(inputs, keras.layers.Dense(vocab, activation="softmax")(state), name="next_word")


# ---------------------------------------------------------------- the PyTorch twins of the Keras models


def keras_init_(torch, model):
    """examples/torch_twins/keras_like.py's keras_init_: Keras's initialisation of Linear, Conv2d,
    Embedding and LSTM layers (glorot-uniform, zero biases, orthogonal recurrent kernels, forget bias 1)."""
    nn = torch.nn
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
        elif isinstance(module, nn.LSTM):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                else:
                    nn.init.zeros_(param)
                    if name.startswith("bias_ih"):
                        with torch.no_grad():
                            param[hidden:2 * hidden] = 1.0
    return model


def keras_adam(torch, params, lr: float = 1e-3):
    """``keras.optimizers.Adam(lr)``: torch's Adam with Keras's epsilon."""
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)


def digits_cnn_torch(torch, num_classes: int = 10):
    """examples/torch_twins/digits_cnn.py's DigitsCNN (NCHW), Keras-initialised."""
    nn = torch.nn
    return keras_init_(torch, nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, num_classes),
    ))


def tfidf_mlp_torch(torch, num_features: int, num_classes: int):
    """examples/torch_twins/tfidf_mlp.py's build_model."""
    nn = torch.nn
    return keras_init_(torch, nn.Sequential(
        nn.Linear(num_features, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, num_classes)))


def next_word_torch(torch, vocab: int, embedding: int, hidden: int):
    """examples/torch_twins/next_word_lstm.py's NextWordLSTM: ids (B, T) -> logits (B, vocab)."""
    nn = torch.nn

    class NextWordLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embedding)
            self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
            self.classifier = nn.Linear(hidden, vocab)

        def forward(self, ids):
            _, (h_n, _) = self.lstm(self.embedding(ids))
            return self.classifier(h_n[-1])

    return keras_init_(torch, NextWordLSTM())


# ---------------------------------------------------------------- PyTorch idiom, either library


def digits_mlp(lib, in_features: int = 64, hidden: int = 128, num_classes: int = 10):
    """examples/digits_mlp.py's MLP (and its twin's): 64 -> 128 -> 64 -> 10, ReLU."""
    nn = lib.nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(in_features, hidden)
            self.fc2 = nn.Linear(hidden, hidden // 2)
            self.fc3 = nn.Linear(hidden // 2, num_classes)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.relu(self.fc1(x))
            x = self.relu(self.fc2(x))
            return self.fc3(x)

    return MLP()


def gpt(lib, vocab: int, context: int, width: int, layers: int, heads: int):
    """examples/gpt_char.py's GPT (nanoGPT's blocks, GPT-2's initialisation, its default dropout 0):
    ids (B, T) and targets -> (logits (B, T, vocab), mean cross-entropy)."""
    nn, F = lib.nn, lib.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(width, 3 * width)
            self.proj = nn.Linear(width, width)
            self.dropout = nn.Dropout(0.0)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.dropout(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(width)
            self.attn = CausalSelfAttention()
            self.ln2 = nn.LayerNorm(width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                     nn.Dropout(0.0))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab, width)
            self.pos = nn.Embedding(context, width)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(width)
            self.head = nn.Linear(width, vocab, bias=False)
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, mean=0.0, std=0.02)
                if name.endswith(("proj.weight", "mlp.2.weight")):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))
                if name.endswith("bias"):
                    nn.init.zeros_(p)

        def forward(self, idx, targets):
            B, T = idx.shape
            x = self.tok(idx) + self.pos(lib.arange(T, device=idx.device))
            for block in self.blocks:
                x = block(x)
            logits = self.head(self.ln_f(x))
            return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))

    return GPT()


def adamw(lib, model, lr: float, weight_decay: float = 0.1):
    """examples/gpt_char.py's AdamW: decay on the matrices, not on biases and norms' gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return lib.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                            {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
