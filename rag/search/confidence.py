"""Confidence: the probability that a passage answers a question, the same in every search mode.

A hit's confidence is a logistic model (:class:`Calibration`) over two features of the (question,
passage) pair (:data:`FEATURES`): the cosine of their vectors, and the share of the question's
words (idf-weighted) that the passage contains. It means the same for dense, BM25 and hybrid
results. The model is fitted without user labels when the index is built
(:mod:`rag.indexing.calibration`) and stored as JSON in the version's manifest; this module is the
query-time side: the features and the probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.documents.tokens import tokenize
from rag.types import CONFIDENCE_THRESHOLD

FEATURES = ("cos", "coverage")
CONTEXT_DEPTH = 10  # the nearest passages of a question that a search always looks at
THRESHOLD = CONFIDENCE_THRESHOLD  # below this, the best hit does not seem to answer the question
# 2: claim-like pseudo-questions; 3: more of a pseudo-question's words in the asker's own (rag.indexing.calibration)
CALIBRATION_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
# Words that ask rather than say: they do not count towards a question's coverage by a passage.
QUESTION_WORDS = frozenset(tokenize(
    "what which who whom whose when where why how does do did done doing is are was were be been can could "
    "would should shall may might must many much about true say said tell told know explain describe there "
    "any some other more most very also just whether have has had"
))


@dataclass(frozen=True, slots=True)
class Calibration:
    """A logistic model: ``p = sigmoid(bias + weights . (x - mean) / scale)`` over :data:`FEATURES`."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    passages: int = 0  # live passages when fitted
    positives: int = 0
    negatives: int = 0

    def probability(self, x: np.ndarray) -> np.ndarray:
        z = self.bias + ((np.atleast_2d(x) - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    def to_json(self) -> dict:
        return {"version": CALIBRATION_VERSION, "features": list(FEATURES), "mean": list(self.mean),
                "scale": list(self.scale), "weights": list(self.weights), "bias": self.bias,
                "passages": self.passages, "positives": self.positives, "negatives": self.negatives}

    @classmethod
    def from_json(cls, d) -> "Calibration | None":
        """The stored model, or None when it is missing, of an unknown version or malformed. A stored
        feature that is not in :data:`FEATURES` must have weight 0 (models fitted when more features
        were computed gave the others none); a missing one gets weight 0."""
        try:
            if d.get("version") not in READABLE_VERSIONS:
                return None
            names = tuple(d["features"])
            if len(set(names)) != len(names):
                return None
            got = [tuple(float(v) for v in d[k]) for k in ("mean", "scale", "weights")]
            if any(len(v) != len(names) for v in got) or min(got[1], default=0.0) <= 0:
                return None
            if any(n not in FEATURES and w != 0.0 for n, w in zip(names, got[2])):
                return None
            vals = [tuple(dict(zip(names, v)).get(f, fill) for f in FEATURES) for v, fill in zip(got, (0.0, 1.0, 0.0))]
            return cls(*vals, float(d["bias"]), int(d.get("passages", 0)), int(d.get("positives", 0)),
                       int(d.get("negatives", 0)))
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


# Used for an index built before calibration existed: fitted on the seed article with the bundled
# model (the same procedure as a build's), a reasonable prior for MiniLM-sized English models.
DEFAULT_CALIBRATION = Calibration(mean=(0.44, 0.46), scale=(0.29, 0.38), weights=(1.51, 1.93), bias=0.0)


def term_idf(n: int, df: int) -> float:
    """Confidence's idf of a term in ``df`` of ``n`` passages: a term absent from the index has the largest."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def coverage(idf: dict[str, float], passage_terms: set[str]) -> float:
    """The share of the question's idf mass (``idf``: its terms, question words left out) that the
    passage's terms hold; one or two words matched say little, so fewer than three weigh less."""
    total = sum(idf.values())
    share = sum(v for t, v in idf.items() if t in passage_terms) / total if total > 0 else 0.0
    return share * min(1.0, len(idf) / 3)


def question_idf(terms: Sequence[str], idf: Callable[[str], float]) -> dict[str, float]:
    """The question's terms that count towards coverage (question words left out), with their idf."""
    return {t: idf(t) for t in set(terms) - QUESTION_WORDS}


def features(cos: float, idf: dict[str, float], passage_text: str) -> np.ndarray:
    """The feature vector (:data:`FEATURES`) of one passage for a question."""
    return np.array([cos, coverage(idf, set(tokenize(passage_text)))], dtype=np.float64)


def hit_confidences(calibration: Calibration, qvec: np.ndarray, terms: Sequence[str], vectors: Sequence[np.ndarray],
                    texts: Sequence[str], idf: Callable[[str], float]) -> list[float]:
    """The confidence of each hit (its vector and text) for a question (its vector and terms);
    ``idf(term)``: confidence's idf in the index (:func:`term_idf`)."""
    if not len(texts):
        return []
    q_idf = question_idf(terms, idf)
    x = np.vstack([features(float(np.dot(v, qvec)), q_idf, t) for v, t in zip(vectors, texts)])
    return [float(p) for p in calibration.probability(x).tolist()]
