"""keras.preprocessing.text.Tokenizer: words -> integer ids, as the Keras tutorials use it."""

from __future__ import annotations

from collections import Counter, OrderedDict

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " ") -> list[str]:
    if lower:
        text = text.lower()
    if filters:
        text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """Index words by frequency (1 = most frequent; 0 is kept for padding)."""

    def __init__(self, num_words: int | None = None, filters: str = DEFAULT_FILTERS, lower: bool = True,
                 split: str = " ", char_level: bool = False, oov_token: str | None = None, **kwargs):
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token = char_level, oov_token
        self.word_counts: "OrderedDict[str, int]" = OrderedDict()
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}
        self.document_count = 0

    def _words(self, text: str) -> list[str]:
        if self.char_level:
            return list(text.lower() if self.lower else text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts) -> None:
        counts = Counter(self.word_counts)
        for text in texts:
            self.document_count += 1
            counts.update(self._words(text) if isinstance(text, str) else text)
        self.word_counts = OrderedDict(counts)
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep first-seen order
        vocab = ([self.oov_token] if self.oov_token is not None else []) + [w for w, _ in ordered]
        self.word_index = {w: i + 1 for i, w in enumerate(vocab)}
        self.index_word = {i: w for w, i in self.word_index.items()}

    def texts_to_sequences(self, texts) -> list[list[int]]:
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for text in texts:
            seq = []
            for w in (self._words(text) if isinstance(text, str) else text):
                i = self.word_index.get(w)
                if i is not None and (self.num_words is None or i < self.num_words):
                    seq.append(i)
                elif oov is not None:
                    seq.append(oov)
            out.append(seq)
        return out

    def sequences_to_texts(self, sequences) -> list[str]:
        return [" ".join(self.index_word[i] for i in seq if i in self.index_word) for seq in sequences]


__all__ = ["Tokenizer", "text_to_word_sequence"]
