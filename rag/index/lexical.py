"""BM25 over the terms of :mod:`rag.documents.tokens`: the term weight, the one formula the local
index (:mod:`rag.index.local`) and the Ray shards (:mod:`rag.distributed.shards`) score with, and
exact scores over the live passages of a local index's segments."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from rag.index.segments import LiveSegment

# Chosen on SciFact's train split (bench/tune_fusion.py); bm25s's defaults are k1=1.5, b=0.75.
BM25_K1 = 0.9
BM25_B = 0.75


def term_weights(tf: np.ndarray, doclen: np.ndarray, avgdl: float, idf: float, k1: float = BM25_K1,
                 b: float = BM25_B) -> np.ndarray:
    """BM25's weight of one term in passages with term frequencies ``tf`` and lengths ``doclen`` (the
    one formula the local index and the Ray shards score with)."""
    tf = tf.astype(np.float64)
    return idf * tf / (tf + k1 * (1 - b + b * doclen / avgdl))


def bm25_by_segment(segs: Sequence[LiveSegment], query_tokens: Sequence[str], k1: float = BM25_K1, b: float = BM25_B,
                    extra: Mapping[str, float] | None = None) -> list[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """Exact BM25 (Lucene idf, bm25s's term-frequency part) over the live passages of a version's
    segments: N, document frequencies and the average length count live passages only. Per segment
    with a match: ``(its place in segs, (rows, scores))``, rows ascending, scores of matched rows."""
    weights: dict[str, float] = {}
    for t in query_tokens:  # 1 per occurrence, as in bm25s
        if t:
            weights[t] = weights.get(t, 0) + 1
    for t, w in (extra or {}).items():  # weighted terms (a follow-up's context), added
        if t and w > 0:
            weights[t] = weights.get(t, 0) + float(w)
    n_docs = sum(s.live for s in segs)
    if not weights or n_docs == 0:
        return []
    avgdl = sum(s.live_len for s in segs) / n_docs
    post: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
    df = dict.fromkeys(weights, 0)
    for s in segs:
        per = {}
        for t in weights:
            rows, tf = s.segment.postings(t)
            if len(rows) and len(s.deleted):
                keep = ~s.mask[rows]
                rows, tf = rows[keep], tf[keep]
            if len(rows):
                per[t] = (rows, tf)
                df[t] += len(rows)
        post.append(per)
    idf = {t: math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in weights}
    out = []
    for si, (s, per) in enumerate(zip(segs, post)):
        if not per:
            continue
        doclen = np.asarray(s.segment.doclen)
        all_rows, all_vals = [], []
        for t, (rows, tf) in per.items():
            all_rows.append(rows)
            all_vals.append(weights[t] * term_weights(tf, doclen[rows], avgdl, idf[t], k1, b))
        rows = np.concatenate(all_rows)
        uniq, inv = np.unique(rows, return_inverse=True)
        out.append((si, (uniq, np.bincount(inv, weights=np.concatenate(all_vals), minlength=len(uniq)))))
    return out
