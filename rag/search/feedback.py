"""Pseudo-relevance feedback for the dense side (Rocchio): no I/O, pure numpy.

The query vector is moved toward the mean of the vectors of the first-round best passages, then
normalized again; a second dense search with it finds passages like the ones that matched, which
helps when the question's wording differs from the documents'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FeedbackParams:
    """``beta`` is the weight of the feedback centroid (0 turns feedback off); ``docs`` how many
    first-round passages (of the fused ranking in hybrid mode) make the centroid."""

    beta: float = 0.0
    docs: int = 3

    def __post_init__(self) -> None:
        if self.beta < 0 or self.docs < 1:
            raise ValueError(f"feedback needs beta >= 0 and docs >= 1, not beta={self.beta}, docs={self.docs}")


def rocchio(qvec: np.ndarray, top_vectors: np.ndarray, beta: float) -> np.ndarray:
    """``normalize(q + beta * mean(top_vectors))``; ``q`` itself when there is nothing to add."""
    q = np.asarray(qvec, dtype=np.float32)
    if beta <= 0 or len(top_vectors) == 0:
        return q
    v = q + beta * np.asarray(top_vectors, dtype=np.float32).mean(axis=0)
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else q


DEFAULT_FEEDBACK = FeedbackParams()  # off until chosen by bench/fusion_corpora.py
