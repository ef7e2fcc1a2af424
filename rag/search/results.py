"""The JSON object of one search, as `rag ask --json` prints it and `rag serve`/`rag mcp` return it."""

from __future__ import annotations

from collections.abc import Sequence

from rag.search.verdict import found
from rag.types import Hit


def search_result(question: str, mode: str, k: int, index: str, hits: list[Hit], history: Sequence[str] = (),
                  history_answers: Sequence[str | None] | None = None) -> dict:
    """``{question, mode, k, index, history, found, hits: [...]}``; each hit as :meth:`rag.types.Hit.to_dict`;
    ``found``: whether some hit's confidence reaches the threshold (the documents seem to answer).
    ``history_answers`` (the answers shown for the earlier questions) is echoed only when given."""
    out = {"question": question, "mode": mode, "k": k, "index": index, "history": list(history)}
    if history_answers is not None:
        out["history_answers"] = list(history_answers)
    return {**out, "found": found(hits), "hits": [h.to_dict() for h in hits]}
