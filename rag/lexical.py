"""The BM25 side: tokenization (English stopwords + Snowball stemmer) and a bm25s index on disk.

The index is saved by bm25s as ``.npy`` and ``.json`` files with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
MAX_QUERY_CHARS = 10_000
# Chosen on SciFact's train split (bench/tune_fusion.py); bm25s's defaults are k1=1.5, b=0.75.
BM25_K1 = 0.9
BM25_B = 0.75


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased words of two or more characters (the bm25s token pattern)."""
    return TOKEN_RE.findall(text.lower())


def tokenize(text: str) -> list[str]:
    """Stemmed content words of ``text``, stopwords removed, in order."""
    stop = _stopwords()
    kept = [w for w in words(text) if w not in stop]
    return _stemmer().stemWords(kept) if kept else []


def tokenize_many(texts: list[str]) -> list[list[str]]:
    stop = _stopwords()
    stem = _stemmer()
    cache: dict[str, str] = {}
    out = []
    for text in texts:
        toks = []
        for w in words(text):
            if w in stop:
                continue
            s = cache.get(w)
            if s is None:
                s = cache[w] = stem.stemWord(w)
            toks.append(s)
        out.append(toks)
    return out


class BM25Index:
    """A bm25s index over passages; rows line up with the passages of the index."""

    FOLDER = "bm25"

    def __init__(self, model, n_docs: int) -> None:
        self._model = model
        self.n_docs = n_docs
        self._vocab: dict[str, int] = model.vocab_dict

    @classmethod
    def build(cls, corpus_tokens: list[list[str]], k1: float = BM25_K1, b: float = BM25_B, method: str = "lucene"):
        import bm25s

        model = bm25s.BM25(k1=k1, b=b, method=method)
        # bm25s needs at least one token per document; an empty document gets the empty token.
        model.index([t if t else [""] for t in corpus_tokens], show_progress=False)
        return cls(model, len(corpus_tokens))

    def save(self, folder: Path) -> None:
        self._model.save(str(Path(folder) / self.FOLDER), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, n_docs: int, mmap: bool = True) -> "BM25Index":
        import bm25s

        path = Path(folder) / cls.FOLDER
        try:
            model = bm25s.BM25.load(str(path), mmap=mmap, allow_pickle=False)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"BM25 index in {path} is damaged ({exc}); run `rag index --rebuild`") from exc
        got = int(model.scores.get("num_docs", -1))
        if got != n_docs:
            raise IndexCorruptError(
                f"BM25 index has {got} passages but the index lists {n_docs}; run `rag index --rebuild`"
            )
        return cls(model, n_docs)

    def doc_freq(self, term: str) -> int:
        """How many passages contain ``term`` (a stemmed token)."""
        i = self._vocab.get(term)
        if i is None or term == "":
            return 0
        indptr = self._model.scores["indptr"]
        return int(indptr[i + 1] - indptr[i])

    def term_ids(self, query_tokens: list[str]) -> list[int]:
        vocab = self._vocab
        return [vocab[t] for t in query_tokens if t in vocab and t != ""]

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage (zeros when no query term is in the vocabulary)."""
        ids = self.term_ids(query_tokens)
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float32)

    def top(self, query_tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the ``n`` best passages with a positive score, best first."""
        s = self.scores(query_tokens)
        return top_positive(s, n)


def top_positive(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n, scores.shape[0])
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    idx = np.argpartition(-scores, n - 1)[:n] if n < scores.shape[0] else np.arange(scores.shape[0])
    idx = idx[scores[idx] > 0]
    order = np.lexsort((idx, -scores[idx]))
    idx = idx[order]
    return idx.astype(np.int64), scores[idx]
