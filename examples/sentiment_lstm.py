"""Sentiment classification with an LSTM, written the Keras way, running on kiln.

``keras.Sequential([Embedding, LSTM, Dense(1, sigmoid)])`` on movie-review sentences the
script writes itself from templates: praise and complaints with varied vocabulary, but
also negations ("the plot was not boring") and contrasts ("the acting was superb but the
story was dull") whose label depends on word order, so a bag of words is not enough. One
review in ten is lukewarm ("the ending was okay") and its label a coin toss, as with real
star ratings, so about 95% is the best any model can do.
Text goes through ``Tokenizer`` and ``pad_sequences`` as in the Keras tutorials.

    PYTHONPATH=python python examples/sentiment_lstm.py --epochs 10
"""

import argparse
import json
import random
import time

import numpy as np
from sklearn.model_selection import train_test_split

from kiln import keras
from kiln.keras import layers
from kiln.keras.preprocessing.sequence import pad_sequences
from kiln.keras.preprocessing.text import Tokenizer

SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the cast",
            "the story", "the dialogue", "the camera work", "this show", "the script", "the lead actor",
            "the villain", "the second half", "the opening scene", "the direction", "the pacing"]
POSITIVE = ["good", "great", "wonderful", "brilliant", "moving", "charming", "superb", "delightful", "gripping",
            "beautiful", "clever", "funny", "touching", "memorable", "stunning", "excellent", "enjoyable",
            "fresh", "powerful", "heartfelt", "witty", "masterful", "lovely", "engaging", "solid", "thrilling"]
NEGATIVE = ["bad", "boring", "dull", "awful", "terrible", "clumsy", "predictable", "bland", "tedious", "weak", "messy",
            "forgettable", "painful", "lifeless", "confusing", "shallow", "lazy", "annoying", "flat",
            "disappointing", "poor", "silly", "slow", "dreadful", "mediocre", "pointless"]
LUKEWARM = ["okay", "fine", "average", "decent", "watchable", "alright", "passable"]
LIKE = {"love": "loved", "enjoy": "enjoyed", "adore": "adored", "like": "liked", "admire": "admired"}
DISLIKE = {"hate": "hated", "dislike": "disliked", "resent": "resented", "regret": "regretted"}
INTENSIFIERS = ["", "", "really", "truly", "very", "quite", "so", "incredibly", "rather", "pretty"]
OPENERS = ["", "", "", "honestly", "overall", "to be fair", "in the end", "all in all", "frankly"]


def clause(rng, positive):
    """A short judgement of one subject; about a third are negated opposites."""
    subject = rng.choice(SUBJECTS)
    if rng.random() < 0.3:
        if rng.random() < 0.5:
            return f"{subject} was not {rng.choice(NEGATIVE if positive else POSITIVE)}"
        return f"i did not {rng.choice(list(DISLIKE if positive else LIKE))} {subject}"
    form = rng.randrange(3)
    if form == 0:
        adjective = rng.choice(POSITIVE if positive else NEGATIVE)
        return f"{subject} was {rng.choice(INTENSIFIERS)} {adjective}".replace("  ", " ")
    if form == 1:
        return f"i {rng.choice(list((LIKE if positive else DISLIKE).values()))} {subject}"
    return f"i thought {subject} was {rng.choice(POSITIVE if positive else NEGATIVE)}"


def make_reviews(n, seed):
    """n review texts and their labels (1 positive, 0 negative; balanced)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        text = clause(rng, positive)
        if rng.random() < 0.1:  # lukewarm: the words do not tell, the label was a coin toss
            text = f"{rng.choice(SUBJECTS)} was {rng.choice(LUKEWARM)}"
        elif rng.random() < 0.35:  # "<the other opinion> but <the verdict>": the part after "but" decides
            text = f"{clause(rng, not positive)} but {text}"
        opener = rng.choice(OPENERS)
        texts.append(f"{opener}, {text}" if opener else text)
        labels.append(int(positive))
    return texts, np.array(labels)


def prepare_data(samples, seed, num_words=1000, max_len=20):
    """Reviews -> padded id sequences (x) and labels (y), split 80/20; and the fitted tokenizer."""
    texts, labels = make_reviews(samples, seed)
    for text, label in zip(texts[:4], labels[:4]):
        print(f"  {'positive' if label else 'negative'}: {text}")
    train_texts, test_texts, y_train, y_test = train_test_split(
        texts, labels, test_size=0.2, stratify=labels, random_state=seed)
    tokenizer = Tokenizer(num_words=num_words, oov_token="<OOV>")
    tokenizer.fit_on_texts(train_texts)
    x_train = pad_sequences(tokenizer.texts_to_sequences(train_texts), maxlen=max_len)
    x_test = pad_sequences(tokenizer.texts_to_sequences(test_texts), maxlen=max_len)
    return x_train, x_test, y_train, y_test, tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    max_len = 20
    x_train, x_test, y_train, y_test, tokenizer = prepare_data(args.samples, args.seed, max_len=max_len)
    vocab_size = min(tokenizer.num_words, len(tokenizer.word_index) + 1)
    print(f"{len(x_train)} training and {len(x_test)} test reviews, vocabulary {vocab_size}")

    model = keras.Sequential([
        keras.Input(shape=(max_len,)),
        layers.Embedding(vocab_size, 32),
        layers.LSTM(32),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1, verbose=2)
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    samples = ["the acting was not bad", "i did not enjoy the ending",
               "the plot was clever but the pacing was painful", "honestly, i loved this film"]
    scores = model.predict(pad_sequences(tokenizer.texts_to_sequences(samples), maxlen=max_len), verbose=0)
    print("probability that a new review is positive:")
    for text, score in zip(samples, scores[:, 0]):
        print(f"  {score:.3f}  {text}")
    print("RESULT " + json.dumps({"test_accuracy": round(float(test_accuracy), 4),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
