"""From each side's candidates to one ranking: pure functions, no I/O.

:func:`rank` is the stage: a question's dense ``(scores, positions)`` and BM25 ``(positions,
scores)`` become its ranking in the search mode asked for. Reciprocal rank fusion needs no score
calibration; the weighted forms combine normalized scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


METHODS = ("rrf", "weighted", "zscore", "dbsf")


@dataclass(frozen=True, slots=True)
class FusionParams:
    """How hybrid search combines the dense and BM25 rankings.

    ``method`` is ``"rrf"`` (reciprocal rank fusion with constant ``rrf_k``, the dense list
    weighted by ``dense_weight``) or a convex combination ``alpha * dense + (1 - alpha) * bm25``
    of scores normalized per list: ``"weighted"`` (min-max), ``"zscore"`` (standard scores) or
    ``"dbsf"`` (distribution-based: mean +- 3 standard deviations mapped to [0, 1], clipped).
    ``depth`` candidates are taken from each side.
    """

    # the defaults are the retriever's: z-score, 0.6 dense, 1,000 candidates a side (chosen with
    # bench/fusion_corpora.py on SciFact train and CAsT 2022)
    method: str = "zscore"
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    alpha: float = 0.6
    depth: int = 1000

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion method must be one of {', '.join(METHODS)}, not {self.method!r}")


def fuse(
    params: FusionParams,
    dense: tuple[np.ndarray, np.ndarray],
    lexical: tuple[np.ndarray, np.ndarray],
) -> dict[int, float]:
    """Fuse ``(ids, scores)`` of the dense and BM25 candidates (each best first) as ``params`` says."""
    if params.method == "rrf":
        return rrf([dense[0].tolist(), lexical[0].tolist()], k=params.rrf_k, weights=[params.dense_weight, 1.0])
    return weighted(dense, lexical, alpha=params.alpha, norm=NORMS[params.method])


def rrf(ranked: Sequence[Sequence[int]], k: float = 60.0, weights: Sequence[float] | None = None) -> dict[int, float]:
    """Reciprocal rank fusion: ``sum_i w_i / (k + rank_i(d))`` with ranks from 1."""
    if weights is None:
        weights = [1.0] * len(ranked)
    if len(weights) != len(ranked):
        raise ValueError(f"weights has {len(weights)} entries for {len(ranked)} ranked lists")
    out: dict[int, float] = {}
    for w, ids in zip(weights, ranked):
        for r, doc in enumerate(ids, start=1):
            out[int(doc)] = out.get(int(doc), 0.0) + w / (k + r)
    return out


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale scores to [0, 1]; a constant list becomes all ones."""
    if scores.size == 0:
        return scores.astype(np.float32)
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-12:
        return np.ones_like(scores, dtype=np.float32)
    return ((scores - lo) / (hi - lo)).astype(np.float32)


def zscore(scores: np.ndarray) -> np.ndarray:
    """Standard scores ``(s - mean) / sd``; a constant list becomes all zeros."""
    z = _standard(scores)
    return np.zeros(scores.shape, dtype=np.float32) if z is None else z.astype(np.float32)


def dbsf(scores: np.ndarray) -> np.ndarray:
    """Distribution-based normalization: ``mean - 3 sd`` maps to 0, ``mean + 3 sd`` to 1, clipped
    (the standard score ``z`` becomes ``(z + 3) / 6``).

    Unlike min-max, one outlying score does not squash the rest; a constant list becomes all ones.
    """
    z = _standard(scores)
    if z is None:
        return np.ones(scores.shape, dtype=np.float32)
    return np.clip((z + 3.0) / 6.0, 0.0, 1.0).astype(np.float32)


def _standard(scores: np.ndarray) -> np.ndarray | None:
    """Standard scores in float64; None for an empty or constant list (no spread to divide by)."""
    if scores.size == 0:
        return None
    s = scores.astype(np.float64)
    sd = float(s.std())
    if sd < 1e-12:
        return None
    return (s - s.mean()) / sd


