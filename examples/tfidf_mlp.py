"""Text classification: TF-IDF features into a Keras MLP, running on kiln.

scikit-learn's ``TfidfVectorizer`` (words and word pairs) turns each document into a
sparse row of 28,000 features; ``keras.Sequential([Dense(relu), Dropout,
Dense(softmax)])`` classifies it. ``fit`` takes the SciPy sparse matrix directly; each
batch stays sparse, and the first Dense layer multiplies only its stored entries. Only the
import says kiln.

The data is four categories of the 20 newsgroups corpus when scikit-learn has it cached
(``sklearn.datasets.fetch_20newsgroups``; this script never downloads). Otherwise it
generates a corpus with the same four topics: documents mixing topic words (with the
overlaps that make atheism/christianity and graphics/medicine confusable), common words,
rare words and per-topic jargon, a few of them cross-posted under the wrong label.

    PYTHONPATH=python python examples/tfidf_mlp.py --epochs 5
"""

import argparse
import json
import time

import numpy as np
from sklearn.datasets import fetch_20newsgroups
from sklearn.feature_extraction.text import TfidfVectorizer

from kiln import keras
from kiln.keras import layers

CATEGORIES = ["alt.atheism", "comp.graphics", "sci.med", "soc.religion.christian"]

TOPIC_WORDS = {
    "alt.atheism": """atheism atheist atheists religion religious god gods belief beliefs believe evidence
        argument morality moral objective existence exist faith dogma theist theists islam koran bible
        scripture scientific reason rational logic proof claim claims skeptic agnostic secular church jesus
        christian christians prophet miracle miracles hell creation evolution absolute truth philosophy""",
    "comp.graphics": """image images graphics file files format jpeg gif tiff pixel pixels color colors program
        software code polygon render rendering 3d animation viewer display screen resolution bitmap vector
        library routine algorithm ray tracing texture shading mesh windows unix version ftp package convert
        palette compression vga card driver data scan study""",
    "sci.med": """doctor doctors patient patients disease treatment medical medicine symptoms drug drugs pain
        clinic study studies research infection cancer diet blood pressure health diagnosis therapy dose
        effects chronic surgery skin allergy vitamin migraine yeast food hospital physician condition tests
        results image scan data program screen""",
    "soc.religion.christian": """christ jesus god lord church christian christians bible scripture gospel
        prayer pray faith grace sin sins salvation heaven hell spirit holy catholic protestant orthodox baptism
        sacrament worship resurrection cross apostle paul peter verse verses psalm love forgiveness repentance
        eternal soul marriage pastor priest doctrine trinity believe belief""",
}
COMMON_WORDS = """people think know like just time good make way use new well also even said say does work
    read thanks help question post article point really used want need right things thing years year problem
    problems information number long little list better sure mail reference case course fact group probably
    interested true different called making best look world life seen far today given mean""".split()
SYLLABLES = [c + v for c in "bdfghklmnprstvz" for v in "aeiou"]


def make_newsgroups_like(n_docs, seed, n_rare=4000, n_jargon=600, cross_posted=0.05):
    """n_docs documents over CATEGORIES (balanced) and their labels.

    Each document has its own share of topic words (Beta(2, 6): many are mostly chatter);
    the rest are common words and rare made-up words (names, typos), and a fifth of the
    topical words are the topic's own rare jargon. Zipf frequencies within each pool.
    """
    rng = np.random.default_rng(seed)
    made_up = set()
    while len(made_up) < n_rare + len(CATEGORIES) * n_jargon:
        made_up.add("".join(rng.choice(SYLLABLES, rng.integers(2, 4))))
    made_up = sorted(made_up)
    rng.shuffle(made_up)

    def zipf(words):
        """The words and their sampling probabilities, the i-th most frequent with weight 1 / i^1.1."""
        weights = 1.0 / np.arange(1, len(words) + 1) ** 1.1
        return np.array(words), weights / weights.sum()

    common, rare = zipf(COMMON_WORDS), zipf(made_up[:n_rare])
    pools = {}  # per topic: its words, its jargon, then the shared common and rare words
    for i, name in enumerate(CATEGORIES):
        jargon = made_up[n_rare + i * n_jargon:n_rare + (i + 1) * n_jargon]
        pools[name] = [zipf(TOPIC_WORDS[name].split()), zipf(jargon), common, rare]
    texts, labels = [], []
    for i in range(n_docs):
        label = i % len(CATEGORIES)
        source = CATEGORIES[rng.integers(len(CATEGORIES))] if rng.random() < cross_posted else CATEGORIES[label]
        length = int(np.clip(rng.lognormal(4.2, 0.6), 15, 400))
        share = rng.beta(2, 6)
        counts = rng.multinomial(length, [0.8 * share, 0.2 * share, 0.7 * (1 - share), 0.3 * (1 - share)])
        words = np.concatenate([rng.choice(pool, size=k, p=p) for (pool, p), k in zip(pools[source], counts)])
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def load_corpus(seed):
    """(train_texts, train_labels, test_texts, test_labels): 20 newsgroups if cached, else generated."""
    try:
        kwargs = dict(categories=CATEGORIES, remove=("headers", "footers", "quotes"), shuffle=True,
                      random_state=seed, download_if_missing=False)
        train = fetch_20newsgroups(subset="train", **kwargs)
        test = fetch_20newsgroups(subset="test", **kwargs)
        print(f"20 newsgroups, {len(CATEGORIES)} categories")
        return train.data, train.target, test.data, test.target
    except OSError:
        print("20 newsgroups is not in scikit-learn's data cache and this script does not download it; "
              "using a generated corpus with the same four topics instead")
        texts, labels = make_newsgroups_like(7000, seed)  # enough documents for 28k terms at min_df=2
        return texts[:4200], labels[:4200], texts[4200:], labels[4200:]


def prepare_data(seed, max_features=28000):
    """TF-IDF matrices (SciPy sparse, float32) and labels for the training and test documents."""
    train_texts, y_train, test_texts, y_test = load_corpus(seed)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.5, sublinear_tf=True,
                                 stop_words="english", max_features=max_features, dtype=np.float32)
    x_train = vectorizer.fit_transform(train_texts)
    x_test = vectorizer.transform(test_texts)
    return x_train, np.asarray(y_train), x_test, np.asarray(y_test)


def build_model(num_features, num_classes):
    return keras.Sequential([
        keras.Input(shape=(num_features,)),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)

    x_train, y_train, x_test, y_test = prepare_data(args.seed)
    print(f"{x_train.shape[0]} training and {x_test.shape[0]} test documents, {x_train.shape[1]} TF-IDF features "
          f"({x_train.nnz / x_train.shape[0]:.0f} non-zero per document)")

    model = build_model(x_train.shape[1], len(CATEGORIES))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1, verbose=2)
    train_seconds = time.perf_counter() - start

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {test_loss:.4f}  test accuracy {test_accuracy:.4f}  training time {train_seconds:.2f} s")
    print("RESULT " + json.dumps({"test_accuracy": round(float(test_accuracy), 4),
                                  "train_seconds": round(train_seconds, 3)}))


if __name__ == "__main__":
    main()
