"""Ranking metrics with the BEIR / pytrec_eval definitions (linear gain, log2 discount)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k: sum of ``rel / log2(rank + 1)`` over the top k, over the same for the ideal order."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sorted((r for r in relevant.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    rel = {d for d, r in relevant.items() if r > 0}
    if not rel:
        return 0.0
    return len(rel.intersection(ranking[:k])) / len(rel)


def mrr_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranking[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative
    (ties count half). Needs both classes."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = sorted(s for s, y in zip(scores, labels) if not y)
    if not pos or not neg:
        raise ValueError("AUROC needs at least one positive and one negative")
    wins = sum(bisect.bisect_left(neg, s) + 0.5 * (bisect.bisect_right(neg, s) - bisect.bisect_left(neg, s))
               for s in pos)
    return wins / (len(pos) * len(neg))


def accuracy_at(probs: Sequence[float], labels: Sequence[bool], threshold: float = 0.5) -> float:
    """The share of cases where ``prob >= threshold`` agrees with the label."""
    if not probs:
        return 0.0
    return sum((p >= threshold) == bool(y) for p, y in zip(probs, labels)) / len(probs)


def oracle_accuracy(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The best accuracy any threshold on ``scores`` reaches (``score >= t`` means positive), the
    threshold chosen with the labels: the ceiling of a score that has no calibrated cut."""
    if not scores:
        return 0.0
    pairs = sorted(zip(scores, labels), key=lambda p: -p[0])
    negatives = sum(1 for _, y in pairs if not y)
    best = correct = negatives  # threshold above every score: all called negative
    i = 0
    while i < len(pairs):  # lower the threshold one distinct score at a time
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            correct += 1 if pairs[j][1] else -1
            j += 1
        best = max(best, correct)
        i = j
    return best / len(pairs)


def expected_calibration_error(probs: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """ECE: over ``bins`` equal-width bins of the probability, the case-weighted mean of
    ``|mean probability - share of positives|`` (a probability of 1.0 falls in the last bin)."""
    if not probs:
        return 0.0
    sums = [[0, 0.0, 0] for _ in range(bins)]  # cases, sum of probabilities, positives
    for p, y in zip(probs, labels):
        b = sums[min(int(p * bins), bins - 1)]
        b[0] += 1
        b[1] += p
        b[2] += bool(y)
    return sum(abs(s / n - k / n) * n for n, s, k in sums if n) / len(probs)