NORMS = {"weighted": minmax, "zscore": zscore, "dbsf": dbsf}


def weighted(
    dense: tuple[np.ndarray, np.ndarray],
    lexical: tuple[np.ndarray, np.ndarray],
    alpha: float = 0.5,
    norm=minmax,
) -> dict[int, float]:
    """Convex combination of normalized scores: ``alpha*dense + (1-alpha)*lexical``.

    Each argument is ``(ids, scores)`` of one retriever's candidates, normalized by ``norm``
    (min-max by default); a candidate missing from one list gets that list's lowest normalized
    score from it (0 for min-max), as if it ranked just below the list's last candidate.
    """
    parts = []
    for ids, s, w in ((dense[0], dense[1], alpha), (lexical[0], lexical[1], 1.0 - alpha)):
        ids = np.asarray(ids, dtype=np.int64)
        v = norm(np.asarray(s, dtype=np.float32)).astype(np.float64)
        parts.append((ids, v, float(v.min()) if v.size else 0.0, w))
    every = np.unique(np.concatenate([p[0] for p in parts]))  # vectorized: a few thousand candidates cost < 1 ms
    total = np.zeros(every.size, dtype=np.float64)
    for ids, v, floor, w in parts:
        got = np.full(every.size, floor, dtype=np.float64)
        if ids.size:
            # a repeated id keeps its last score (as a dict built in list order does)
            last = ids.size - 1 - np.unique(ids[::-1], return_index=True)[1]
            got[np.searchsorted(every, ids[last])] = v[last]
        total += w * got
    return dict(zip(every.tolist(), total.tolist()))


def ranked(fused: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(id, score)`` pairs, ties broken by id for determinism."""
    ids = np.fromiter(fused.keys(), dtype=np.int64, count=len(fused))
    sc = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    order = np.lexsort((ids, -sc))[: max(k, 0)]
    return list(zip(ids[order].tolist(), sc[order].tolist()))


# Chosen on two collections, SciFact train and CAsT 2022 rewrites with SciFact distractors
# (bench/fusion_corpora.py, questions read by query_terms and passages with their title header, as
# the retriever does): the best mean nDCG@10 among settings at or above plain RRF (k=60) on both.
# z-scored convex fusion over the top 1,000 of each side: the standard scores of a deeper list are
# steadier, and a passage that one side ranks a few hundred deep keeps its own score instead of that
# side's floor. 1,000 is the deepest tried (deeper costs query time on a large HNSW index).
# Previous default (300 per side): train 0.732 / CAsT 0.698; docs/retrieval-quality.md has the figures.
DEFAULT_FUSION = FusionParams()


def rank(dense: tuple[np.ndarray, np.ndarray], lex: tuple[np.ndarray, np.ndarray], mode: str, depth: int,
         params: FusionParams = DEFAULT_FUSION) -> list[tuple[int, float]]:
    """The ``depth`` best ``(position, score)`` of one query in ``mode`` ("dense", "bm25" or "hybrid"),
    from its dense ``(scores, positions)`` (-1: no passage) and its lexical ``(positions, scores)``."""
    keep = dense[1] >= 0
    dense_ids, dense_sc = dense[1][keep].astype(np.int64), dense[0][keep]
    if mode == "dense":
        return list(zip(dense_ids.tolist(), dense_sc.tolist()))[:depth]
    if mode == "bm25":
        ids, sc = top_positive(lex, depth)
        return list(zip(ids.tolist(), sc.tolist()))
    return ranked(fuse(params, (dense_ids, dense_sc), top_positive(lex, depth)), depth)


def top_positive(lex: tuple[np.ndarray, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best ``(positions, scores)`` of a lexical result, best first (ties by position)."""
    ids, sc = lex
    if n < len(ids):
        part = np.argpartition(-sc, n - 1)[:n]
        keep = sc >= sc[part].min()  # every tie at the cut, so that ties there also go by position
        ids, sc = ids[keep], sc[keep]
    order = np.lexsort((ids, -sc))[:n]
    return ids[order].astype(np.int64), sc[order]
