"""The BM25 term weight: the one formula the local index (:mod:`rag.index.local`) and the Ray shards
(:mod:`rag.distributed.shards`) score with, over the terms of :mod:`rag.documents.tokens`."""

from __future__ import annotations

import numpy as np

# Chosen on SciFact's train split (bench/tune_fusion.py); bm25s's defaults are k1=1.5, b=0.75.
BM25_K1 = 0.9
BM25_B = 0.75


def term_weights(tf: np.ndarray, doclen: np.ndarray, avgdl: float, idf: float, k1: float = BM25_K1,
                 b: float = BM25_B) -> np.ndarray:
    """BM25's weight of one term in passages with term frequencies ``tf`` and lengths ``doclen`` (the
    one formula the local index and the Ray shards score with)."""
    tf = tf.astype(np.float64)
    return idf * tf / (tf + k1 * (1 - b + b * doclen / avgdl))
