"""Next-word prediction with the Keras functional API, running on kiln.

``Input -> Embedding -> LSTM -> Dense(vocabulary, softmax)`` built as
``keras.Model(inputs, outputs)`` and trained on the opening of Lewis Carroll's "Alice's
Adventures in Wonderland" (1865, public domain). Every prefix of every sentence is a
training sample: ``Tokenizer`` turns words into ids, ``pad_sequences`` left-pads the
prefixes, the last word of each is the label (one-hot, ``to_categorical``). The script
prints the training accuracy and lets the model continue a few openings greedily.

    PYTHONPATH=python python examples/next_word_lstm.py --epochs 30
"""

import argparse
import json
import re
import time

import numpy as np

from kiln import keras
from kiln.keras import layers
from kiln.keras.preprocessing.sequence import pad_sequences
from kiln.keras.preprocessing.text import Tokenizer
from kiln.keras.utils import to_categorical

TEXT = """
Alice was beginning to get very tired of sitting by her sister on the bank, and of having
nothing to do: once or twice she had peeped into the book her sister was reading, but it had
no pictures or conversations in it, "and what is the use of a book," thought Alice "without
pictures or conversations?"

So she was considering in her own mind (as well as she could, for the hot day made her feel
very sleepy and stupid), whether the pleasure of making a daisy-chain would be worth the
trouble of getting up and picking the daisies, when suddenly a White Rabbit with pink eyes ran
close by her.

There was nothing so very remarkable in that; nor did Alice think it so very much out of the
way to hear the Rabbit say to itself, "Oh dear! Oh dear! I shall be late!" (when she thought
it over afterwards, it occurred to her that she ought to have wondered at this, but at the
time it all seemed quite natural); but when the Rabbit actually took a watch out of its
waistcoat-pocket, and looked at it, and then hurried on, Alice started to her feet, for it
flashed across her mind that she had never before seen a rabbit with either a
waistcoat-pocket, or a watch to take out of it, and burning with curiosity, she ran across
the field after it, and fortunately was just in time to see it pop down a large rabbit-hole
under the hedge.

In another moment down went Alice after it, never once considering how in the world she was
to get out again.

The rabbit-hole went straight on like a tunnel for some way, and then dipped suddenly down,
so suddenly that Alice had not a moment to think about stopping herself before she found
herself falling down a very deep well.
"""


def prepare_data(text=TEXT):
    """Every sentence prefix as (ids of the words so far, next word); and the fitted tokenizer."""
    sentences = [s.strip() for s in re.split(r"[.,;:!?()]", text.replace("\n", " ")) if len(s.split()) > 1]
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(sentences)
    prefixes = [ids[:end] for ids in tokenizer.texts_to_sequences(sentences) for end in range(2, len(ids) + 1)]
    prefixes = pad_sequences(prefixes)
    return prefixes[:, :-1], prefixes[:, -1], tokenizer


def continue_text(model, tokenizer, seed_text, num_words, context_len):
    """Append the model's most likely next word, num_words times."""
    for _ in range(num_words):
        ids = pad_sequences(tokenizer.texts_to_sequences([seed_text]), maxlen=context_len)
        next_id = int(np.argmax(model.predict(ids, verbose=0)[0]))
        seed_text += " " + tokenizer.index_word.get(next_id, "?")
    return seed_text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    x, labels, tokenizer = prepare_data()
    vocab_size = len(tokenizer.word_index) + 1
    y = to_categorical(labels, num_classes=vocab_size)
    context_len = x.shape[1]
    print(f"{len(x)} prefixes of up to {context_len} words, vocabulary {vocab_size}")

    inputs = keras.Input(shape=(context_len,))
    embedded = layers.Embedding(vocab_size, 64)(inputs)
    state = layers.LSTM(128)(embedded)
    outputs = layers.Dense(vocab_size, activation="softmax")(state)
    model = keras.Model(inputs, outputs, name="next_word")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    history = model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    train_seconds = time.perf_counter() - start
    for epoch in sorted({*range(0, args.epochs, max(1, args.epochs // 6)), args.epochs - 1}):
        print(f"epoch {epoch + 1:3d}: loss {history.history['loss'][epoch]:.4f}"
              f"  accuracy {history.history['accuracy'][epoch]:.4f}")

    train_loss, train_accuracy = model.evaluate(x, y, verbose=0)
    print(f"training loss {train_loss:.4f}  training accuracy {train_accuracy:.4f}  "
          f"training time {train_seconds:.2f} s")
    for seed_text in ["alice was beginning", "the rabbit", "down went", "she ran across"]:
        print("  " + continue_text(model, tokenizer, seed_text, 6, context_len))
    print("RESULT " + json.dumps({"train_accuracy": round(float(train_accuracy), 4),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
