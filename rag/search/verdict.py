"""Whether the documents seem to answer a question: the one rule every interface applies.

Three levels, read from the best confidence among the hits (the probability that a passage answers):

- ``answer``: the documents answer it (confidence >= :data:`THRESHOLD`);
- ``weak``: "May not answer this": the best passage is related but may not answer (between
  :data:`WEAK_THRESHOLD` and :data:`THRESHOLD`). Shown, marked weak: hiding a right answer costs more
  than showing a weak one as weak;
- ``not_found``: "Not in your documents": nothing in them seems to answer it.

``found`` (in JSON, HTTP and MCP) is true exactly for ``answer``. Kept free of numpy and the index, so
that the UI can import it for its first frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from rag.types import CONFIDENCE_THRESHOLD as THRESHOLD, WEAK_CONFIDENCE_THRESHOLD as WEAK_THRESHOLD, Hit

Verdict = Literal["answer", "weak", "not_found"]
# The words every interface shows for each verdict (UI card title, CLI, export, web page).
VERDICT_TEXT: dict[str, str] = {
    "answer": "Answer",
    "weak": "May not answer this",
    "not_found": "Not in your documents",
}


def verdict_line(hits: Iterable[Hit], confidence: bool = True) -> str:
    """The verdict in words with its one confidence, as every interface says it first:
    "Answer · confidence 0.87". The figure is cut, not rounded, to two places, so that it never
    reads 0.50 under "May not answer this"."""
    hits = list(hits)
    best = best_confidence(hits)
    words = VERDICT_TEXT[verdict(hits)]
    return words if best is None or not confidence else f"{words} · confidence {int(best * 100) / 100:.2f}"


def best_confidence(hits: Iterable[Hit]) -> float | None:
    """The highest confidence among ``hits`` (None when none was computed)."""
    values = [h.confidence for h in hits if h.confidence is not None]
    return max(values) if values else None


def verdict(hits: Iterable[Hit]) -> Verdict:
    """The verdict a person reads first (see the module's docstring)."""
    best = best_confidence(hits)
    if best is None:
        return "not_found"
    if best >= THRESHOLD:
        return "answer"
    return "weak" if best >= WEAK_THRESHOLD else "not_found"


def found(hits: Iterable[Hit]) -> bool:
    """Whether the documents seem to answer the question: some hit's confidence reaches :data:`THRESHOLD`."""
    return verdict(hits) == "answer"
