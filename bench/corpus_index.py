"""A benchmark's own corpus in rag's own index: a :class:`rag.index.local.LocalIndex` of given token
lists (and vectors; 1-d zeros when only BM25 is wanted, so nothing is embedded), searched with
``dense_positions`` and ``lexical_positions`` as the retriever searches, rankings cut with
``rag.search.fusion.ranked``. For the benchmarks that score corpora of their own (a grid of k1 and
b, synthetic text, a mixed collection).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.index.backend import Record
from rag.index.lexical import BM25_B, BM25_K1
from rag.index.local import LocalIndex
from rag.search.fusion import ranked

EXACT = 1 << 62  # hnsw_threshold: dense search stays exact (flat), as at the sizes measured here


def write(folder: Path, token_lists: Sequence[list[str]], vectors: np.ndarray | None = None) -> None:
    """A new index in ``folder`` whose passage i holds ``token_lists[i]`` (and ``vectors[i]``;
    its payload says i)."""
    vecs = np.zeros((len(token_lists), 1), dtype=np.float32) if vectors is None else np.asarray(vectors, np.float32)
    with LocalIndex.open(folder, writable=True, dim=vecs.shape[1], hnsw_threshold=EXACT, fresh=True) as w:
        w.upsert(Record(str(i), vecs[i], list(tokens), {"row": i}) for i, tokens in enumerate(token_lists))
        w.commit()


class CorpusIndex:
    """An index written by :func:`write`, open for reading; rankings are of the corpus's rows."""

    def __init__(self, folder: Path) -> None:
        self.index = LocalIndex.open(folder)
        self.rows = np.array([self.index.payload_at(p)["row"] for p in range(self.index.count())], dtype=np.int64)

    def lexical(self, query_tokens: list[str], n: int, k1: float = BM25_K1,
                b: float = BM25_B) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the ``n`` best passages by BM25 with a positive score, best first."""
        pos, sc = self.index.lexical_positions(query_tokens, k1=k1, b=b)
        best = ranked(dict(zip(self.rows[pos].tolist(), sc.tolist())), n)
        return np.array([r for r, _ in best], dtype=np.int64), np.array([s for _, s in best], dtype=np.float32)

    def dense(self, query_vectors: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: rows and inner products of the ``n`` nearest passages, best first."""
        sc, pos = self.index.dense_positions(query_vectors, n)
        return [(self.rows[p[p >= 0]], s[p >= 0]) for s, p in zip(sc, pos)]

    def close(self) -> None:
        self.index.close()
