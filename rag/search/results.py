"""The JSON object of one search, as `rag ask --json` prints it and `rag serve`/`rag mcp` return it."""

from __future__ import annotations

from collections.abc import Sequence

from rag.search.verdict import best_confidence, found, verdict
from rag.types import Hit


def search_result(question: str, mode: str, k: int, index: str, hits: list[Hit], history: Sequence[str] = (),
                  history_answers: Sequence[str | None] | None = None) -> dict:
    """``{question, mode, k, index, history, found, verdict, confidence, hits: [...]}``; each hit as
    :meth:`rag.types.Hit.to_dict`. ``verdict``: "answer" (the documents answer it), "weak" (the best
    passage is related but may not answer it) or "not_found" (not in the documents); ``found``: true
    exactly when the verdict is "answer"; ``confidence``: the verdict's, the best hit confidence.
    ``history_answers`` (the answers shown for the earlier questions) is echoed only when given."""
    out = {"question": question, "mode": mode, "k": k, "index": index, "history": list(history)}
    if history_answers is not None:
        out["history_answers"] = list(history_answers)
    best = best_confidence(hits)
    return {**out, "found": found(hits), "verdict": verdict(hits), "confidence": None if best is None else round(best, 4),
            "hits": [h.to_dict() for h in hits]}
