"""The small GPT of ``gpt_char.py`` in the Keras idiom, running on kiln.

Subclassed layers as the Keras guides write them (``TokenAndPositionEmbedding``,
``TransformerBlock`` with ``MultiHeadAttention(use_causal_mask=True)`` and
``LayerNormalization``), a functional ``keras.Model``, ``AdamW`` with a ``CosineDecay``
schedule that warms up, ``global_clipnorm=1.0``, and ``fit`` on windows of scikit-learn's
dataset descriptions (the text the PyTorch-idiom example trains on). It prints the held-out
loss and samples text.

    PYTHONPATH=python python examples/gpt_char_keras.py --steps 600
    KERAS_BACKEND=torch python examples/gpt_char_keras.py --lib keras --steps 600   # on Keras 3

``--lib`` switches the imports and nothing else.
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np



def _library() -> str:
    """The ``--lib`` of the command line, read before argparse because the imports depend on it."""
    for i, arg in enumerate(sys.argv):
        if arg.startswith("--lib="):
            return arg.split("=", 1)[1]
        if arg == "--lib" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
    return "kiln"


LIB = _library()
if LIB == "keras":
    import keras
    from keras import layers, ops
else:
    from kiln import keras
    from kiln.keras import layers, ops


class TokenAndPositionEmbedding(layers.Layer):
    """Token ids (B, T) -> token embedding + position embedding (B, T, width)."""

    def __init__(self, context, vocab, width, **kwargs):
        super().__init__(**kwargs)
        self.token = layers.Embedding(vocab, width, embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.02))
        self.position = layers.Embedding(context, width,
                                         embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.02))

    def call(self, x):
        positions = ops.arange(0, ops.shape(x)[-1], 1)
        return self.token(x) + self.position(positions)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.token.output_dim)


class TransformerBlock(layers.Layer):
    """Pre-norm block: x + causal attention(ln(x)), then x + GELU MLP(ln(x)). (B, T, width) -> same."""

    def __init__(self, width, heads, **kwargs):
        super().__init__(**kwargs)
        self.ln1 = layers.LayerNormalization(epsilon=1e-5)
        self.attention = layers.MultiHeadAttention(heads, key_dim=width // heads)
        self.ln2 = layers.LayerNormalization(epsilon=1e-5)
        self.up = layers.Dense(4 * width, activation="gelu")
        self.down = layers.Dense(width)

    def call(self, x):
        h = self.ln1(x)
        x = x + self.attention(h, h, use_causal_mask=True)
        return x + self.down(self.up(self.ln2(x)))

    def compute_output_shape(self, input_shape):
        return input_shape


def build_model(vocab, context, width=128, depth=4, heads=4):
    """(B, T) int ids -> (B, T, vocab) next-token logits."""
    ids = keras.Input(shape=(context,), dtype="int32")
    x = TokenAndPositionEmbedding(context, vocab, width)(ids)
    for _ in range(depth):
        x = TransformerBlock(width, heads)(x)
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    logits = layers.Dense(vocab, use_bias=False)(x)
    return keras.Model(ids, logits)


def load_text() -> str:
    import sklearn
    folder = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr")
    return "\n\n".join(open(path, encoding="utf-8").read() for path in sorted(glob.glob(f"{folder}/*.rst")))


def windows(data, context, count, rng):
    """``count`` random windows: inputs (count, T) and next tokens (count, T), int32."""
    starts = rng.integers(0, len(data) - context - 1, size=count)
    w = np.stack([data[s:s + context + 1] for s in starts])
    return w[:, :-1].copy(), w[:, 1:].copy()


def sample(model, chars, index, prompt, context, new_tokens, rng, temperature=0.8, top_k=10):
    ids = [index[c] for c in prompt]
    for _ in range(new_tokens):
        window = np.zeros((1, context), np.int32)
        recent = ids[-context:]
        window[0, :len(recent)] = recent  # causal: positions after the last real one do not matter
        logits = ops.convert_to_numpy(model(window, training=False))[0, len(recent) - 1] / temperature
        top = np.argsort(logits)[-top_k:]
        p = np.exp(logits[top] - logits[top].max())
        ids.append(int(rng.choice(top, p=p / p.sum())))
    return "".join(chars[i] for i in ids)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["kiln", "keras"], default="kiln")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_text()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = np.array([index[c] for c in text], dtype=np.int32)
    split = int(0.9 * len(data))
    x_train, y_train = windows(data[:split], args.context, args.steps * args.batch, rng)
    x_held, y_held = windows(data[split:], args.context, 8 * args.batch, rng)

    model = build_model(len(chars), args.context)
    warmup = max(args.steps // 20, 1)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, args.steps - warmup, alpha=0.1,
                                                      warmup_target=args.lr, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.1, beta_2=0.95, global_clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.summary()
    initial = model.evaluate(x_held, y_held, batch_size=args.batch, verbose=0)
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch, epochs=1, shuffle=False, verbose=2)
    seconds = time.perf_counter() - start
    final = model.evaluate(x_held, y_held, batch_size=args.batch, verbose=0)
    print(f"{LIB}: held-out loss {initial:.3f} -> {final:.3f} nats per character; "
          f"training {seconds:.1f} s ({1000 * seconds / args.steps:.0f} ms per step)")
    print("sample:", repr(sample(model, chars, index, "The data", args.context, 120, rng)))
    print("RESULT " + json.dumps({"example": "gpt_char_keras", "lib": LIB, "held_out_loss": round(float(final), 4),
                                  "initial_loss": round(float(initial), 4), "train_seconds": round(seconds, 2),
                                  "steps": args.steps}))


if __name__ == "__main__":
    main()
