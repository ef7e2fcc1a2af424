"""The BM25 side: a bm25s index on disk over the terms of :mod:`rag.documents.tokens`.

The index is saved by bm25s as ``.npy`` and ``.json`` files with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.errors import IndexCorruptError

# Chosen on SciFact's train split (bench/tune_fusion.py); bm25s's defaults are k1=1.5, b=0.75.
BM25_K1 = 0.9
BM25_B = 0.75


def term_weights(tf: np.ndarray, doclen: np.ndarray, avgdl: float, idf: float, k1: float = BM25_K1,
                 b: float = BM25_B) -> np.ndarray:
    """BM25's weight of one term in passages with term frequencies ``tf`` and lengths ``doclen`` (the
    one formula the local index and the Ray shards score with)."""
    tf = tf.astype(np.float64)
    return idf * tf / (tf + k1 * (1 - b + b * doclen / avgdl))


class BM25Index:
    """BM25 over passages; rows line up with the passages of the index.

    bm25s computes the scores at build time and saves them as a sparse term-by-passage matrix
    (``.npy`` files, no pickle). Searching reads that matrix directly with numpy, so the query
    path needs neither bm25s nor scipy (which cost a quarter second to import).
    """

    FOLDER = "bm25"
    _ARRAYS = ("data", "indices", "indptr")

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, vocab: dict[str, int], n_docs: int,
                 model=None) -> None:
        self._data, self._indices, self._indptr = data, indices, indptr
        self._vocab = vocab
        self.n_docs = n_docs
        self._model = model  # the bm25s model when freshly built (to save it)

    @classmethod
    def build(cls, corpus_tokens: list[list[str]], k1: float = BM25_K1, b: float = BM25_B, method: str = "lucene"):
        import bm25s

        model = bm25s.BM25(k1=k1, b=b, method=method)
        # bm25s needs at least one token per document; an empty document gets the empty token.
        model.index([t if t else [""] for t in corpus_tokens], show_progress=False)
        sc = model.scores
        return cls(sc["data"], sc["indices"], sc["indptr"], model.vocab_dict, len(corpus_tokens), model)

    def save(self, folder: Path) -> None:
        if self._model is None:
            raise ValueError("only a freshly built BM25 index can be saved")
        self._model.save(str(Path(folder) / self.FOLDER), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, n_docs: int, mmap: bool = True) -> "BM25Index":
        path = Path(folder) / cls.FOLDER
        hint = "run `rag index --rebuild`"
        try:
            params = json.loads((path / "params.index.json").read_text(encoding="utf-8"))
            vocab = json.loads((path / "vocab.index.json").read_text(encoding="utf-8"))
            arrays = [
                np.load(path / f"{name}.csc.index.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
                for name in cls._ARRAYS
            ]
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"BM25 index file {Path(exc.filename).name} is missing in {path}; {hint}") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"BM25 index in {path} is damaged ({exc}); {hint}") from None
        data, indices, indptr = arrays
        got = params.get("num_docs") if isinstance(params, dict) else None
        if got != n_docs:
            raise IndexCorruptError(f"BM25 index has {got} passages but the index lists {n_docs}; {hint}")
        if (
            not isinstance(vocab, dict)
            or indptr.ndim != 1
            or len(indptr) not in (len(vocab), len(vocab) + 1)  # bm25s's empty token may lack a column
            or data.shape != indices.shape
            or (len(indptr) and int(indptr[-1]) != len(data))
        ):
            raise IndexCorruptError(f"BM25 index in {path} is inconsistent; {hint}")
        return cls(data, indices, indptr, vocab, n_docs)

    def doc_freq(self, term: str) -> int:
        """How many passages contain ``term`` (a stemmed token)."""
        i = self._vocab.get(term)
        if i is None or term == "" or not 0 <= i < len(self._indptr) - 1:
            return 0
        return int(self._indptr[i + 1] - self._indptr[i])

    def term_ids(self, query_tokens: list[str]) -> list[int]:
        vocab = self._vocab
        n_terms = len(self._indptr) - 1
        return [i for i in (vocab.get(t) for t in query_tokens if t != "") if i is not None and 0 <= i < n_terms]

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage (zeros when no query term is in the vocabulary).

        A term repeated in the question counts once per occurrence, as in bm25s.
        """
        ids = self.term_ids(query_tokens)
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        spans = [(int(self._indptr[t]), int(self._indptr[t + 1])) for t in ids]
        docs = np.concatenate([self._indices[a:b] for a, b in spans])
        vals = np.concatenate([self._data[a:b] for a, b in spans])
        if docs.size and (int(docs.max()) >= self.n_docs or int(docs.min()) < 0):
            raise IndexCorruptError("BM25 index refers to passages that do not exist; run `rag index --rebuild`")
        return np.bincount(docs, weights=vals, minlength=self.n_docs).astype(np.float32)

    def top(self, query_tokens: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and scores of the ``n`` best passages with a positive score, best first."""
        return top_positive(self.scores(query_tokens), n)


def top_positive(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n, scores.shape[0])
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    idx = np.argpartition(-scores, n - 1)[:n] if n < scores.shape[0] else np.arange(scores.shape[0])
    idx = idx[scores[idx] > 0]
    order = np.lexsort((idx, -scores[idx]))
    idx = idx[order]
    return idx.astype(np.int64), scores[idx]
